package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/rollup"
	"github.com/haul-dev/haul/internal/testutil/pgtest"
	"github.com/haul-dev/haul/jobs/ingest"
	"github.com/haul-dev/haul/jobs/precalc"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The answers are checked against oracles computed in this file from the
// raw tables (shipments joined to their logs, vehicles) with SQL that
// follows docs/api.md's formulas independently of the rollups, then rounded and
// ordered here by code written apart from answers.go's. Responses are
// compared as JSON trees, numbers within the tolerance of docs/api.md#13-numbers.

func ansDay(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func ansWindow(start, end string) rollup.Window {
	return rollup.Window{Start: ansDay(start), End: ansDay(end)}
}

func TestShiftDate(t *testing.T) {
	for _, tc := range []struct {
		date, interval string
		n              int
		want           string
	}{
		{"2024-03-15", "week", 1, "2024-03-08"},
		{"2024-03-02", "week", 2, "2024-02-17"},
		{"2024-03-31", "month", 1, "2024-02-29"}, // last day to last day
		{"2023-03-31", "month", 1, "2023-02-28"},
		{"2024-03-30", "month", 1, "2024-02-29"}, // clamped
		{"2024-03-29", "month", 1, "2024-02-29"},
		{"2024-03-28", "month", 1, "2024-02-28"},
		{"2024-02-29", "month", 1, "2024-01-31"}, // last day of February
		{"2024-02-28", "month", 1, "2024-01-28"},
		{"2024-04-30", "month", 1, "2024-03-31"},
		{"2024-01-31", "month", 1, "2023-12-31"},
		{"2024-01-15", "month", 13, "2022-12-15"},
		{"2024-02-29", "year", 1, "2023-02-28"},
		{"2023-02-28", "year", 1, "2022-02-28"},
		{"2025-02-28", "year", 1, "2024-02-29"}, // last day maps to last day
		{"2024-06-30", "year", 2, "2022-06-30"},
		{"2024-06-15", "year", 100, "1924-06-15"},
	} {
		if got := shiftDate(ansDay(tc.date), tc.interval, tc.n).Format(time.DateOnly); got != tc.want {
			t.Errorf("shift %s back %d %s: %s, want %s", tc.date, tc.n, tc.interval, got, tc.want)
		}
	}
	// A full month compares with a full month.
	w := shiftWindow(ansWindow("2024-02-01", "2024-02-29"), "month", 1)
	if w != ansWindow("2024-01-01", "2024-01-31") {
		t.Errorf("February 2024 shifted back a month: %v", w)
	}
}

func TestPreviousWindow(t *testing.T) {
	for _, tc := range []struct{ start, end, wantStart, wantEnd string }{
		{"2024-03-01", "2024-03-31", "2024-01-30", "2024-02-29"},
		{"2024-03-01", "2024-03-01", "2024-02-29", "2024-02-29"},
		{"2025-01-01", "2025-12-31", "2024-01-02", "2024-12-31"}, // 364 days back from a leap year's end
		{"2024-01-01", "2024-12-31", "2022-12-31", "2023-12-31"},
	} {
		got := previousWindow(ansWindow(tc.start, tc.end))
		if got != ansWindow(tc.wantStart, tc.wantEnd) {
			t.Errorf("previous of %s..%s: %s..%s, want %s..%s", tc.start, tc.end,
				got.Start.Format(time.DateOnly), got.End.Format(time.DateOnly), tc.wantStart, tc.wantEnd)
		}
	}
}

// ansFake is a source of fixed figures; families it does not set panic.
type ansFake struct {
	source
	routeList []rollup.Route
	tot       rollup.Totals
	st        rollup.State
}

func (f ansFake) routes(context.Context, rollup.Window) ([]rollup.Route, error) {
	return f.routeList, nil
}
func (f ansFake) totals(context.Context, rollup.Window) (rollup.Totals, error) { return f.tot, nil }
func (f ansFake) state(context.Context) (rollup.State, error)                  { return f.st, nil }

func (f ansFake) routeVehicles(_ context.Context, _ rollup.Window, keys []rollup.RouteKey) (map[rollup.RouteKey]int64, error) {
	out := map[rollup.RouteKey]int64{}
	for _, k := range keys {
		out[k] = 1
	}
	return out, nil
}

// ansSameRoutes returns routes with identical figures, so every sort value
// ties, listed out of order.
func ansSameRoutes(keys ...[2]string) []rollup.Route {
	var out []rollup.Route
	for _, k := range keys {
		out = append(out, rollup.Route{
			RouteKey: rollup.RouteKey{Origin: k[0], Destination: k[1]},
			Stats:    rollup.Stats{Shipments: 6, SumCost: 600, SumWeight: 60, SumDT: 60, MinDT: 10, MaxDT: 10},
			SumCPK:   60, SumCPT: 60, OnTimeDay: 6, OnTimeWindow: 6,
		})
	}
	return out
}

func ansRouteKeys[T listRow](rows []T) []string {
	out := []string{}
	for _, r := range rows {
		o, d := r.route()
		out = append(out, o+"->"+d)
	}
	return out
}

func TestListTiesAndSearch(t *testing.T) {
	ctx := context.Background()
	w := ansWindow("2024-01-01", "2024-01-31")
	src := ansFake{routeList: ansSameRoutes(
		[2]string{"b", "x"}, [2]string{"B", "y"}, [2]string{"a", "y"}, [2]string{"a", "x"},
		[2]string{"École", "Zürich"}, [2]string{"100% Town", "Under_score"}, [2]string{"Kelvinton", "Back\\slash"},
		[2]string{"ecole", "z"},
	)}
	all := []string{"100% Town->Under_score", "B->y", "Kelvinton->Back\\slash", "a->x", "a->y", "b->x", "ecole->z", "École->Zürich"}
	// search asks for the first page of the routes matching q, by origin.
	search := func(q string) ListParams { return ListParams{Page: 1, PageSize: 10, SortBy: "origin", Search: q} }
	for _, tc := range []struct {
		name string
		lp   ListParams
		want []string
		tot  int
	}{
		{"ties desc", ListParams{Page: 1, PageSize: 100, SortBy: "reliability_score", Desc: true}, all, 8},
		{"ties asc", ListParams{Page: 1, PageSize: 100, SortBy: "on_time_delivery_rate"}, all, 8},
		{"origin desc keeps destination asc", ListParams{Page: 1, PageSize: 4, SortBy: "origin", Desc: true},
			[]string{"École->Zürich", "ecole->z", "b->x", "a->x"}, 8},
		{"page 2", ListParams{Page: 2, PageSize: 3, SortBy: "total_deliveries", Desc: true},
			[]string{"a->x", "a->y", "b->x"}, 8},
		{"past the end", ListParams{Page: 4, PageSize: 3, SortBy: "total_deliveries"}, []string{}, 8},
		{"far past the end", ListParams{Page: 1_000_000_000, PageSize: 100}, []string{}, 8},
		{"case-insensitive", search("A"), []string{"Kelvinton->Back\\slash", "a->x", "a->y"}, 3},
		{"unicode folding", search("éCOLE"), []string{"École->Zürich"}, 1},
		{"destination", search("ZÜR"), []string{"École->Zürich"}, 1},
		{"kelvin sign", search("\u212aelvin"), []string{"Kelvinton->Back\\slash"}, 1},
		{"percent is literal", search("%"), []string{"100% Town->Under_score"}, 1},
		{"underscore is literal", search("r_s"), []string{"100% Town->Under_score"}, 1},
		{"backslash is literal", search("\\"), []string{"Kelvinton->Back\\slash"}, 1},
		{"no match", search("qq"), []string{}, 0},
	} {
		got, err := answerReliability(ctx, src, w, tc.lp)
		if err != nil {
			t.Fatal(err)
		}
		if keys := ansRouteKeys(got.Data); !slices.Equal(keys, tc.want) || got.Total != tc.tot {
			t.Errorf("%s: %q total %d, want %q total %d", tc.name, keys, got.Total, tc.want, tc.tot)
		}
		if got.Page != tc.lp.Page || got.PageSize != tc.lp.PageSize {
			t.Errorf("%s: page %d size %d, want the request's %d %d", tc.name, got.Page, got.PageSize, tc.lp.Page, tc.lp.PageSize)
		}
	}
}

// TestCategoriesAndAdvice checks the boundaries of docs/api.md#37-get-apiroutecost-value and 3.8 on
// fixed figures: a score equal to a percentile is in the better category,
// and averages are over all qualifying routes whatever the search.
func TestCategoriesAndAdvice(t *testing.T) {
	ctx := context.Background()
	w := ansWindow("2024-01-01", "2024-01-31")
	route := func(origin string, n int64, cost, weight float64, sumDT int64, cpt float64) rollup.Route {
		return rollup.Route{
			RouteKey: rollup.RouteKey{Origin: origin, Destination: "X"},
			Stats:    rollup.Stats{Shipments: n, SumCost: cost, SumWeight: weight, SumDT: sumDT},
			SumCPT:   cpt * float64(n),
		}
	}
	// One qualifying route: both percentiles are its score.
	one := ansFake{routeList: []rollup.Route{route("A", 5, 50, 5, 50, 3), route("Small", 4, 40, 4, 40, 1)}}
	got, err := answerCostValue(ctx, one, w, ListParams{Page: 1, PageSize: 10, SortBy: "value_score"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 1 || got.Data[0].ValueCategory != highValue {
		t.Errorf("single qualifying route: %+v, want one High Value row", got.Data)
	}
	// 101 routes: p33 and p66 fall exactly on the 34th and 67th scores.
	var many []rollup.Route
	for i := range 101 {
		many = append(many, route(fmt.Sprintf("R%03d", i), 5, 50, 5, 50, float64(i)))
	}
	for _, search := range []string{"", "R03", "R06"} {
		got, err := answerCostValue(ctx, ansFake{routeList: many}, w,
			ListParams{Page: 1, PageSize: 100, SortBy: "value_score", Search: search})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got.Data {
			i, _ := strconv.Atoi(r.Origin[1:])
			want := lowValue
			switch {
			case i <= 33:
				want = highValue
			case i <= 66:
				want = mediumValue
			}
			if r.ValueCategory != want || r.ValueScore != float64(i) {
				t.Errorf("search %q: route %s score %v is %q, want %q", search, r.Origin, r.ValueScore, r.ValueCategory, want)
			}
		}
	}
	// Advice: G_t = 10 and G_k = 31/3 over the three qualifying routes
	// (the tiny one does not count).
	routes := []rollup.Route{
		route("Slow", 5, 500, 50, 5*13, 0),    // m 13 > 12, k 10
		route("Costly", 5, 650, 50, 5*9, 0),   // m 9, k 13 > 12.4
		route("Edge", 5, 400, 50, 5*8, 0),     // m 8, k 8
		route("Tiny", 4, 100000, 1, 4*100, 0), // not qualifying
	}
	opt, err := answerOptimization(ctx, ansFake{routeList: routes}, w, ListParams{Page: 1, PageSize: 10, SortBy: "origin"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Slow": adviceSlow, "Costly": adviceCostly, "Edge": adviceNormal}
	if len(opt.Data) != len(want) {
		t.Fatalf("optimization rows %+v", opt.Data)
	}
	for _, r := range opt.Data {
		if r.OptimizationRecommendation != want[r.Origin] {
			t.Errorf("route %s: %q, want %q", r.Origin, r.OptimizationRecommendation, want[r.Origin])
		}
	}
	// 1.2 × G exactly is not above it.
	for _, tc := range []struct {
		m, k float64
		want string
	}{
		{12, 12, adviceNormal},
		{12.000001, 0, adviceSlow},
		{0, 12.000001, adviceCostly},
	} {
		if got := advice(rollup.Route{Stats: rollup.Stats{Shipments: 5}}, tc.m, tc.k, 10, 10); got != tc.want {
			t.Errorf("advice(m %v, k %v) = %q, want %q", tc.m, tc.k, got, tc.want)
		}
	}
}

// TestSortValuesAreSerialisedFields checks that every whitelisted sort_by
// field orders by the value the row serialises under that name.
func TestSortValuesAreSerialisedFields(t *testing.T) {
	check := func(row listRow, spec sortSpec) {
		t.Helper()
		b, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(spec.fields, spec.defaultSort) {
			t.Errorf("%T: default %q is not whitelisted", row, spec.defaultSort)
		}
		for _, f := range spec.fields {
			v, ok := sortValueOf(row, f)
			switch want := m[f].(type) {
			case float64:
				if !ok || v.num != want || v.str != "" {
					t.Errorf("%T: sort value of %q is %+v (%v), want %v", row, f, v, ok, want)
				}
			case string:
				if !ok || v.str != want || v.num != 0 {
					t.Errorf("%T: sort value of %q is %+v (%v), want %q", row, f, v, ok, want)
				}
			default:
				t.Errorf("%T: no serialised field %q", row, f)
			}
		}
		if _, ok := sortValueOf(row, "no_such_field"); ok {
			t.Errorf("%T sorts by an unknown field", row)
		}
	}
	// Distinct values in every field, so a field mix-up shows.
	check(ShipmentRouteRow{"o", "d", 1, 2, 3, 4, 5, 6, 7, 8, 9}, shipmentRoutesSort)
	check(ReliabilityRow{"o", "d", 1, 2, 3, 4, 5}, reliabilitySort)
	check(CostValueRow{"o", "d", 1, 2, 3, 4, 5, "Low Value"}, costValueSort)
	check(OptimizationRow{"o", "d", 1, 2, 3, 4, 5, 6, 7, "advice"}, optimizationSort)
}

func TestSystemStatus(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 15, 30, 123456000, time.FixedZone("CEST", 2*3600))
	msg := "aggregate refresh failed: disk full"
	for _, tc := range []struct {
		name string
		st   rollup.State
		want string
	}{
		{"before any load", rollup.State{},
			`{"is_calculating":false,"last_calculated_at":null,"error_message":null}`},
		{"first build", rollup.State{Refreshing: true},
			`{"is_calculating":true,"last_calculated_at":null,"error_message":null}`},
		{"first build failed", rollup.State{LastError: &msg, LastErrorAt: &at},
			`{"is_calculating":false,"last_calculated_at":null,"error_message":"aggregate refresh failed: disk full"}`},
		{"served", rollup.State{Version: 3, RefreshedAt: &at},
			`{"is_calculating":false,"last_calculated_at":"2024-05-01T10:15:30.123456Z","error_message":null}`},
		{"later refresh running and failed before", rollup.State{Version: 3, RefreshedAt: &at, Refreshing: true, LastError: &msg},
			`{"is_calculating":false,"last_calculated_at":"2024-05-01T10:15:30.123456Z","error_message":null}`},
	} {
		got, err := answerSystemStatus(context.Background(), ansFake{st: tc.st})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(got); string(b) != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, b, tc.want)
		}
	}
}

// TestFieldNames pins every response's JSON keys to docs/api.md's.
func TestFieldNames(t *testing.T) {
	for _, tc := range []struct {
		v    any
		keys string
	}{
		{Page[ReliabilityRow]{}, "data total page page_size"},
		{Dashboard{}, "total_shipments active_vehicles total_revenue avg_delivery_time shipment_trend vehicle_trend revenue_trend delivery_time_trend"},
		{ShipmentsAnalytics{}, "overview expensive_routes"},
		{ShipmentsOverview{}, "total_shipments avg_delivery_time total_cost avg_cost_per_shipment total_weight unique_origins unique_destinations"},
		{ExpensiveRoute{}, "origin destination total_shipments total_cost avg_cost_per_shipment avg_delivery_time vehicles_used"},
		{ShipmentRouteRow{}, "origin destination total_trips avg_delivery_time min_delivery_time max_delivery_time total_cost avg_cost total_weight unique_vehicles cost_per_trip"},
		{VehicleMetrics{}, "vehicle_id name total_trips total_mileage total_fuel fuel_efficiency shipments_delivered avg_delivery_time total_revenue revenue_per_trip fuel_per_trip"},
		{VehicleDetails{}, "summary daily_performance top_routes"},
		{VehicleSummary{}, "vehicle_id name lifetime_mileage total_trips period_mileage total_fuel fuel_efficiency deliveries_completed avg_delivery_time total_revenue revenue_per_trip fuel_per_trip"},
		{VehicleDayRow{}, "date trips daily_mileage daily_fuel daily_revenue daily_deliveries"},
		{VehicleRouteRow{}, "origin destination route_trips avg_route_time avg_route_revenue"},
		{ReliabilityRow{}, "origin destination total_deliveries avg_delivery_time delivery_time_variation reliability_score on_time_delivery_rate"},
		{CostValueRow{}, "origin destination total_shipments avg_shipment_weight avg_cost cost_per_kg value_score value_category"},
		{OptimizationRow{}, "origin destination total_shipments avg_delivery_time avg_cost avg_weight total_cost total_weight cost_time_efficiency optimization_recommendation"},
		{TopRoute{}, "origin destination total_shipments reliability_score cost_efficiency_score delivery_efficiency_score overall_score performance_metrics"},
		{PerformanceMetrics{}, "on_time_delivery_rate avg_cost_per_shipment total_revenue total_weight_shipped"},
		{CostsOverview{}, "total_cost avg_cost_per_shipment total_shipments cost_per_km cost_per_kg vehicles_used prev_total_cost prev_avg_cost cost_growth_percentage avg_cost_growth_percentage top_cost_routes"},
		{CostRouteRow{}, "origin destination total_cost shipment_count avg_cost"},
		{SystemStatus{}, "is_calculating last_calculated_at error_message"},
	} {
		typ := reflect.TypeOf(tc.v)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Tag.Get("json"))
		}
		if strings.Join(got, " ") != tc.keys {
			t.Errorf("%s keys: %s\nwant: %s", typ.Name(), strings.Join(got, " "), tc.keys)
		}
	}
}

