package apiserver

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/haul-dev/haul/internal/rollup"
)

// valQuery builds url.Values from name, value pairs, in order, so a name may
// repeat.
func valQuery(kv ...string) url.Values {
	if len(kv)%2 != 0 {
		panic("valQuery: odd number of arguments")
	}
	q := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return q
}

// valWindow is the window [start, end] of two YYYY-MM-DD dates.
func valWindow(start, end string) rollup.Window {
	return rollup.Window{Start: valDay(start), End: valDay(end)}
}

func valDay(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// valCheckUTCMidnight fails unless w's ends are at UTC midnight (cmp compares
// times with Equal, which ignores the location).
func valCheckUTCMidnight(t *testing.T, w rollup.Window) {
	t.Helper()
	for _, d := range []time.Time{w.Start, w.End} {
		if d.Location() != time.UTC || d.Hour() != 0 || d.Minute() != 0 || d.Second() != 0 || d.Nanosecond() != 0 {
			t.Errorf("date %v is not at UTC midnight", d)
		}
	}
}

func valErr(param, msg string) *ParamError { return &ParamError{Param: param, Message: msg} }

// The whole 400 messages for sort_by, written out from docs/api.md#33-get-apishipmentsroutes and
// 3.6–3.8 (not derived from params.go, so the two are checked against each
// other).
const (
	valShipmentRoutesSortMsg = "Input should be 'origin', 'destination', 'total_trips', 'avg_delivery_time', " +
		"'min_delivery_time', 'max_delivery_time', 'total_cost', 'avg_cost', 'total_weight', 'unique_vehicles' or " +
		"'cost_per_trip'"
	valReliabilitySortMsg = "Input should be 'origin', 'destination', 'total_deliveries', 'avg_delivery_time', " +
		"'delivery_time_variation', 'reliability_score' or 'on_time_delivery_rate'"
	valCostValueSortMsg = "Input should be 'origin', 'destination', 'total_shipments', 'avg_shipment_weight', " +
		"'avg_cost', 'cost_per_kg', 'value_score' or 'value_category'"
	valOptimizationSortMsg = "Input should be 'origin', 'destination', 'total_shipments', 'avg_delivery_time', " +
		"'avg_cost', 'avg_weight', 'total_cost', 'total_weight', 'cost_time_efficiency' or " +
		"'optimization_recommendation'"
)

const (
	valThirtyDigits    = "123456789012345678901234567890"
	valTooBigForUint64 = "99999999999999999999" // 20 digits, > MaxUint64
)

// Hostile and malformed dates: each is a 400 with the date message.
var valMalformedDates = []string{
	"",
	" ",
	"2024-13-01",
	"2024-00-10",
	"2024-01-00",
	"2024-01-32",
	"2023-02-29",
	"2024-04-31",
	"24-01-05",
	"024-01-05",
	"02024-01-05",
	"2024-001-05",
	"2024-01-005",
	"2024-01-05T00:00:00",
	"2024-01-05T00:00:00Z",
	"2024-01-05 ",
	" 2024-01-05",
	"2024-01- 5",
	"2024- 1-05",
	"2024-01-+5",
	"+2024-01-05",
	"-2024-01-05",
	"2024/01/05",
	"20240105",
	"2024-01",
	"2024-01-05-01",
	"2024--1-05",
	"2024-1-",
	"0000-01-01",
	"２０２４-01-05", // fullwidth digits
	"2024-01-0٥", // Arabic-Indic digit
	"2024-01-05\x00",
	"1' OR '1'='1",
	"today",
}

func TestParseWindow(t *testing.T) {
	tests := []valCase[rollup.Window]{
		{name: "valid", q: valQuery("start", "2024-01-01", "end", "2024-01-31"),
			want: valWindow("2024-01-01", "2024-01-31")},
		{name: "end equal to start", q: valQuery("start", "2024-01-05", "end", "2024-01-05"),
			want: valWindow("2024-01-05", "2024-01-05")},
		{name: "one-digit month and day", q: valQuery("start", "2024-1-5", "end", "2024-2-09"),
			want: valWindow("2024-01-05", "2024-02-09")},
		{name: "leap day", q: valQuery("start", "2024-02-29", "end", "2024-02-29"),
			want: valWindow("2024-02-29", "2024-02-29")},
		{name: "extreme years", q: valQuery("start", "0001-01-01", "end", "9999-12-31"),
			want: valWindow("0001-01-01", "9999-12-31")},
		{name: "unknown params ignored", q: valQuery("foo", "bar", "page", "abc", "start", "2024-01-01", "end", "2024-01-02"),
			want: valWindow("2024-01-01", "2024-01-02")},
		{name: "repeated start takes the last", q: valQuery("start", "2020-01-01", "start", "2024-01-01", "end", "2024-01-02"),
			want: valWindow("2024-01-01", "2024-01-02")},
		{name: "repeated start, bad then good", q: valQuery("start", "bad", "start", "2024-01-01", "end", "2024-01-02"),
			want: valWindow("2024-01-01", "2024-01-02")},

		{name: "no params", q: valQuery(), wantErr: valErr("start", "Field required")},
		{name: "start absent", q: valQuery("end", "2024-01-02"), wantErr: valErr("start", "Field required")},
		{name: "end absent", q: valQuery("start", "2024-01-02"), wantErr: valErr("end", "Field required")},
		{name: "start absent, end malformed", q: valQuery("end", "x"), wantErr: valErr("start", "Field required")},
		{name: "start malformed, end absent", q: valQuery("start", "x"),
			wantErr: valErr("start", "Value error, Date must be in YYYY-MM-DD format")},
		{name: "both malformed", q: valQuery("start", "2024-13-01", "end", "2024-13-02"),
			wantErr: valErr("start", "Value error, Date must be in YYYY-MM-DD format")},
		{name: "end malformed", q: valQuery("start", "2024-01-01", "end", "2024-02-30"),
			wantErr: valErr("end", "Value error, Date must be in YYYY-MM-DD format")},
		{name: "repeated start, good then bad", q: valQuery("start", "2024-01-01", "start", "bad", "end", "2024-01-02"),
			wantErr: valErr("start", "Value error, Date must be in YYYY-MM-DD format")},
		{name: "end before start (docs/api.md#15-validation-and-errors example)", q: valQuery("start", "2024-01-01", "end", "2023-12-31"),
			wantErr: valErr("end", "Value error, End date must be after start date")},
		{name: "end one day before start", q: valQuery("start", "2024-3-1", "end", "2024-02-29"),
			wantErr: valErr("end", "Value error, End date must be after start date")},
	}
	for _, d := range valMalformedDates {
		tests = append(tests,
			valCase[rollup.Window]{name: "start " + d, q: valQuery("start", d, "end", "2024-01-01"),
				wantErr: valErr("start", "Value error, Date must be in YYYY-MM-DD format")},
			valCase[rollup.Window]{name: "end " + d, q: valQuery("start", "2024-01-01", "end", d),
				wantErr: valErr("end", "Value error, Date must be in YYYY-MM-DD format")},
		)
	}
	valRun(t, "parseWindow", parseWindow, func(w rollup.Window) rollup.Window { return w }, tests)
}

func TestParseDashboard(t *testing.T) {
	base := []string{"start", "2024-01-07", "end", "2024-01-13"}
	q := func(kv ...string) url.Values { return valQuery(append(append([]string{}, base...), kv...)...) }
	w := valWindow("2024-01-07", "2024-01-13")
	tests := []valCase[DashboardParams]{
		{name: "week, default periods_back", q: q("interval_type", "week"),
			want: DashboardParams{Window: w, IntervalType: "week", PeriodsBack: 1}},
		{name: "month", q: q("interval_type", "month", "periods_back", "12"),
			want: DashboardParams{Window: w, IntervalType: "month", PeriodsBack: 12}},
		{name: "year, periods_back max", q: q("interval_type", "year", "periods_back", "100"),
			want: DashboardParams{Window: w, IntervalType: "year", PeriodsBack: 100}},
		{name: "periods_back with plus sign", q: q("interval_type", "week", "periods_back", "+5"),
			want: DashboardParams{Window: w, IntervalType: "week", PeriodsBack: 5}},
		{name: "periods_back with leading zeros", q: q("interval_type", "week", "periods_back", "007"),
			want: DashboardParams{Window: w, IntervalType: "week", PeriodsBack: 7}},
		{name: "repeated interval_type takes the last", q: q("interval_type", "year", "interval_type", "week"),
			want: DashboardParams{Window: w, IntervalType: "week", PeriodsBack: 1}},
		{name: "repeated periods_back takes the last", q: q("interval_type", "week", "periods_back", "abc", "periods_back", "3"),
			want: DashboardParams{Window: w, IntervalType: "week", PeriodsBack: 3}},

		{name: "start absent", q: valQuery("end", "2024-01-13", "interval_type", "week"),
			wantErr: valErr("start", "Field required")},
		{name: "start malformed before interval_type absent", q: valQuery("start", "2024-1-32", "end", "2024-01-13"),
			wantErr: valErr("start", "Value error, Date must be in YYYY-MM-DD format")},
		{name: "end before start before interval_type bad",
			q:       valQuery("start", "2024-01-13", "end", "2024-01-07", "interval_type", "day", "periods_back", "0"),
			wantErr: valErr("end", "Value error, End date must be after start date")},
		{name: "interval_type absent", q: q(), wantErr: valErr("interval_type", "Field required")},
		{name: "interval_type absent before periods_back bad", q: q("periods_back", "0"),
			wantErr: valErr("interval_type", "Field required")},
		{name: "interval_type empty", q: q("interval_type", ""),
			wantErr: valErr("interval_type", "Input should be 'week', 'month' or 'year'")},
		{name: "interval_type bad before periods_back bad", q: q("interval_type", "day", "periods_back", "x"),
			wantErr: valErr("interval_type", "Input should be 'week', 'month' or 'year'")},
		{name: "periods_back zero", q: q("interval_type", "week", "periods_back", "0"),
			wantErr: valErr("periods_back", "Input should be greater than or equal to 1")},
		{name: "periods_back minus zero", q: q("interval_type", "week", "periods_back", "-0"),
			wantErr: valErr("periods_back", "Input should be greater than or equal to 1")},
		{name: "periods_back negative", q: q("interval_type", "week", "periods_back", "-3"),
			wantErr: valErr("periods_back", "Input should be greater than or equal to 1")},
		{name: "periods_back above max", q: q("interval_type", "week", "periods_back", "101"),
			wantErr: valErr("periods_back", "Input should be less than or equal to 100")},
		{name: "periods_back 30 digits", q: q("interval_type", "week", "periods_back", valThirtyDigits),
			wantErr: valErr("periods_back", "Input should be less than or equal to 100")},
		{name: "periods_back minus 30 digits", q: q("interval_type", "week", "periods_back", "-"+valThirtyDigits),
			wantErr: valErr("periods_back", "Input should be greater than or equal to 1")},
		{name: "periods_back empty", q: q("interval_type", "week", "periods_back", ""),
			wantErr: valErr("periods_back", "Input should be a valid integer, unable to parse string as an integer")},
		{name: "periods_back decimal", q: q("interval_type", "week", "periods_back", "1.0"),
			wantErr: valErr("periods_back", "Input should be a valid integer, unable to parse string as an integer")},
	}
	for _, it := range []string{"Week", "WEEK", "MONTH", "Year", " week", "week ", "weekly", "day", "quarter", "week;", "wееk"} {
		tests = append(tests, valCase[DashboardParams]{name: "interval_type " + it, q: q("interval_type", it),
			wantErr: valErr("interval_type", "Input should be 'week', 'month' or 'year'")})
	}
	for _, c := range valIntCases("1", "100") {
		tt := valCase[DashboardParams]{name: "periods_back " + c.value, q: q("interval_type", "month", "periods_back", c.value),
			want: DashboardParams{Window: w, IntervalType: "month", PeriodsBack: c.want}}
		if c.wantMsg != "" {
			tt.want, tt.wantErr = DashboardParams{}, valErr("periods_back", c.wantMsg)
		}
		tests = append(tests, tt)
	}
	valRun(t, "parseDashboard", parseDashboard, func(p DashboardParams) rollup.Window { return p.Window }, tests)
}

// valCase is a query and what a parse function returns for it: a result, or
// an error (and the zero result).
type valCase[T any] struct {
	name    string
	q       url.Values
	want    T
	wantErr *ParamError
}

// valRun runs parse, named fn in messages, on each case's query, and checks
// that window(result) is whole UTC days when parse returns no error.
func valRun[T any](t *testing.T, fn string, parse func(url.Values) (T, *ParamError), window func(T) rollup.Window, tests []valCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotErr := parse(tt.q)
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("%s(%v) error (-want +got):\n%s", fn, tt.q, diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s(%v) (-want +got):\n%s", fn, tt.q, diff)
			}
			if gotErr == nil {
				valCheckUTCMidnight(t, window(got))
			}
		})
	}
}

