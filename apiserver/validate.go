package apiserver

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/haul-dev/haul/internal/rollup"
)

// Query validation (docs/api.md#14-paging-sorting-search-list-endpoints, 1.5 and the parameter table of each
// endpoint in section 3). Every parse function checks the endpoint's
// parameters in the order its table lists them and returns the first
// failure; unknown parameters are ignored and a repeated parameter takes its
// last value. The functions are pure: they read only url.Values.

// The messages of docs/api.md#15-validation-and-errors, after "<param>: ".
const (
	msgRequired       = "Field required"
	msgDateFormat     = "Value error, Date must be in YYYY-MM-DD format"
	msgEndBeforeStart = "Value error, End date must be after start date"
	msgNotInteger     = "Input should be a valid integer, unable to parse string as an integer"
	msgIntervalType   = "Input should be 'week', 'month' or 'year'"
	msgSortOrder      = "Input should be 'asc' or 'desc'"
	msgSearchLength   = "String should have at most 100 characters"
)

// Bounds and defaults of the integer and string parameters (docs/api.md#14-paging-sorting-search-list-endpoints,
// 3.1, 3.9).
const (
	defaultPage        = 1
	maxPage            = 1_000_000_000
	defaultPageSize    = 10
	maxPageSize        = 100
	defaultPeriodsBack = 1
	maxPeriodsBack     = 100
	defaultTopLimit    = 10
	maxTopLimit        = 100
	maxSearchRunes     = 100
)

// parseWindow validates start and end (docs/api.md#12-windows-and-dates, section 2): both
// required dates, end not before start.
func parseWindow(q url.Values) (rollup.Window, *ParamError) {
	start, perr := queryDate(q, "start")
	if perr != nil {
		return rollup.Window{}, perr
	}
	end, perr := queryDate(q, "end")
	if perr != nil {
		return rollup.Window{}, perr
	}
	if end.Before(start) {
		return rollup.Window{}, &ParamError{Param: "end", Message: msgEndBeforeStart}
	}
	return rollup.Window{Start: start, End: end}, nil
}

// parseDashboard validates /api/dashboard's parameters (docs/api.md#31-get-apidashboard): start,
// end, interval_type (required, exactly week, month or year), periods_back
// (default 1, 1–100).
func parseDashboard(q url.Values) (DashboardParams, *ParamError) {
	w, perr := parseWindow(q)
	if perr != nil {
		return DashboardParams{}, perr
	}
	it, ok := queryLast(q, "interval_type")
	if !ok {
		return DashboardParams{}, &ParamError{Param: "interval_type", Message: msgRequired}
	}
	if it != "week" && it != "month" && it != "year" {
		return DashboardParams{}, &ParamError{Param: "interval_type", Message: msgIntervalType}
	}
	n, perr := queryCount(q, "periods_back", defaultPeriodsBack, maxPeriodsBack)
	if perr != nil {
		return DashboardParams{}, perr
	}
	return DashboardParams{Window: w, IntervalType: it, PeriodsBack: n}, nil
}

// parseList validates /api/shipments/routes's parameters (docs/api.md#33-get-apishipmentsroutes), which
// has no dates (start and end, if sent, are ignored).
//
// Order: page, page_size, sort_order, search, sort_by, as
// docs/api.md#33-get-apishipmentsroutes says: the contract this follows
// listed sort_by on a row of its own after the others, and the reference
// checked it only when running the query, after every other parameter had
// been validated (D1). The windowed lists (3.6–3.8) check sort_by before
// sort_order. The order only matters when sort_by and sort_order or search
// are both invalid.
func parseList(q url.Values, spec sortSpec) (ListParams, *ParamError) {
	var p ListParams
	var perr *ParamError
	if p.Page, perr = queryCount(q, "page", defaultPage, maxPage); perr != nil {
		return ListParams{}, perr
	}
	if p.PageSize, perr = queryCount(q, "page_size", defaultPageSize, maxPageSize); perr != nil {
		return ListParams{}, perr
	}
	if p.Desc, perr = querySortOrder(q); perr != nil {
		return ListParams{}, perr
	}
	if p.Search, perr = querySearch(q); perr != nil {
		return ListParams{}, perr
	}
	if p.SortBy, perr = querySortBy(q, spec); perr != nil {
		return ListParams{}, perr
	}
	return p, nil
}