// ansEnv is a test's database with Haul's schema.
type ansEnv struct{ *pgtest.Env }

func newAnsEnv(t *testing.T) *ansEnv { return &ansEnv{pgtest.NewEnv(t)} }

// load generates a dataset with datagen and ingests it as run name.
func (e *ansEnv) load(name string, cfg datagen.Config) {
	e.T.Helper()
	dir := filepath.Join(e.Dir, name)
	if _, err := datagen.Generate(context.Background(), dir, cfg); err != nil {
		e.T.Fatalf("generate %s: %v", name, err)
	}
	inputs := map[ingest.Dataset][]string{}
	for _, ds := range datagen.Datasets {
		inputs[ds] = []string{filepath.Join(dir, string(ds)+".json")}
	}
	if _, err := ingest.Run(context.Background(), e.Pool, ingest.Options{
		RunID: name, Inputs: inputs, RejectsDir: filepath.Join(e.Dir, "rejects"), Log: logr.Discard(),
	}); err != nil {
		e.T.Fatalf("ingest %s: %v", name, err)
	}
}

func (e *ansEnv) refresh() {
	e.T.Helper()
	if _, err := precalc.Refresh(context.Background(), e.Pool, precalc.Options{Log: logr.Discard()}); err != nil {
		e.T.Fatalf("refresh: %v", err)
	}
}

