package apiserver

import (
	"fmt"
	"testing"
)

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