// parseWindowList validates the parameters of the windowed list endpoints
// (docs/api.md#36-get-apiroutereliability to 3.8), in their table's order: start, end, page, page_size,
// sort_by, sort_order, search.
func parseWindowList(q url.Values, spec sortSpec) (rollup.Window, ListParams, *ParamError) {
	w, perr := parseWindow(q)
	if perr != nil {
		return rollup.Window{}, ListParams{}, perr
	}
	var p ListParams
	if p.Page, perr = queryCount(q, "page", defaultPage, maxPage); perr != nil {
		return rollup.Window{}, ListParams{}, perr
	}
	if p.PageSize, perr = queryCount(q, "page_size", defaultPageSize, maxPageSize); perr != nil {
		return rollup.Window{}, ListParams{}, perr
	}
	if p.SortBy, perr = querySortBy(q, spec); perr != nil {
		return rollup.Window{}, ListParams{}, perr
	}
	if p.Desc, perr = querySortOrder(q); perr != nil {
		return rollup.Window{}, ListParams{}, perr
	}
	if p.Search, perr = querySearch(q); perr != nil {
		return rollup.Window{}, ListParams{}, perr
	}
	return w, p, nil
}

// parseTopPerforming validates /api/route/top-performing's parameters
// (docs/api.md#39-get-apiroutetop-performing): start, end, limit (default 10, 1–100).
func parseTopPerforming(q url.Values) (rollup.Window, int, *ParamError) {
	w, perr := parseWindow(q)
	if perr != nil {
		return rollup.Window{}, 0, perr
	}
	limit, perr := queryCount(q, "limit", defaultTopLimit, maxTopLimit)
	if perr != nil {
		return rollup.Window{}, 0, perr
	}
	return w, limit, nil
}

// queryLast is the last value of a parameter, and whether it was sent.
func queryLast(q url.Values, name string) (string, bool) {
	vs := q[name]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// queryDate reads a required date: a 4-digit year, a 1–2 digit month and a
// 1–2 digit day, ASCII digits separated by '-', that name a real day of the
// proleptic Gregorian calendar from year 1 (year 0000 does not exist there,
// nor in the reference's Python dates). Empty is malformed. The result is
// at UTC midnight.
func queryDate(q url.Values, name string) (time.Time, *ParamError) {
	s, ok := queryLast(q, name)
	if !ok {
		return time.Time{}, &ParamError{Param: name, Message: msgRequired}
	}
	t, ok := parseQueryDate(s)
	if !ok {
		return time.Time{}, &ParamError{Param: name, Message: msgDateFormat}
	}
	return t, nil
}

func parseQueryDate(s string) (time.Time, bool) {
	ys, rest, ok := strings.Cut(s, "-")
	if !ok {
		return time.Time{}, false
	}
	ms, ds, ok := strings.Cut(rest, "-")
	if !ok {
		return time.Time{}, false
	}
	y, ok := asciiDigits(ys, 4, 4)
	if !ok || y < 1 {
		return time.Time{}, false
	}
	m, ok := asciiDigits(ms, 1, 2)
	if !ok || m < 1 || m > 12 {
		return time.Time{}, false
	}
	d, ok := asciiDigits(ds, 1, 2)
	if !ok || d < 1 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // time.Date normalised an impossible day (02-30 -> 03-01)
		return time.Time{}, false
	}
	return t, true
}