// snapshot opens a read snapshot, rolled back when the test ends.
func (e *ansEnv) snapshot() pgx.Tx {
	e.T.Helper()
	ctx := context.Background()
	tx, err := rollup.Begin(ctx, e.Pool)
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { _ = tx.Rollback(ctx) })
	return tx
}

// TestEmptyDatabase: before any load every endpoint answers zeros and empty
// lists, serialised as [] (docs/api.md#4-aggregate-refresh).
func TestEmptyDatabase(t *testing.T) {
	e := newAnsEnv(t)
	ctx := context.Background()
	s := txSource{q: e.snapshot()}
	w := ansWindow("2024-01-01", "2024-12-31")
	lp := ListParams{Page: 1, PageSize: 10}
	page := `{"data":[],"total":0,"page":1,"page_size":10}`
	type call struct {
		name string
		fn   func() (any, error)
		want string
	}
	for _, c := range []call{
		{"dashboard", func() (any, error) {
			return answerDashboard(ctx, s, DashboardParams{Window: w, IntervalType: "month", PeriodsBack: 1})
		}, `{"total_shipments":0,"active_vehicles":0,"total_revenue":0,"avg_delivery_time":0,"shipment_trend":0,"vehicle_trend":0,"revenue_trend":0,"delivery_time_trend":0}`},
		{"analytics", func() (any, error) { return answerShipmentsAnalytics(ctx, s, w) },
			`{"overview":{"total_shipments":0,"avg_delivery_time":0,"total_cost":0,"avg_cost_per_shipment":0,"total_weight":0,"unique_origins":0,"unique_destinations":0},"expensive_routes":[]}`},
		{"routes", func() (any, error) { return answerShipmentRoutes(ctx, s, lp) }, page},
		{"vehicles", func() (any, error) { return answerVehicleMetrics(ctx, s, w) }, `[]`},
		{"reliability", func() (any, error) { return answerReliability(ctx, s, w, lp) }, page},
		{"cost-value", func() (any, error) { return answerCostValue(ctx, s, w, lp) }, page},
		{"optimization", func() (any, error) { return answerOptimization(ctx, s, w, lp) }, page},
		{"top-performing", func() (any, error) { return answerTopPerforming(ctx, s, w, 10) }, `[]`},
		{"costs", func() (any, error) { return answerCostsOverview(ctx, s, w) },
			`{"total_cost":0,"avg_cost_per_shipment":0,"total_shipments":0,"cost_per_km":0,"cost_per_kg":0,"vehicles_used":0,"prev_total_cost":0,"prev_avg_cost":0,"cost_growth_percentage":0,"avg_cost_growth_percentage":0,"top_cost_routes":[]}`},
		{"status", func() (any, error) { return answerSystemStatus(ctx, s) },
			`{"is_calculating":false,"last_calculated_at":null,"error_message":null}`},
	} {
		got, err := c.fn()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if b, _ := json.Marshal(got); string(b) != c.want {
			t.Errorf("%s: %s\nwant %s", c.name, b, c.want)
		}
	}
	if _, ok, err := answerVehicleDetails(ctx, s, "V001", w); ok || err != nil {
		t.Errorf("vehicle details before any load: ok %v, err %v; want not found", ok, err)
	}
}