// valIntCase is one value of an integer parameter and its expected outcome.
type valIntCase struct {
	value   string
	want    int
	wantMsg string // empty: valid
}

const valMsgInt = "Input should be a valid integer, unable to parse string as an integer"

// valIntCases are the hostile and boundary values of an integer parameter
// with the given bounds.
func valIntCases(lo, hi string) []valIntCase {
	ge := "Input should be greater than or equal to " + lo
	le := "Input should be less than or equal to " + hi
	return []valIntCase{
		{value: "+5", want: 5},
		{value: "05", want: 5},
		{value: lo, want: valAtoi(lo)},
		{value: hi, want: valAtoi(hi)},
		{value: "0", wantMsg: ge},
		{value: "-0", wantMsg: ge},
		{value: "+0", wantMsg: ge},
		{value: "-1", wantMsg: ge},
		{value: "-" + valThirtyDigits, wantMsg: ge},
		{value: "-" + valTooBigForUint64, wantMsg: ge},
		{value: "-9223372036854775808", wantMsg: ge}, // MinInt64
		{value: "-9223372036854775809", wantMsg: ge}, // MinInt64 - 1
		{value: hi + "1", wantMsg: le},
		{value: "9223372036854775807", wantMsg: le}, // MaxInt64
		{value: "9223372036854775808", wantMsg: le}, // MaxInt64 + 1
		{value: valTooBigForUint64, wantMsg: le},
		{value: valThirtyDigits, wantMsg: le},
		{value: "+" + valThirtyDigits, wantMsg: le},
		{value: "0000000000000000000000000000005", want: 5},
		{value: "", wantMsg: valMsgInt},
		{value: "+", wantMsg: valMsgInt},
		{value: "-", wantMsg: valMsgInt},
		{value: "+-5", wantMsg: valMsgInt},
		{value: "--5", wantMsg: valMsgInt},
		{value: " 5 ", wantMsg: valMsgInt},
		{value: " 5", wantMsg: valMsgInt},
		{value: "5 ", wantMsg: valMsgInt},
		{value: "5.0", wantMsg: valMsgInt},
		{value: "5.", wantMsg: valMsgInt},
		{value: "1_000", wantMsg: valMsgInt},
		{value: "1,000", wantMsg: valMsgInt},
		{value: "1e2", wantMsg: valMsgInt},
		{value: "0x10", wantMsg: valMsgInt},
		{value: "0b1", wantMsg: valMsgInt},
		{value: "５", wantMsg: valMsgInt}, // fullwidth digit
		{value: "٥", wantMsg: valMsgInt}, // Arabic-Indic digit
		{value: "5\x00", wantMsg: valMsgInt},
		{value: "abc", wantMsg: valMsgInt},
		{value: "1; DROP TABLE shipments", wantMsg: valMsgInt},
		{value: "NaN", wantMsg: valMsgInt},
		{value: "Infinity", wantMsg: valMsgInt},
		{value: "true", wantMsg: valMsgInt},
	}
}

func valAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestParseTopPerforming(t *testing.T) {
	w := valWindow("2024-01-01", "2024-12-31")
	type out struct {
		W     rollup.Window
		Limit int
		Err   *ParamError
	}
	tests := []struct {
		name string
		q    url.Values
		want out
	}{
		{name: "default limit", q: valQuery("start", "2024-01-01", "end", "2024-12-31"), want: out{W: w, Limit: 10}},
		{name: "client's request", q: valQuery("start", "2024-01-01", "end", "2024-12-31", "limit", "10"), want: out{W: w, Limit: 10}},
		{name: "repeated limit", q: valQuery("limit", "500", "start", "2024-01-01", "end", "2024-12-31", "limit", "3"),
			want: out{W: w, Limit: 3}},
		{name: "start absent before limit bad", q: valQuery("end", "2024-12-31", "limit", "0"),
			want: out{Err: valErr("start", "Field required")}},
		{name: "start malformed before limit bad", q: valQuery("start", "2024-02-30", "end", "2024-12-31", "limit", "x"),
			want: out{Err: valErr("start", "Value error, Date must be in YYYY-MM-DD format")}},
		{name: "end before start before limit bad", q: valQuery("start", "2024-12-31", "end", "2024-01-01", "limit", "0"),
			want: out{Err: valErr("end", "Value error, End date must be after start date")}},
	}
	for _, c := range valIntCases("1", "100") {
		tt := struct {
			name string
			q    url.Values
			want out
		}{name: "limit " + c.value, q: valQuery("start", "2024-01-01", "end", "2024-12-31", "limit", c.value),
			want: out{W: w, Limit: c.want}}
		if c.wantMsg != "" {
			tt.want = out{Err: valErr("limit", c.wantMsg)}
		}
		tests = append(tests, tt)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got out
			got.W, got.Limit, got.Err = parseTopPerforming(tt.q)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseTopPerforming(%v) (-want +got):\n%s", tt.q, diff)
			}
			if got.Err == nil {
				valCheckUTCMidnight(t, got.W)
			}
		})
	}
}

