package apiserver

import (
	"iter"

	"github.com/haul-dev/haul/internal/rollup"
)

// The answers of the compatibility contract (docs/api.md#3-endpoints), computed
// from the rollup families of one version of the aggregates, one file per
// resource (answers_*.go). Figures are computed unrounded and rounded (r2,
// r1) as the response fields are filled, so every order and cut in those
// files compares serialised values.

// minRouteShipments is the size of a qualifying route, Q(W) (docs/api.md#12-windows-and-dates).
const minRouteShipments = 5

// topN is the length of the fixed top lists: expensive_routes (3.2),
// top_routes (3.5) and top_cost_routes (3.10).
const topN = 5

// qualifying yields the routes of Q(W), at least minRouteShipments
// shipments (docs/api.md#12-windows-and-dates), numbered from 0: a window
// holds tens of thousands, not worth copying.
func qualifying(routes []rollup.Route) iter.Seq2[int, *rollup.Route] {
	return func(yield func(int, *rollup.Route) bool) {
		n := 0
		for i := range routes {
			if routes[i].Shipments < minRouteShipments {
				continue
			}
			if !yield(n, &routes[i]) {
				return
			}
			n++
		}
	}
}

// countQualifying is the number of routes qualifying yields.
func countQualifying(routes []rollup.Route) int {
	n := 0
	for i := range routes {
		if routes[i].Shipments >= minRouteShipments {
			n++
		}
	}
	return n
}