// ansWindows are checked on data dated 2023-01-01..2025-12-31, plus the
// few valid records datagen plants on 2019-06-01 and 2031-01-01.
var ansWindows = []rollup.Window{
	ansWindow("2026-01-01", "2026-12-31"), // empty; the window before has data
	ansWindow("2019-01-01", "2019-12-31"), // planted records only
	ansWindow("2024-02-29", "2024-02-29"), // one day
	ansWindow("2024-03-01", "2024-03-31"), // a month
	ansWindow("2023-11-17", "2025-02-03"), // days, months, a year, months, days
	ansWindow("2020-01-01", "2030-12-31"), // every generated day
	ansWindow("1900-01-01", "2199-12-31"), // all time
}

func TestAnswersMatchRawTables(t *testing.T) {
	start := time.Now()
	e := newAnsEnv(t)
	e.load("first", datagen.Config{Shipments: 20_000, Cities: 25, FaultRate: 0.02, Seed: 21})
	e.refresh()
	// A second batch on some of the same days and some new ones, so the
	// aggregates come from an incremental refresh.
	e.load("second", datagen.Config{
		Shipments: 5_000, Cities: 25, Seed: 22, IDPrefix: "B", Vehicles: 30,
		From: ansDay("2025-06-01"), To: ansDay("2025-12-31"),
	})
	e.refresh()
	t.Logf("data loaded and refreshed in %v", time.Since(start).Round(time.Millisecond))

	tx := e.snapshot()
	// The lists are checked with many requests: routes are read once per
	// window and served from memory after, as the server's source may.
	s := &ansMemo{source: txSource{q: tx}, routesOf: map[rollup.Window][]rollup.Route{}}
	o := ansOracle{t: t, q: tx}
	// The same answers from the index the server builds per version.
	index, err := rollup.LoadIndex(context.Background(), tx)
	if err != nil {
		t.Fatal(err)
	}
	indexed := &ansMemo{source: indexedSource{source: txSource{q: tx}, q: tx, index: index}, routesOf: map[rollup.Window][]rollup.Route{}}
	for _, src := range []struct {
		name string
		s    source
	}{{"sql", s}, {"index", indexed}} {
		s := src.s
		for _, w := range ansWindows {
			t.Run(src.name+"/"+w.Start.Format(time.DateOnly)+".."+w.End.Format(time.DateOnly), func(t *testing.T) {
				o := ansOracle{t: t, q: tx}
				routes := o.routes(w)
				var n int64
				for _, r := range routes {
					n += r.n
				}
				t.Logf("%d shipments, %d routes, %d qualifying", n, len(routes), len(ansQualifying(routes)))
				long := w.End.Sub(w.Start) > 365*24*time.Hour
				if long && len(ansQualifying(routes)) < 50 {
					t.Fatalf("only %d qualifying routes in a long window: the data does not exercise the lists", len(ansQualifying(routes)))
				}
				o.checkAnalytics(s, w, routes)
				o.checkVehicleMetrics(s, w)
				o.checkVehicleDetails(s, w)
				o.checkTopPerforming(s, w, routes)
				o.checkCostsOverview(s, w, routes)
				o.checkLists(s, w, routes, long)
			})
		}
	}
	t.Run("dashboard", func(t *testing.T) {
		o := ansOracle{t: t, q: tx}
		for _, p := range []DashboardParams{
			{Window: ansWindow("2024-03-01", "2024-03-31"), IntervalType: "month", PeriodsBack: 1},
			{Window: ansWindow("2024-02-01", "2024-02-29"), IntervalType: "month", PeriodsBack: 1},
			{Window: ansWindow("2024-05-31", "2024-06-30"), IntervalType: "month", PeriodsBack: 3},
			{Window: ansWindow("2025-01-05", "2025-01-11"), IntervalType: "week", PeriodsBack: 1},
			{Window: ansWindow("2024-12-29", "2025-01-04"), IntervalType: "week", PeriodsBack: 12},
			{Window: ansWindow("2024-06-01", "2024-06-30"), IntervalType: "year", PeriodsBack: 1},
			{Window: ansWindow("2025-02-28", "2025-12-31"), IntervalType: "year", PeriodsBack: 2},
			{Window: ansWindow("2024-02-29", "2024-02-29"), IntervalType: "year", PeriodsBack: 1},
			{Window: ansWindow("2023-01-01", "2023-01-31"), IntervalType: "month", PeriodsBack: 1}, // nothing before
			{Window: ansWindow("2019-01-01", "2019-01-31"), IntervalType: "week", PeriodsBack: 1},  // nothing at all
			{Window: ansWindow("2026-01-01", "2026-01-31"), IntervalType: "month", PeriodsBack: 1}, // nothing now
		} {
			o.checkDashboard(s, p)
		}
	})
	o.checkShipmentRoutes(s)
	o.checkStatus(s)
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// ansMemo serves repeated reads of a window's routes, and of the all-time
// route totals, from memory.
type ansMemo struct {
	source
	routesOf map[rollup.Window][]rollup.Route
	totalsOf []rollup.RouteTotal
}

func (m *ansMemo) routes(ctx context.Context, w rollup.Window) ([]rollup.Route, error) {
	if r, ok := m.routesOf[w]; ok {
		return r, nil
	}
	r, err := m.source.routes(ctx, w)
	if err == nil {
		m.routesOf[w] = r
	}
	return r, err
}

func (m *ansMemo) routeTotals(ctx context.Context) ([]rollup.RouteTotal, error) {
	if m.totalsOf != nil {
		return m.totalsOf, nil
	}
	r, err := m.source.routeTotals(ctx)
	m.totalsOf = r
	return r, err
}

type ansOracle struct {
	t *testing.T
	q pgx.Tx
}

// ansShipmentsIn selects the window's shipments with the date and vehicle
// of their log; $1 and $2 are the window's ends.
const ansShipmentsIn = `
SELECT s.shipment_id, s.origin, s.destination, s.cost, s.weight, s.delivery_time AS dt,
       l.log_id, l.trip_date, l.vehicle_id
FROM shipments s JOIN vehicle_logs l ON l.log_id = s.log_id
WHERE l.trip_date BETWEEN $1 AND $2`

// ansTotals are a window's figures over all its shipments.
type ansTotals struct {
	n                        int64
	cost, weight, meanT      float64
	minK, maxK, minT, maxT   float64
	vehicles, origins, dests int64
	activeVehicles           float64
	carryingMileage          float64
}

func (o ansOracle) totals(w rollup.Window) ansTotals {
	r := pgtest.Rows(o.t, o.q, `
WITH s AS (`+ansShipmentsIn+`)
SELECT count(*), coalesce(sum(cost), 0)::float8, coalesce(sum(weight), 0)::float8, coalesce(avg(dt), 0)::float8,
       coalesce(min(cost / weight), 0)::float8, coalesce(max(cost / weight), 0)::float8,
       coalesce(min(dt), 0)::float8, coalesce(max(dt), 0)::float8,
       count(DISTINCT vehicle_id), count(DISTINCT origin), count(DISTINCT destination),
       (SELECT coalesce(avg(v), 0)::float8 FROM (SELECT count(DISTINCT vehicle_id) AS v FROM s GROUP BY trip_date) d),
       (SELECT coalesce(sum(l.mileage), 0)::float8 FROM vehicle_logs l
        WHERE l.trip_date BETWEEN $1 AND $2 AND l.log_id IN (SELECT log_id FROM s))
FROM s`, w.Start, w.End)[0]
	return ansTotals{
		n: r[0].(int64), cost: r[1].(float64), weight: r[2].(float64), meanT: r[3].(float64),
		minK: r[4].(float64), maxK: r[5].(float64), minT: r[6].(float64), maxT: r[7].(float64),
		vehicles: r[8].(int64), origins: r[9].(int64), dests: r[10].(int64),
		activeVehicles: r[11].(float64), carryingMileage: r[12].(float64),
	}
}

// ansRoute is a route's figures over a window.
type ansRoute struct {
	origin, destination string
	n                   int64
	cost, weight        float64
	meanT, sd           float64
	minT, maxT          float64
	// meanCPK and meanCPT are the means of cost/weight and
	// cost/delivery_time over the shipments.
	meanCPK, meanCPT        float64
	onTimeWindow, onTimeDay int64
	vehicles                int64
}

func (o ansOracle) routes(w rollup.Window) []ansRoute {
	var out []ansRoute
	for _, r := range pgtest.Rows(o.t, o.q, `
WITH m AS (
    SELECT *, avg(dt) OVER (PARTITION BY origin, destination) AS mean,
              avg(dt) OVER (PARTITION BY origin, destination, trip_date) AS day_mean
    FROM (`+ansShipmentsIn+`) s)
SELECT origin, destination, count(*), sum(cost)::float8, sum(weight)::float8, avg(dt)::float8,
       coalesce(stddev_samp(dt), 0)::float8, min(dt)::float8, max(dt)::float8,
       avg(cost / weight)::float8, avg(cost / dt)::float8,
       count(*) FILTER (WHERE dt <= mean + 1), count(*) FILTER (WHERE dt <= day_mean),
       count(DISTINCT vehicle_id)
FROM m GROUP BY 1, 2 ORDER BY 1, 2`, w.Start, w.End) {
		out = append(out, ansRoute{
			origin: r[0].(string), destination: r[1].(string), n: r[2].(int64),
			cost: r[3].(float64), weight: r[4].(float64), meanT: r[5].(float64), sd: r[6].(float64),
			minT: r[7].(float64), maxT: r[8].(float64), meanCPK: r[9].(float64), meanCPT: r[10].(float64),
			onTimeWindow: r[11].(int64), onTimeDay: r[12].(int64), vehicles: r[13].(int64),
		})
	}
	return out
}

func ansQualifying(routes []ansRoute) []ansRoute {
	var out []ansRoute
	for _, r := range routes {
		if r.n >= 5 {
			out = append(out, r)
		}
	}
	return out
}

// ansRatio is num/den, 0 for a zero denominator.
func ansRatio(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

// ansTree turns v into its JSON tree.
func ansTree(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// ansMatch compares got with want as JSON: same keys, arrays of the same
// length in the same order, equal strings, booleans and nulls, numbers
// within 0.01 (0.1 for the r1 trends).
func ansMatch(t *testing.T, what string, got, want any) {
	t.Helper()
	var diffs []string
	ansCompare("", ansTree(t, got), ansTree(t, want), &diffs)
	if len(diffs) > 0 {
		t.Errorf("%s: %d differences:\n%s", what, len(diffs), strings.Join(diffs[:min(8, len(diffs))], "\n"))
	}
}

func ansCompare(path string, got, want any, diffs *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %v, want an object", path, got))
			return
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: unexpected key", path, k))
			}
		}
		for k, wv := range w {
			ansCompare(path+"."+k, g[k], wv, diffs)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %v, want %d elements: %v", path, got, len(w), want))
			return
		}
		for i := range w {
			ansCompare(fmt.Sprintf("%s[%d]", path, i), g[i], w[i], diffs)
		}
	case float64:
		g, ok := got.(float64)
		tol := 0.01
		if strings.HasSuffix(path, "_trend") {
			tol = 0.1
		}
		if !ok || math.Abs(g-w) > tol+1e-9 {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %v, want %v", path, got, w))
		}
	default:
		if got != want {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %#v, want %#v", path, got, want))
		}
	}
}

