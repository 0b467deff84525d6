package apiserver

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
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

// listRow is a row of a list endpoint: a route, sortable by any field of
// its endpoint's whitelist.
type listRow interface {
	route() (origin, destination string)
	// sortValue is the serialised value of the field named by its JSON
	// name; ok is false for a field the row does not have.
	sortValue(field string) (v sortValue, ok bool)
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

func numKey[T int64 | float64](x T) (sortValue, bool) { return sortValue{num: float64(x)}, true }
func strKey(s string) (sortValue, bool)               { return sortValue{str: s}, true }

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
	kept := make([]keyed, 0, len(rows))
	for i, r := range rows {
		o, d := r.route()
		if term != "" && !strings.Contains(foldString(o), term) && !strings.Contains(foldString(d), term) {
			continue
		}
		k, ok := r.sortValue(field)
		if !ok {
			return Page[T]{}, fmt.Errorf("sort by %q: no such field", field)
		}
		kept = append(kept, keyed{key: k, row: int32(i)})
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

func (r ShipmentRouteRow) sortValue(field string) (sortValue, bool) {
	switch field {
	case "origin":
		return strKey(r.Origin)
	case "destination":
		return strKey(r.Destination)
	case "total_trips":
		return numKey(r.TotalTrips)
	case "avg_delivery_time":
		return numKey(r.AvgDeliveryTime)
	case "min_delivery_time":
		return numKey(r.MinDeliveryTime)
	case "max_delivery_time":
		return numKey(r.MaxDeliveryTime)
	case "total_cost":
		return numKey(r.TotalCost)
	case "avg_cost":
		return numKey(r.AvgCost)
	case "total_weight":
		return numKey(r.TotalWeight)
	case "unique_vehicles":
		return numKey(r.UniqueVehicles)
	case "cost_per_trip":
		return numKey(r.CostPerTrip)
	}
	return sortValue{}, false
}

func (r ReliabilityRow) route() (string, string) { return r.Origin, r.Destination }

func (r ReliabilityRow) sortValue(field string) (sortValue, bool) {
	switch field {
	case "origin":
		return strKey(r.Origin)
	case "destination":
		return strKey(r.Destination)
	case "total_deliveries":
		return numKey(r.TotalDeliveries)
	case "avg_delivery_time":
		return numKey(r.AvgDeliveryTime)
	case "delivery_time_variation":
		return numKey(r.DeliveryTimeVariation)
	case "reliability_score":
		return numKey(r.ReliabilityScore)
	case "on_time_delivery_rate":
		return numKey(r.OnTimeDeliveryRate)
	}
	return sortValue{}, false
}

func (r CostValueRow) route() (string, string) { return r.Origin, r.Destination }

func (r CostValueRow) sortValue(field string) (sortValue, bool) {
	switch field {
	case "origin":
		return strKey(r.Origin)
	case "destination":
		return strKey(r.Destination)
	case "total_shipments":
		return numKey(r.TotalShipments)
	case "avg_shipment_weight":
		return numKey(r.AvgShipmentWeight)
	case "avg_cost":
		return numKey(r.AvgCost)
	case "cost_per_kg":
		return numKey(r.CostPerKg)
	case "value_score":
		return numKey(r.ValueScore)
	case "value_category":
		return strKey(r.ValueCategory)
	}
	return sortValue{}, false
}

func (r OptimizationRow) route() (string, string) { return r.Origin, r.Destination }

func (r OptimizationRow) sortValue(field string) (sortValue, bool) {
	switch field {
	case "origin":
		return strKey(r.Origin)
	case "destination":
		return strKey(r.Destination)
	case "total_shipments":
		return numKey(r.TotalShipments)
	case "avg_delivery_time":
		return numKey(r.AvgDeliveryTime)
	case "avg_cost":
		return numKey(r.AvgCost)
	case "avg_weight":
		return numKey(r.AvgWeight)
	case "total_cost":
		return numKey(r.TotalCost)
	case "total_weight":
		return numKey(r.TotalWeight)
	case "cost_time_efficiency":
		return numKey(r.CostTimeEfficiency)
	case "optimization_recommendation":
		return strKey(r.OptimizationRecommendation)
	}
	return sortValue{}, false
}