// valListCase is a query of a list endpoint and its expected ListParams or
// error.
type valListCase struct {
	name    string
	q       url.Values
	want    ListParams
	wantErr *ParamError
}

// valListDefaults returns the default ListParams of spec with changes applied.
func valListDefaults(spec sortSpec, change func(*ListParams)) ListParams {
	p := ListParams{Page: 1, PageSize: 10, SortBy: spec.defaultSort, Desc: true}
	if change != nil {
		change(&p)
	}
	return p
}

// valCommonListCases are the cases shared by 3.3 and 3.6–3.8: every paging,
// sorting and search rule of docs/api.md#14-paging-sorting-search-list-endpoints, with the parameters (kv) the
// endpoint needs before them (start and end for 3.6–3.8). spec is the
// endpoint's whitelist and sortMsg its sort_by message.
func valCommonListCases(spec sortSpec, sortMsg string, kv ...string) []valListCase {
	q := func(more ...string) url.Values { return valQuery(append(append([]string{}, kv...), more...)...) }
	def := func(change func(*ListParams)) ListParams { return valListDefaults(spec, change) }
	long := strings.Repeat
	cases := []valListCase{
		{name: "defaults", q: q(), want: def(nil)},
		{name: "empty sort_by, sort_order and search are absent", q: q("sort_by", "", "sort_order", "", "search", ""),
			want: def(nil)},
		{name: "unknown params ignored", q: q("pageSize", "1000", "limit", "x", "order", "asc"), want: def(nil)},
		{name: "page and page_size", q: q("page", "3", "page_size", "25"),
			want: def(func(p *ListParams) { p.Page, p.PageSize = 3, 25 })},
		{name: "page max", q: q("page", "1000000000"), want: def(func(p *ListParams) { p.Page = 1_000_000_000 })},
		{name: "page_size bounds", q: q("page_size", "1"), want: def(func(p *ListParams) { p.PageSize = 1 })},
		{name: "page_size max", q: q("page_size", "100"), want: def(func(p *ListParams) { p.PageSize = 100 })},
		{name: "page with plus sign", q: q("page", "+5"), want: def(func(p *ListParams) { p.Page = 5 })},
		{name: "repeated page takes the last", q: q("page", "2", "page", "3"), want: def(func(p *ListParams) { p.Page = 3 })},
		{name: "repeated page, bad then good", q: q("page", "0", "page", "3"), want: def(func(p *ListParams) { p.Page = 3 })},
		{name: "repeated page, good then bad", q: q("page", "3", "page", "0"),
			wantErr: valErr("page", "Input should be greater than or equal to 1")},

		{name: "sort_by first field", q: q("sort_by", spec.fields[0]),
			want: def(func(p *ListParams) { p.SortBy = spec.fields[0] })},
		{name: "sort_by last field upper case", q: q("sort_by", strings.ToUpper(spec.fields[len(spec.fields)-1])),
			want: def(func(p *ListParams) { p.SortBy = spec.fields[len(spec.fields)-1] })},
		{name: "sort_by mixed case", q: q("sort_by", "OrIgIn"), want: def(func(p *ListParams) { p.SortBy = "origin" })},
		{name: "repeated sort_by takes the last", q: q("sort_by", "bogus", "sort_by", "destination"),
			want: def(func(p *ListParams) { p.SortBy = "destination" })},
		{name: "repeated sort_by, last empty is the default", q: q("sort_by", "origin", "sort_by", ""), want: def(nil)},
		{name: "sort_order asc", q: q("sort_order", "asc"), want: def(func(p *ListParams) { p.Desc = false })},
		{name: "sort_order ASC", q: q("sort_order", "ASC"), want: def(func(p *ListParams) { p.Desc = false })},
		{name: "sort_order Asc", q: q("sort_order", "Asc"), want: def(func(p *ListParams) { p.Desc = false })},
		{name: "sort_order desc", q: q("sort_order", "desc"), want: def(nil)},
		{name: "sort_order DeSc", q: q("sort_order", "DeSc"), want: def(nil)},
		{name: "repeated sort_order takes the last", q: q("sort_order", "desc", "sort_order", "asc"),
			want: def(func(p *ListParams) { p.Desc = false })},
		{name: "repeated sort_order, last empty is the default", q: q("sort_order", "asc", "sort_order", ""), want: def(nil)},

		{name: "search", q: q("search", "Berlin"), want: def(func(p *ListParams) { p.Search = "Berlin" })},
		{name: "search trimmed", q: q("search", " \t Ber lin \n"), want: def(func(p *ListParams) { p.Search = "Ber lin" })},
		{name: "search trimmed of Unicode spaces", q: q("search", "\u00a0\u3000Köln\u2003"),
			want: def(func(p *ListParams) { p.Search = "Köln" })},
		{name: "search blank", q: q("search", "   "), want: def(nil)},
		{name: "search wildcards kept literally", q: q("search", `%_\`), want: def(func(p *ListParams) { p.Search = `%_\` })},
		{name: "search SQL kept literally", q: q("search", "x' OR 1=1 --"),
			want: def(func(p *ListParams) { p.Search = "x' OR 1=1 --" })},
		{name: "search case kept", q: q("search", "MüNCHEN"), want: def(func(p *ListParams) { p.Search = "MüNCHEN" })},
		{name: "search invalid UTF-8 replaced", q: q("search", "a\xffb\xfe"),
			want: def(func(p *ListParams) { p.Search = "a\uFFFDb\uFFFD" })},
		{name: "search 100 ASCII characters", q: q("search", long("a", 100)),
			want: def(func(p *ListParams) { p.Search = long("a", 100) })},
		{name: "search 100 two-byte characters", q: q("search", long("ü", 100)),
			want: def(func(p *ListParams) { p.Search = long("ü", 100) })},
		{name: "search 100 four-byte characters", q: q("search", long("🚚", 100)),
			want: def(func(p *ListParams) { p.Search = long("🚚", 100) })},
		{name: "search 100 characters after trimming", q: q("search", "  "+long("é", 100)+"  "),
			want: def(func(p *ListParams) { p.Search = long("é", 100) })},
		{name: "repeated search takes the last", q: q("search", long("a", 101), "search", "Paris"),
			want: def(func(p *ListParams) { p.Search = "Paris" })},

		{name: "page bad", q: q("page", "0"), wantErr: valErr("page", "Input should be greater than or equal to 1")},
		{name: "page above max", q: q("page", "1000000001"),
			wantErr: valErr("page", "Input should be less than or equal to 1000000000")},
		{name: "page 30 digits", q: q("page", valThirtyDigits),
			wantErr: valErr("page", "Input should be less than or equal to 1000000000")},
		{name: "page minus 30 digits", q: q("page", "-"+valThirtyDigits),
			wantErr: valErr("page", "Input should be greater than or equal to 1")},
		{name: "page empty", q: q("page", ""), wantErr: valErr("page", valMsgInt)},
		{name: "page_size above max is not clamped", q: q("page_size", "101"),
			wantErr: valErr("page_size", "Input should be less than or equal to 100")},
		{name: "page_size zero", q: q("page_size", "0"),
			wantErr: valErr("page_size", "Input should be greater than or equal to 1")},
		{name: "page_size negative", q: q("page_size", "-10"),
			wantErr: valErr("page_size", "Input should be greater than or equal to 1")},
		{name: "page_size decimal", q: q("page_size", "10.0"), wantErr: valErr("page_size", valMsgInt)},
		{name: "page bad before page_size bad", q: q("page_size", "0", "page", "x"), wantErr: valErr("page", valMsgInt)},
		{name: "page_size bad before sort_by bad", q: q("sort_by", "nope", "page_size", "1000"),
			wantErr: valErr("page_size", "Input should be less than or equal to 100")},
		{name: "page_size bad before sort_order bad", q: q("sort_order", "up", "page_size", " 5 "),
			wantErr: valErr("page_size", valMsgInt)},
		{name: "page_size bad before search bad", q: q("search", long("a", 101), "page_size", "1_000"),
			wantErr: valErr("page_size", valMsgInt)},

		{name: "sort_by unknown", q: q("sort_by", "revenue"), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by blank is not empty", q: q("sort_by", " "), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by padded", q: q("sort_by", " origin "), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by SQL injection", q: q("sort_by", "origin; DROP TABLE shipments; --"),
			wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by with order", q: q("sort_by", "origin desc"), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by subquery", q: q("sort_by", "(SELECT 1)"), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by column number", q: q("sort_by", "1"), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by quoted", q: q("sort_by", `"origin"`), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by NUL", q: q("sort_by", "origin\x00"), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_by dotted i does not fold to origin", q: q("sort_by", "orİgin"), wantErr: valErr("sort_by", sortMsg)},
		{name: "sort_order bad", q: q("sort_order", "ascending"), wantErr: valErr("sort_order", "Input should be 'asc' or 'desc'")},
		{name: "sort_order blank", q: q("sort_order", " "), wantErr: valErr("sort_order", "Input should be 'asc' or 'desc'")},
		{name: "sort_order SQL", q: q("sort_order", "desc; DROP TABLE shipments"),
			wantErr: valErr("sort_order", "Input should be 'asc' or 'desc'")},
		{name: "sort_order padded", q: q("sort_order", "asc "), wantErr: valErr("sort_order", "Input should be 'asc' or 'desc'")},
		{name: "sort_order bad before search bad", q: q("search", long("a", 101), "sort_order", "1"),
			wantErr: valErr("sort_order", "Input should be 'asc' or 'desc'")},
		{name: "search 101 ASCII characters", q: q("search", long("a", 101)),
			wantErr: valErr("search", "String should have at most 100 characters")},
		{name: "search 101 two-byte characters", q: q("search", long("ü", 101)),
			wantErr: valErr("search", "String should have at most 100 characters")},
		{name: "search 101 four-byte characters", q: q("search", long("🚚", 101)),
			wantErr: valErr("search", "String should have at most 100 characters")},
		{name: "search 101 characters inside spaces", q: q("search", " "+long("x", 50)+" "+long("x", 50)+" "),
			wantErr: valErr("search", "String should have at most 100 characters")},
		{name: "search 100 characters and an invalid byte", q: q("search", long("a", 100)+"\xff"),
			wantErr: valErr("search", "String should have at most 100 characters")},
	}
	for _, param := range []struct{ name, lo, hi string }{{"page", "1", "1000000000"}, {"page_size", "1", "100"}} {
		for _, c := range valIntCases(param.lo, param.hi) {
			tc := valListCase{name: param.name + " " + c.value, q: q(param.name, c.value)}
			switch {
			case c.wantMsg != "":
				tc.wantErr = valErr(param.name, c.wantMsg)
			case param.name == "page":
				tc.want = def(func(p *ListParams) { p.Page = c.want })
			default:
				tc.want = def(func(p *ListParams) { p.PageSize = c.want })
			}
			cases = append(cases, tc)
		}
	}
	return cases
}

func valRunListCases(t *testing.T, cases []valListCase, parse func(*testing.T, url.Values) (ListParams, *ParamError)) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, gotErr := parse(t, tt.q)
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("query %v: error (-want +got):\n%s", tt.q, diff)
			}
			want := tt.want
			if tt.wantErr != nil {
				want = ListParams{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("query %v: params (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	spec := shipmentRoutesSort
	cases := valCommonListCases(spec, valShipmentRoutesSortMsg)
	cases = append(cases,
		valListCase{name: "default sort is total_trips", q: valQuery(),
			want: ListParams{Page: 1, PageSize: 10, SortBy: "total_trips", Desc: true}},
		valListCase{name: "all params", q: valQuery("page", "2", "page_size", "10", "sort_by", "Cost_Per_Trip",
			"sort_order", "ASC", "search", " Lyon "),
			want: ListParams{Page: 2, PageSize: 10, SortBy: "cost_per_trip", Desc: false, Search: "Lyon"}},
		valListCase{name: "dates are ignored, even malformed", q: valQuery("start", "2024-13-01", "end", "x"),
			want: valListDefaults(spec, nil)},
		valListCase{name: "end before start is ignored", q: valQuery("start", "2024-02-01", "end", "2024-01-01", "sort_by", "origin"),
			want: valListDefaults(spec, func(p *ListParams) { p.SortBy = "origin" })},
		// 3.3's order is page, page_size, sort_order, search, sort_by (see
		// parseList): sort_by comes after sort_order and search.
		valListCase{name: "sort_order bad before sort_by bad", q: valQuery("sort_by", "nope", "sort_order", "sideways"),
			wantErr: valErr("sort_order", "Input should be 'asc' or 'desc'")},
		valListCase{name: "search bad before sort_by bad", q: valQuery("sort_by", "nope", "search", strings.Repeat("z", 101)),
			wantErr: valErr("search", "String should have at most 100 characters")},
		valListCase{name: "page bad before sort_by bad", q: valQuery("sort_by", "nope", "page", "-1"),
			wantErr: valErr("page", "Input should be greater than or equal to 1")},
	)
	for _, f := range spec.fields {
		cases = append(cases, valListCase{name: "sort_by " + f + " upper case", q: valQuery("sort_by", strings.ToUpper(f)),
			want: valListDefaults(spec, func(p *ListParams) { p.SortBy = f })})
	}
	valRunListCases(t, cases, func(_ *testing.T, q url.Values) (ListParams, *ParamError) { return parseList(q, spec) })
}

func TestParseWindowList(t *testing.T) {
	w := valWindow("2024-01-01", "2024-03-31")
	dates := []string{"start", "2024-01-01", "end", "2024-03-31"}
	specs := []struct {
		name    string
		spec    sortSpec
		sortMsg string
		dflt    string
	}{
		{"reliability", reliabilitySort, valReliabilitySortMsg, "reliability_score"},
		{"cost-value", costValueSort, valCostValueSortMsg, "value_score"},
		{"optimization", optimizationSort, valOptimizationSortMsg, "cost_time_efficiency"},
	}
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			cases := valCommonListCases(s.spec, s.sortMsg, dates...)
			cases = append(cases,
				valListCase{name: "default sort", q: valQuery(dates...),
					want: ListParams{Page: 1, PageSize: 10, SortBy: s.dflt, Desc: true}},
				valListCase{name: "client's request", q: valQuery(append(dates, "page", "1", "page_size", "10",
					"sort_by", strings.ToUpper(s.dflt), "sort_order", "desc", "search", "")...),
					want: ListParams{Page: 1, PageSize: 10, SortBy: s.dflt, Desc: true}},
				valListCase{name: "start absent before page bad", q: valQuery("end", "2024-03-31", "page", "0"),
					wantErr: valErr("start", "Field required")},
				valListCase{name: "end absent before sort_by bad", q: valQuery("start", "2024-01-01", "sort_by", "x"),
					wantErr: valErr("end", "Field required")},
				valListCase{name: "start bad before page bad", q: valQuery("start", "2024-13-01", "end", "2024-03-31", "page", "0"),
					wantErr: valErr("start", "Value error, Date must be in YYYY-MM-DD format")},
				valListCase{name: "end bad before page_size bad", q: valQuery("start", "2024-01-01", "end", "24-03-31", "page_size", "0"),
					wantErr: valErr("end", "Value error, Date must be in YYYY-MM-DD format")},
				valListCase{name: "end before start before page bad",
					q:       valQuery("page", "x", "start", "2024-03-31", "end", "2024-01-01", "sort_by", "x"),
					wantErr: valErr("end", "Value error, End date must be after start date")},
				// 3.6–3.8 list sort_by before sort_order and search.
				valListCase{name: "sort_by bad before sort_order bad", q: valQuery(append(dates, "sort_order", "x", "sort_by", "x")...),
					wantErr: valErr("sort_by", s.sortMsg)},
				valListCase{name: "sort_by bad before search bad",
					q:       valQuery(append(dates, "search", strings.Repeat("z", 101), "sort_by", "x")...),
					wantErr: valErr("sort_by", s.sortMsg)},
			)
			for _, f := range s.spec.fields {
				cases = append(cases, valListCase{name: "sort_by " + f + " upper case",
					q:    valQuery(append(dates, "sort_by", strings.ToUpper(f))...),
					want: valListDefaults(s.spec, func(p *ListParams) { p.SortBy = f })})
			}
			valRunListCases(t, cases, func(t *testing.T, q url.Values) (ListParams, *ParamError) {
				gotW, p, err := parseWindowList(q, s.spec)
				want := w
				if err != nil {
					want = rollup.Window{}
				}
				if diff := cmp.Diff(want, gotW); diff != "" {
					t.Errorf("query %v: window (-want +got):\n%s", q, diff)
				}
				if err == nil {
					valCheckUTCMidnight(t, gotW)
				}
				return p, err
			})
		})
	}
}

// A letter that Unicode folds to an ASCII one (the Kelvin sign folds to k)
// does not match a whitelisted name: matching is ASCII case-insensitive.
func TestSortByKelvinSign(t *testing.T) {
	q := valQuery("start", "2024-01-01", "end", "2024-01-02", "sort_by", "cost_per_\u212ag")
	_, _, err := parseWindowList(q, costValueSort)
	if diff := cmp.Diff(valErr("sort_by", valCostValueSortMsg), err); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	q.Set("sort_by", "COST_PER_KG")
	_, p, err := parseWindowList(q, costValueSort)
	if err != nil || p.SortBy != "cost_per_kg" {
		t.Errorf("sort_by COST_PER_KG: got %q, %v; want cost_per_kg", p.SortBy, err)
	}
}

// The search term arrives through real query decoding: %25, _ and %5C stay
// literal characters.
func TestSearchFromRawQuery(t *testing.T) {
	q, err := url.ParseQuery("search=+%25a_b%5C+&sort_by=&sort_order=")
	if err != nil {
		t.Fatal(err)
	}
	got, pe := parseList(q, shipmentRoutesSort)
	want := ListParams{Page: 1, PageSize: 10, SortBy: "total_trips", Desc: true, Search: `%a_b\`}
	if pe != nil {
		t.Fatalf("parseList: %v", pe)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestInputShouldBe(t *testing.T) {
	tests := []struct {
		choices []string
		want    string
	}{
		{[]string{"a"}, "Input should be 'a'"},
		{[]string{"asc", "desc"}, "Input should be 'asc' or 'desc'"},
		{[]string{"week", "month", "year"}, "Input should be 'week', 'month' or 'year'"},
		{[]string{"a", "b", "c", "d"}, "Input should be 'a', 'b', 'c' or 'd'"},
	}
	for _, tt := range tests {
		if got := inputShouldBe(tt.choices); got != tt.want {
			t.Errorf("inputShouldBe(%q) = %q, want %q", tt.choices, got, tt.want)
		}
	}
	// The fixed messages agree with the generic form.
	if got := inputShouldBe([]string{"week", "month", "year"}); got != msgIntervalType {
		t.Errorf("msgIntervalType = %q, generic form %q", msgIntervalType, got)
	}
	if got := inputShouldBe([]string{"asc", "desc"}); got != msgSortOrder {
		t.Errorf("msgSortOrder = %q, generic form %q", msgSortOrder, got)
	}
}