// ansSorted orders the JSON rows of a response by field (a number or a
// string, compared as serialised), in the given direction, then by
// tie-breakers ascending.
func ansSorted(t *testing.T, rows any, field string, desc bool, ties ...string) []any {
	t.Helper()
	list := ansTree(t, rows).([]any)
	less := func(a, b any) (less, equal bool) {
		switch av := a.(type) {
		case float64:
			return av < b.(float64), av == b.(float64)
		case string:
			return av < b.(string), av == b.(string)
		}
		t.Fatalf("cannot order by %v", a)
		return false, false
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].(map[string]any), list[j].(map[string]any)
		if l, eq := less(a[field], b[field]); !eq {
			return l != desc
		}
		for _, k := range ties {
			if l, eq := less(a[k], b[k]); !eq {
				return l
			}
		}
		return false
	})
	return list
}

func ansHead(list []any, n int) []any { return list[:min(n, len(list))] }

func (o ansOracle) checkAnalytics(s source, w rollup.Window, routes []ansRoute) {
	t := o.t
	got, err := answerShipmentsAnalytics(context.Background(), s, w)
	if err != nil {
		t.Fatal(err)
	}
	tot := o.totals(w)
	expensive := []ExpensiveRoute{}
	for _, r := range ansQualifying(routes) {
		expensive = append(expensive, ExpensiveRoute{
			Origin: r.origin, Destination: r.destination, TotalShipments: r.n,
			TotalCost: r2(r.cost), AvgCostPerShipment: r2(r.cost / float64(r.n)), AvgDeliveryTime: r2(r.meanT),
			VehiclesUsed: r.vehicles,
		})
	}
	want := map[string]any{
		"overview": ShipmentsOverview{
			TotalShipments: tot.n, AvgDeliveryTime: r2(tot.meanT), TotalCost: r2(tot.cost),
			AvgCostPerShipment: r2(ansRatio(tot.cost, float64(tot.n))), TotalWeight: r2(tot.weight),
			UniqueOrigins: tot.origins, UniqueDestinations: tot.dests,
		},
		"expensive_routes": ansHead(ansSorted(t, expensive, "avg_cost_per_shipment", true, "origin", "destination"), 5),
	}
	ansMatch(t, "shipments analytics", got, want)
}

