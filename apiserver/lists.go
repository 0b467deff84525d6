package apiserver

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Page is one page of a list endpoint (docs/api.md#2-endpoint-index, 1.4).
type Page[T any] struct {
	Data []T `json:"data"`
	// Total counts the rows after filtering, whatever the page.
	Total    int `json:"total"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
}

// firstPagesRows is how deep into a list firstN beats sorting it whole.
const firstPagesRows = 1000

// firstN returns the first n of rows in the order of cmp, a total order, as
// sorting them all and cutting would, without sorting them all: a top list
// of 5 out of tens of thousands of routes keeps a heap of 5.
func firstN[T any](rows []T, n int, cmp func(a, b T) int) []T {
	h := make([]T, 0, max(0, min(n, len(rows))))
	// h is a heap whose root is the last row kept so far.
	after := func(i, j int) bool { return cmp(h[i], h[j]) > 0 }
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(h) {
				return
			}
			if c+1 < len(h) && after(c+1, c) {
				c++
			}
			if !after(c, i) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for _, r := range rows {
		switch {
		case len(h) < n:
			h = append(h, r)
			for i := len(h) - 1; i > 0 && after(i, (i-1)/2); i = (i - 1) / 2 {
				h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
			}
		case n > 0 && cmp(r, h[0]) < 0:
			h[0] = r
			down(0)
		}
	}
	slices.SortFunc(h, cmp)
	return h
}

// listRow is a row of a list endpoint: a route, sortable by any of its JSON
// fields (sortFieldsOf).
type listRow interface {
	route() (origin, destination string)
}

// sortValue is a field's value for ordering: a number, or a string
// compared by code point.
type sortValue struct {
	num float64
	str string
}

func (a sortValue) compare(b sortValue) int {
	return cmp.Or(cmp.Compare(a.num, b.num), strings.Compare(a.str, b.str))
}

// sortFields are the sort_by fields of a list row type: each JSON field of
// the row, which is what its endpoint serialises, so a field added to a row
// is sortable without more code.
type sortFields struct {
	// names are the fields' JSON names in declaration order, the order
	// docs/api.md lists an endpoint's whitelist in.
	names  []string
	byName map[string]sortField
}

// sortField is where a sortable field is in its row and what it holds.
type sortField struct {
	index int
	kind  sortKind
}

// sortKind is what a sortable field holds: integers and floats order as
// numbers, strings by code point.
type sortKind uint8

const (
	sortInt sortKind = iota
	sortFloat
	sortString
)

// value is the field's sort value in row, a struct of the field's row type.
func (f sortField) value(row reflect.Value) sortValue {
	v := row.Field(f.index)
	switch f.kind {
	case sortInt:
		return sortValue{num: float64(v.Int())}
	case sortFloat:
		return sortValue{num: v.Float()}
	default:
		return sortValue{str: v.String()}
	}
}

// sortFieldsByType holds each list row type's sortFields, found once.
var sortFieldsByType sync.Map // reflect.Type -> *sortFields

// sortFieldsOf is the sortable fields of list row type T.
func sortFieldsOf[T listRow]() *sortFields { return sortFieldsOfType(reflect.TypeFor[T]()) }

// sortFieldsOfType is the sortable fields of the list row struct type t,
// read from its JSON tags the first time t is asked for. A field the
// encoding/json package leaves out is not sortable; a serialised field that
// is not an integer, a float or a string is a programming error.
func sortFieldsOfType(t reflect.Type) *sortFields {
	if f, ok := sortFieldsByType.Load(t); ok {
		return f.(*sortFields)
	}
	fs := &sortFields{byName: map[string]sortField{}}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		var kind sortKind
		switch f.Type.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			kind = sortInt
		case reflect.Float32, reflect.Float64:
			kind = sortFloat
		case reflect.String:
			kind = sortString
		default:
			panic(fmt.Sprintf("list row %v: field %s (%v) cannot be sorted by", t, f.Name, f.Type))
		}
		fs.names = append(fs.names, name)
		fs.byName[name] = sortField{index: i, kind: kind}
	}
	f, _ := sortFieldsByType.LoadOrStore(t, fs)
	return f.(*sortFields)
}

// listPage filters rows by lp.Search, sorts them by lp.SortBy (spec's
// default if empty) then origin and destination ascending, and cuts
// lp's page (docs/api.md#14-paging-sorting-search-list-endpoints).
func listPage[T listRow](rows []T, lp ListParams, spec sortSpec) (Page[T], error) {
	field := cmp.Or(lp.SortBy, spec.defaultSort)
	// Rows are ordered by their keys and positions, not moved: a row is
	// several times a key's size, and there are tens of thousands.
	type keyed struct {
		key sortValue
		row int32
	}
	var term string
	if lp.Search != "" {
		term = foldString(lp.Search)
	}
	// The field is found once; each row's value is then read by its index.
	key, known := sortFieldsOf[T]().byName[field]
	all := reflect.ValueOf(rows)
	kept := make([]keyed, 0, len(rows))
	for i, r := range rows {
		o, d := r.route()
		if term != "" && !strings.Contains(foldString(o), term) && !strings.Contains(foldString(d), term) {
			continue
		}
		if !known { // sort_by was validated against the same fields: not reached
			return Page[T]{}, fmt.Errorf("sort by %q: no such field", field)
		}
		kept = append(kept, keyed{key: key.value(all.Index(i)), row: int32(i)})
	}
	order := func(a, b keyed) int {
		c := a.key.compare(b.key)
		if lp.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		ao, ad := rows[a.row].route()
		bo, bd := rows[b.row].route()
		return cmp.Or(strings.Compare(ao, bo), strings.Compare(ad, bd))
	}
	out := Page[T]{Data: []T{}, Total: len(kept), Page: lp.Page, PageSize: lp.PageSize}
	if lp.Page < 1 || lp.PageSize < 1 {
		return out, nil
	}
	from := int64(lp.Page-1) * int64(lp.PageSize)
	// The first pages, which clients ask for most, need only their rows
	// in order, not every row.
	if end := from + int64(lp.PageSize); end <= firstPagesRows {
		kept = firstN(kept, int(end), order)
	} else {
		slices.SortFunc(kept, order)
	}
	for i := from; i < from+int64(lp.PageSize) && i < int64(len(kept)); i++ {
		out.Data = append(out.Data, rows[kept[i].row])
	}
	return out, nil
}

func (r ShipmentRouteRow) route() (string, string) { return r.Origin, r.Destination }

func (r ReliabilityRow) route() (string, string) { return r.Origin, r.Destination }

func (r CostValueRow) route() (string, string) { return r.Origin, r.Destination }

func (r OptimizationRow) route() (string, string) { return r.Origin, r.Destination }