// asciiDigits parses s as minLen to maxLen ASCII digits (no sign, no spaces).
func asciiDigits(s string, minLen, maxLen int) (int, bool) {
	if len(s) < minLen || len(s) > maxLen {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// queryCount reads an optional integer in [1, hi] (every integer parameter
// of the contract has the minimum 1), def when absent. The value is an
// optional '+' or '-' followed by ASCII digits, nothing else (no spaces, no
// '_', no decimal point; empty is invalid). A value too large for int64 is
// reported as out of range by its sign, never as unparsable, and never
// panics.
func queryCount(q url.Values, name string, def, hi int) (int, *ParamError) {
	const lo = 1
	s, ok := queryLast(q, name)
	if !ok {
		return def, nil
	}
	body := s
	if body != "" && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	if body == "" {
		return 0, &ParamError{Param: name, Message: msgNotInteger}
	}
	for i := 0; i < len(body); i++ {
		if body[i] < '0' || body[i] > '9' {
			return 0, &ParamError{Param: name, Message: msgNotInteger}
		}
	}
	// s is now a sign and ASCII digits, which ParseInt accepts ("+5", "-0",
	// leading zeros); it can fail only with a range error, and then returns
	// the int64 bound of the value's sign, which is out of [lo, hi] too.
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, &ParamError{Param: name, Message: msgNotInteger}
	}
	if n < lo {
		return 0, &ParamError{Param: name, Message: "Input should be greater than or equal to " + strconv.Itoa(lo)}
	}
	if n > int64(hi) {
		return 0, &ParamError{Param: name, Message: "Input should be less than or equal to " + strconv.Itoa(hi)}
	}
	return int(n), nil
}

// querySortBy reads sort_by: absent or empty is the endpoint's default;
// otherwise one of its whitelisted fields, compared ASCII case-insensitively
// (the whitelists are ASCII, so a non-ASCII letter that Unicode folds to an
// ASCII one, such as the Kelvin sign, does not match) and returned in its
// whitelisted spelling.
func querySortBy(q url.Values, spec sortSpec) (string, *ParamError) {
	s, _ := queryLast(q, "sort_by")
	if s == "" {
		return spec.defaultSort, nil
	}
	for _, f := range spec.fields {
		if asciiEqualFold(s, f) {
			return f, nil
		}
	}
	return "", &ParamError{Param: "sort_by", Message: inputShouldBe(spec.fields)}
}

// querySortOrder reads sort_order: absent or empty is desc; otherwise asc or
// desc, ASCII case-insensitively. It returns whether the order is
// descending.
func querySortOrder(q url.Values) (bool, *ParamError) {
	s, _ := queryLast(q, "sort_order")
	switch {
	case s == "" || asciiEqualFold(s, "desc"):
		return true, nil
	case asciiEqualFold(s, "asc"):
		return false, nil
	}
	return false, &ParamError{Param: "sort_order", Message: msgSortOrder}
}

// querySearch reads search: trimmed of surrounding (Unicode) whitespace, at
// most 100 characters (runes, not bytes) after trimming; empty or blank is
// no filter. Bytes that are not UTF-8 each become U+FFFD first (as Python's
// parse_qsl, under the reference, decoded them), so the term is always
// valid UTF-8 and each such byte counts as one character. The
// term is otherwise kept literally ('%', '_' and '\' included).
func querySearch(q url.Values) (string, *ParamError) {
	s, _ := queryLast(q, "search")
	if !utf8.ValidString(s) {
		var b strings.Builder
		for _, r := range s { // range yields utf8.RuneError for each invalid byte
			b.WriteRune(r)
		}
		s = b.String()
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxSearchRunes {
		return "", &ParamError{Param: "search", Message: msgSearchLength}
	}
	return s, nil
}

// inputShouldBe is the 400 message for a value outside a list of choices:
// "Input should be 'a', 'b' or 'c'".
func inputShouldBe(choices []string) string {
	var b strings.Builder
	b.WriteString("Input should be ")
	for i, c := range choices {
		switch {
		case i == 0:
		case i == len(choices)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString("'" + c + "'")
	}
	return b.String()
}

// asciiEqualFold reports whether s and t are equal under ASCII case folding
// (non-ASCII bytes must be equal).
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lowerASCII(t[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