func (o ansOracle) checkVehicleMetrics(s source, w rollup.Window) {
	t := o.t
	got, err := answerVehicleMetrics(context.Background(), s, w)
	if err != nil {
		t.Fatal(err)
	}
	want := []VehicleMetrics{}
	for _, r := range pgtest.Rows(o.t, o.q, `
WITH l AS (SELECT vehicle_id, count(*) AS trips, sum(mileage) AS mileage, sum(fuel_used) AS fuel
           FROM vehicle_logs WHERE trip_date BETWEEN $1 AND $2 GROUP BY 1),
s AS (SELECT vehicle_id, count(*) AS n, sum(cost) AS cost, sum(dt) AS dt FROM (`+ansShipmentsIn+`) x GROUP BY 1)
SELECT v.vehicle_id, v.name, l.trips, l.mileage, l.fuel, coalesce(s.n, 0), coalesce(s.cost, 0)::float8,
       coalesce(s.dt, 0)::float8
FROM vehicles v JOIN l ON l.vehicle_id = v.vehicle_id LEFT JOIN s ON s.vehicle_id = v.vehicle_id`, w.Start, w.End) {
		trips, mileage, fuel, n, cost, dt := r[2].(int64), r[3].(float64), r[4].(float64), r[5].(int64), r[6].(float64), r[7].(float64)
		want = append(want, VehicleMetrics{
			VehicleID: r[0].(string), Name: r[1].(string), TotalTrips: trips,
			TotalMileage: r2(mileage), TotalFuel: r2(fuel), FuelEfficiency: r2(ansRatio(mileage, fuel)),
			ShipmentsDelivered: n, AvgDeliveryTime: r2(ansRatio(dt, float64(n))), TotalRevenue: r2(cost),
			RevenuePerTrip: r2(cost / float64(trips)), FuelPerTrip: r2(fuel / float64(trips)),
		})
	}
	ansMatch(t, "vehicle metrics", got, ansSorted(t, want, "total_revenue", true, "vehicle_id"))
}

func (o ansOracle) checkVehicleDetails(s source, w rollup.Window) {
	t := o.t
	ctx := context.Background()
	// Three vehicles active in the window, one that is not (if any), and
	// an unknown id.
	var ids []string
	for _, r := range pgtest.Rows(o.t, o.q, `
(SELECT vehicle_id FROM vehicles WHERE vehicle_id IN (SELECT vehicle_id FROM vehicle_logs WHERE trip_date BETWEEN $1 AND $2)
 ORDER BY vehicle_id LIMIT 3)
UNION ALL
(SELECT vehicle_id FROM vehicles WHERE vehicle_id NOT IN (SELECT vehicle_id FROM vehicle_logs WHERE trip_date BETWEEN $1 AND $2)
 ORDER BY vehicle_id LIMIT 1)`, w.Start, w.End) {
		ids = append(ids, r[0].(string))
	}
	if len(ids) == 0 {
		t.Fatal("no vehicles loaded")
	}
	for _, id := range ids {
		got, ok, err := answerVehicleDetails(ctx, s, id, w)
		if err != nil || !ok {
			t.Fatalf("vehicle %s: ok %v, err %v", id, ok, err)
		}
		info := pgtest.Rows(o.t, o.q, `SELECT name, total_mileage FROM vehicles WHERE vehicle_id = $1`, id)[0]
		days := []VehicleDayRow{}
		var trips, n int64
		var mileage, fuel, cost, dt float64
		for _, r := range pgtest.Rows(o.t, o.q, `
SELECT to_char(l.trip_date, 'YYYY-MM-DD'), count(*), sum(l.mileage), sum(l.fuel_used),
       coalesce(sum(s.n), 0)::bigint, coalesce(sum(s.cost), 0)::float8, coalesce(sum(s.dt), 0)::float8
FROM vehicle_logs l
LEFT JOIN (SELECT log_id, count(*) AS n, sum(cost) AS cost, sum(delivery_time) AS dt FROM shipments
           WHERE log_id IN (SELECT log_id FROM vehicle_logs WHERE vehicle_id = $3) GROUP BY 1) s
       ON s.log_id = l.log_id
WHERE l.vehicle_id = $3 AND l.trip_date BETWEEN $1 AND $2
GROUP BY 1`, w.Start, w.End, id) {
			d := VehicleDayRow{Date: r[0].(string), Trips: r[1].(int64), DailyMileage: r2(r[2].(float64)),
				DailyFuel: r2(r[3].(float64)), DailyRevenue: r2(r[5].(float64)), DailyDeliveries: r[4].(int64)}
			days = append(days, d)
			trips += d.Trips
			n += d.DailyDeliveries
			mileage, fuel, cost, dt = mileage+r[2].(float64), fuel+r[3].(float64), cost+r[5].(float64), dt+r[6].(float64)
		}
		routes := []VehicleRouteRow{}
		for _, r := range pgtest.Rows(o.t, o.q, `
SELECT origin, destination, count(DISTINCT log_id), avg(dt)::float8, sum(cost)::float8
FROM (`+ansShipmentsIn+`) s WHERE vehicle_id = $3 GROUP BY 1, 2`, w.Start, w.End, id) {
			routeTrips := r[2].(int64)
			routes = append(routes, VehicleRouteRow{Origin: r[0].(string), Destination: r[1].(string),
				RouteTrips: routeTrips, AvgRouteTime: r2(r[3].(float64)), AvgRouteRevenue: r2(r[4].(float64) / float64(routeTrips))})
		}
		want := map[string]any{
			"summary": VehicleSummary{
				VehicleID: id, Name: info[0].(string), LifetimeMileage: info[1].(float64), TotalTrips: trips,
				PeriodMileage: r2(mileage), TotalFuel: r2(fuel), FuelEfficiency: r2(ansRatio(mileage, fuel)),
				DeliveriesCompleted: n, AvgDeliveryTime: r2(ansRatio(dt, float64(n))), TotalRevenue: r2(cost),
				RevenuePerTrip: r2(ansRatio(cost, float64(trips))), FuelPerTrip: r2(ansRatio(fuel, float64(trips))),
			},
			"daily_performance": ansSorted(t, days, "date", false),
			"top_routes":        ansHead(ansSorted(t, routes, "route_trips", true, "origin", "destination"), 5),
		}
		ansMatch(t, "vehicle "+id+" details", got, want)
	}
	if _, ok, err := answerVehicleDetails(ctx, s, "no-such-vehicle", w); ok || err != nil {
		t.Errorf("unknown vehicle: ok %v, err %v; want not found", ok, err)
	}
}

