package apiserver

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// sortValueOf is the value listPage orders row by when sorting by field; ok
// is false for a field the row cannot be sorted by.
func sortValueOf(row listRow, field string) (v sortValue, ok bool) {
	f, ok := sortFieldsOfType(reflect.TypeOf(row)).byName[field]
	if !ok {
		return sortValue{}, false
	}
	return f.value(reflect.ValueOf(row)), true
}

// TestSortFieldsFollowJSON checks that a row's sortable fields are the
// fields encoding/json writes, under the names it writes them, in
// declaration order, and that a field that cannot be ordered is refused.
func TestSortFieldsFollowJSON(t *testing.T) {
	type row struct {
		Origin   string  `json:"origin"`
		Count    int32   `json:"count,omitempty"`
		Skipped  float64 `json:"-"`
		hidden   string
		Untagged float32
	}
	fs := sortFieldsOfType(reflect.TypeFor[row]())
	if want := []string{"origin", "count", "Untagged"}; !slices.Equal(fs.names, want) {
		t.Errorf("names %q, want %q", fs.names, want)
	}
	r := reflect.ValueOf(row{Origin: "o", Count: 3, Skipped: 9, hidden: "h", Untagged: 1.5})
	for name, want := range map[string]sortValue{
		"origin": {str: "o"}, "count": {num: 3}, "Untagged": {num: 1.5},
	} {
		if got := fs.byName[name].value(r); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	if got := sortFieldsOfType(reflect.TypeFor[row]()); got != fs {
		t.Error("the fields were read again, not kept")
	}
	defer func() {
		if recover() == nil {
			t.Error("a bool field was taken as sortable")
		}
	}()
	sortFieldsOfType(reflect.TypeFor[struct {
		Flag bool `json:"flag"`
	}]())
}

// BenchmarkListPage measures a list endpoint's paging and sorting over a
// window's worth of qualifying routes: every row's sort key is read, then the
// first page is cut by a heap, a deep page by a full sort.
func BenchmarkListPage(b *testing.B) {
	const n = 50_000
	rows := make([]OptimizationRow, n)
	for i := range rows {
		rows[i] = OptimizationRow{
			Origin:                     fmt.Sprintf("Origin %d", i%997),
			Destination:                fmt.Sprintf("Destination %d", i/997),
			TotalShipments:             int64(5 + i%50),
			AvgDeliveryTime:            float64(i%1013) / 10,
			AvgCost:                    float64(i%7919) / 100,
			CostTimeEfficiency:         float64(i%4999) / 100,
			OptimizationRecommendation: []string{adviceSlow, adviceCostly, adviceNormal}[i%3],
		}
	}
	for _, c := range []struct {
		name string
		lp   ListParams
	}{
		{"first page by number", ListParams{Page: 1, PageSize: 10, Desc: true}},
		{"deep page by number", ListParams{Page: 200, PageSize: 100}},
		{"first page by string", ListParams{Page: 1, PageSize: 10, SortBy: "optimization_recommendation"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := listPage(rows, c.lp, optimizationSort); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