func (o ansOracle) checkTopPerforming(s source, w rollup.Window, routes []ansRoute) {
	t := o.t
	tot := o.totals(w)
	score := func(x, lo, hi float64) float64 {
		if hi-lo == 0 {
			return 100
		}
		return 100 - 100*(x-lo)/(hi-lo)
	}
	all := []TopRoute{}
	for _, r := range ansQualifying(routes) {
		rel := 100 - 100*r.sd/r.meanT
		c := score(r.meanCPK, tot.minK, tot.maxK)
		d := score(r.meanT, tot.minT, tot.maxT)
		all = append(all, TopRoute{
			Origin: r.origin, Destination: r.destination, TotalShipments: r.n,
			ReliabilityScore: r2(rel), CostEfficiencyScore: r2(c), DeliveryEfficiencyScore: r2(d),
			OverallScore: r2(0.4*rel + 0.3*c + 0.3*d),
			PerformanceMetrics: PerformanceMetrics{
				OnTimeDeliveryRate: r2(100 * float64(r.onTimeDay) / float64(r.n)),
				AvgCostPerShipment: r2(r.cost / float64(r.n)), TotalRevenue: r2(r.cost), TotalWeightShipped: r2(r.weight),
			},
		})
	}
	sorted := ansSorted(t, all, "overall_score", true, "origin", "destination")
	for _, limit := range []int{1, 10, 100} {
		got, err := answerTopPerforming(context.Background(), s, w, limit)
		if err != nil {
			t.Fatal(err)
		}
		ansMatch(t, fmt.Sprintf("top performing, limit %d", limit), got, ansHead(sorted, limit))
	}
}

func (o ansOracle) checkCostsOverview(s source, w rollup.Window, routes []ansRoute) {
	t := o.t
	got, err := answerCostsOverview(context.Background(), s, w)
	if err != nil {
		t.Fatal(err)
	}
	p := pgtest.Rows(o.t, o.q, `SELECT $1::date - ($2::date - $1::date) - 1, $1::date - 1`, w.Start, w.End)[0]
	cur, prev := o.totals(w), o.totals(rollup.Window{Start: p[0].(time.Time), End: p[1].(time.Time)})
	avgCur, avgPrev := ansRatio(cur.cost, float64(cur.n)), ansRatio(prev.cost, float64(prev.n))
	var growth, avgGrowth float64
	if cur.n > 0 && prev.n > 0 {
		growth, avgGrowth = 100*(cur.cost-prev.cost)/prev.cost, 100*(avgCur-avgPrev)/avgPrev
	}
	top := []CostRouteRow{}
	for _, r := range routes {
		top = append(top, CostRouteRow{Origin: r.origin, Destination: r.destination, TotalCost: r2(r.cost),
			ShipmentCount: r.n, AvgCost: r2(r.cost / float64(r.n))})
	}
	want := CostsOverview{
		TotalCost: r2(cur.cost), AvgCostPerShipment: r2(avgCur), TotalShipments: cur.n,
		CostPerKm: r2(ansRatio(cur.cost, cur.carryingMileage)), CostPerKg: r2(ansRatio(cur.cost, cur.weight)),
		VehiclesUsed: cur.vehicles, PrevTotalCost: r2(prev.cost), PrevAvgCost: r2(avgPrev),
		CostGrowthPercentage: r2(growth), AvgCostGrowthPercentage: r2(avgGrowth),
	}
	wantTree := ansTree(t, want).(map[string]any)
	wantTree["top_cost_routes"] = ansHead(ansSorted(t, top, "total_cost", true, "origin", "destination"), 5)
	ansMatch(t, "costs overview", got, wantTree)
}

func (o ansOracle) checkDashboard(s source, p DashboardParams) {
	t := o.t
	got, err := answerDashboard(context.Background(), s, p)
	if err != nil {
		t.Fatal(err)
	}
	// The previous window by PostgreSQL's date arithmetic: an interval of
	// months clamps the day; a month's last day goes to the target's last.
	shift := func(d time.Time) time.Time {
		if p.IntervalType == "week" {
			return pgtest.Rows(o.t, o.q, `SELECT $1::date - 7 * $2::int`, d, p.PeriodsBack)[0][0].(time.Time)
		}
		months := p.PeriodsBack
		if p.IntervalType == "year" {
			months *= 12
		}
		return pgtest.Rows(o.t, o.q, `
SELECT CASE WHEN extract(day FROM $1::date + 1) = 1
            THEN (date_trunc('month', $1::date) - make_interval(months => $2) + interval '1 month' - interval '1 day')::date
            ELSE ($1::date - make_interval(months => $2))::date END`, d, months)[0][0].(time.Time)
	}
	cur, prev := o.totals(p.Window), o.totals(rollup.Window{Start: shift(p.Window.Start), End: shift(p.Window.End)})
	trend := func(c, p float64) float64 {
		if cur.n == 0 || prev.n == 0 || p == 0 {
			return 0
		}
		return r1(100 * (c - p) / p)
	}
	want := Dashboard{
		TotalShipments: cur.n, ActiveVehicles: r2(cur.activeVehicles), TotalRevenue: r2(cur.cost),
		AvgDeliveryTime:   r2(cur.meanT),
		ShipmentTrend:     trend(float64(cur.n), float64(prev.n)),
		VehicleTrend:      trend(cur.activeVehicles, prev.activeVehicles),
		RevenueTrend:      trend(cur.cost, prev.cost),
		DeliveryTimeTrend: trend(cur.meanT, prev.meanT),
	}
	ansMatch(t, fmt.Sprintf("dashboard %v", p), got, want)
}

func (o ansOracle) checkStatus(s source) {
	t := o.t
	got, err := answerSystemStatus(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	at := pgtest.Rows(o.t, o.q, `SELECT to_char(refreshed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM precalc_state`)[0][0].(string)
	want := SystemStatus{LastCalculatedAt: &at}
	if b, w := ansTree(t, got), ansTree(t, want); !reflect.DeepEqual(b, w) {
		t.Errorf("system status %v, want %v", b, w)
	}
}

// ansListCases are the requests each list endpoint is checked with: every
// sort field both ways (all of them on long windows, a few otherwise), with
// searches and pages past the end.
func ansListCases(spec sortSpec, every bool) []ListParams {
	var out []ListParams
	fields := spec.fields
	if !every {
		fields = []string{spec.defaultSort, "origin", spec.fields[len(spec.fields)-1]}
	}
	for i, f := range fields {
		out = append(out,
			ListParams{Page: 1, PageSize: 10, SortBy: f, Desc: true},
			ListParams{Page: 1 + i%3, PageSize: 7, SortBy: f, Desc: false},
		)
	}
	for _, term := range []string{"BRO", "cOoK", "an", "Adamsstad", "zz", "stad"} {
		out = append(out,
			ListParams{Page: 1, PageSize: 10, SortBy: spec.defaultSort, Desc: true, Search: term},
			ListParams{Page: 2, PageSize: 5, SortBy: "destination", Search: term},
		)
	}
	return append(out,
		ListParams{Page: 1_000_000, PageSize: 100, SortBy: spec.defaultSort, Desc: true},
		ListParams{Page: 3, PageSize: 100, SortBy: spec.defaultSort},
	)
}

// ansPage filters the expected rows by search (lower-cased substring of
// origin or destination), sorts them and cuts lp's page.
func ansPage(t *testing.T, rows any, lp ListParams) map[string]any {
	t.Helper()
	list := ansSorted(t, rows, lp.SortBy, lp.Desc, "origin", "destination")
	if lp.Search != "" {
		term := strings.ToLower(lp.Search)
		list = slices.DeleteFunc(list, func(r any) bool {
			m := r.(map[string]any)
			return !strings.Contains(strings.ToLower(m["origin"].(string)), term) &&
				!strings.Contains(strings.ToLower(m["destination"].(string)), term)
		})
	}
	from := min((lp.Page-1)*lp.PageSize, len(list))
	data := list[from:min(from+lp.PageSize, len(list))]
	return map[string]any{"data": data, "total": len(list), "page": lp.Page, "page_size": lp.PageSize}
}

// ansCheckList compares every case's page with the oracle's, and checks
// that walking all pages of one order lists every row exactly once.
func ansCheckList[T listRow](t *testing.T, name string, spec sortSpec, every bool, want []T,
	answer func(ListParams) (Page[T], error)) {
	t.Helper()
	for _, lp := range ansListCases(spec, every) {
		got, err := answer(lp)
		if err != nil {
			t.Fatalf("%s %+v: %v", name, lp, err)
		}
		ansMatch(t, fmt.Sprintf("%s %+v", name, lp), got, ansPage(t, want, lp))
	}
	for _, desc := range []bool{true, false} {
		seen := map[string]bool{}
		total := -1
		for page := 1; ; page++ {
			got, err := answer(ListParams{Page: page, PageSize: 13, SortBy: spec.defaultSort, Desc: desc})
			if err != nil {
				t.Fatal(err)
			}
			if total >= 0 && got.Total != total {
				t.Fatalf("%s: total changed from %d to %d on page %d", name, total, got.Total, page)
			}
			total = got.Total
			for _, k := range ansRouteKeys(got.Data) {
				if seen[k] {
					t.Fatalf("%s: route %s on two pages", name, k)
				}
				seen[k] = true
			}
			if len(got.Data) < 13 {
				if len(got.Data) == 0 && page > 1 && (page-1)*13 < total {
					t.Fatalf("%s: page %d empty before the end", name, page)
				}
				break
			}
		}
		if len(seen) != total || total != len(want) {
			t.Errorf("%s: pages listed %d routes, total %d, oracle %d", name, len(seen), total, len(want))
		}
	}
}

func (o ansOracle) checkLists(s source, w rollup.Window, routes []ansRoute, every bool) {
	t := o.t
	ctx := context.Background()
	q := ansQualifying(routes)

	reliability := []ReliabilityRow{}
	for _, r := range q {
		reliability = append(reliability, ReliabilityRow{
			Origin: r.origin, Destination: r.destination, TotalDeliveries: r.n,
			AvgDeliveryTime: r2(r.meanT), DeliveryTimeVariation: r2(r.sd),
			ReliabilityScore:   r2(100 * (1 - r.sd/r.meanT)),
			OnTimeDeliveryRate: r2(100 * float64(r.onTimeWindow) / float64(r.n)),
		})
	}
	ansCheckList(t, "reliability", reliabilitySort, every, reliability, func(lp ListParams) (Page[ReliabilityRow], error) {
		return answerReliability(ctx, s, w, lp)
	})

	// Categories against the percentiles of all qualifying routes, which
	// PostgreSQL's percentile_cont must agree with.
	scores := make([]float64, len(q))
	for i, r := range q {
		scores[i] = r.meanCPT
	}
	slices.Sort(scores)
	pct := func(f float64) float64 {
		if len(scores) == 0 {
			return 0
		}
		h := f * float64(len(scores)-1)
		lo := math.Floor(h)
		if int(lo)+1 >= len(scores) {
			return scores[len(scores)-1]
		}
		return scores[int(lo)] + (h-lo)*(scores[int(lo)+1]-scores[int(lo)])
	}
	p33, p66 := pct(0.33), pct(0.66)
	if len(q) > 0 {
		pg := pgtest.Rows(o.t, o.q, `
SELECT percentile_cont(0.33) WITHIN GROUP (ORDER BY v), percentile_cont(0.66) WITHIN GROUP (ORDER BY v)
FROM (SELECT avg(cost / dt) AS v FROM (`+ansShipmentsIn+`) s GROUP BY origin, destination HAVING count(*) >= 5) r`,
			w.Start, w.End)[0]
		if math.Abs(pg[0].(float64)-p33) > 1e-9*p33 || math.Abs(pg[1].(float64)-p66) > 1e-9*p66 {
			t.Errorf("percentiles %v %v, PostgreSQL's %v %v", p33, p66, pg[0], pg[1])
		}
		if got := percentile(scores, 0.33); math.Abs(got-p33) > 1e-9*p33 {
			t.Errorf("percentile(0.33) = %v, want %v", got, p33)
		}
	}
	costValue := []CostValueRow{}
	for _, r := range q {
		cat := "Low Value"
		if r.meanCPT <= p33 {
			cat = "High Value"
		} else if r.meanCPT <= p66 {
			cat = "Medium Value"
		}
		costValue = append(costValue, CostValueRow{
			Origin: r.origin, Destination: r.destination, TotalShipments: r.n,
			AvgShipmentWeight: r2(r.weight / float64(r.n)), AvgCost: r2(r.cost / float64(r.n)),
			CostPerKg: r2(r.meanCPK), ValueScore: r2(r.meanCPT), ValueCategory: cat,
		})
	}
	ansCheckList(t, "cost-value", costValueSort, every, costValue, func(lp ListParams) (Page[CostValueRow], error) {
		return answerCostValue(ctx, s, w, lp)
	})

	var gt, gk float64
	for _, r := range q {
		gt += r.meanT / float64(len(q))
		gk += r.cost / r.weight / float64(len(q))
	}
	optimization := []OptimizationRow{}
	for _, r := range q {
		k := r.cost / r.weight
		advice := "Performing within normal parameters"
		switch {
		case r.meanT > 1.2*gt:
			advice = "High delivery time - Consider route optimization"
		case k > 1.2*gk:
			advice = "High cost per weight - Review pricing strategy"
		case r.n < 10 && r.cost > 1.5*gk*r.weight:
			advice = "Low volume, high cost - Consider consolidation"
		}
		optimization = append(optimization, OptimizationRow{
			Origin: r.origin, Destination: r.destination, TotalShipments: r.n,
			AvgDeliveryTime: r2(r.meanT), AvgCost: r2(r.cost / float64(r.n)), AvgWeight: r2(r.weight / float64(r.n)),
			TotalCost: r2(r.cost), TotalWeight: r2(r.weight), CostTimeEfficiency: r2(k / r.meanT),
			OptimizationRecommendation: advice,
		})
	}
	ansCheckList(t, "optimization", optimizationSort, every, optimization, func(lp ListParams) (Page[OptimizationRow], error) {
		return answerOptimization(ctx, s, w, lp)
	})
}

func (o ansOracle) checkShipmentRoutes(s source) {
	t := o.t
	var want []ShipmentRouteRow
	for _, r := range o.routes(ansWindow("0001-01-01", "9999-12-31")) {
		want = append(want, ShipmentRouteRow{
			Origin: r.origin, Destination: r.destination, TotalTrips: r.n, AvgDeliveryTime: r2(r.meanT),
			MinDeliveryTime: r.minT, MaxDeliveryTime: r.maxT, TotalCost: r2(r.cost), AvgCost: r2(r.cost / float64(r.n)),
			TotalWeight: r2(r.weight), UniqueVehicles: r.vehicles, CostPerTrip: r2(r.cost / float64(r.n)),
		})
	}
	if len(want) < 100 {
		t.Fatalf("only %d routes all-time", len(want))
	}
	ansCheckList(t, "shipment routes", shipmentRoutesSort, true, want, func(lp ListParams) (Page[ShipmentRouteRow], error) {
		return answerShipmentRoutes(context.Background(), s, lp)
	})
}
