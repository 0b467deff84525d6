package rollup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/pgcopy"
)

// VehicleInfo is a vehicle as of the served version.
type VehicleInfo struct {
	ID, Name     string
	TotalMileage float64
}

// Vehicle is a vehicle's figures over a window: its logs and the shipments
// they carried.
type Vehicle struct {
	VehicleInfo
	Trips     int64
	Mileage   float64
	Fuel      float64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// vehiclePeriodsSQL reads the month and year rows of agg_vehicles in the
// window's spans passed as $1..$3: an entry per vehicle each.
var vehiclePeriodsSQL = `SELECT a.vehicle_ids, a.trips, a.mileage, a.fuel, a.shipments, a.sum_cost, a.sum_dt
FROM agg_vehicles a ` + spansJoin("a")

// ReadVehicles returns every vehicle with a log in the window, ordered by id.
func ReadVehicles(ctx context.Context, q Querier, w Window) ([]Vehicle, error) {
	out, err := addUpVehicles(ctx, q, w)
	if err != nil {
		return nil, err
	}
	out = slices.DeleteFunc(out, func(v Vehicle) bool { return v.Trips <= 0 })
	slices.SortFunc(out, func(a, b Vehicle) int { return strings.Compare(a.ID, b.ID) })
	if err := readVehicleNames(ctx, q, out); err != nil {
		return nil, err
	}
	return out, nil
}

// addUpVehicles adds up each vehicle's figures in the window, unordered
// and without names: its entries in the window's month and year rows, and
// its days in the day spans (readSpanDays).
func addUpVehicles(ctx context.Context, q Querier, w Window) ([]Vehicle, error) {
	days, err := readSpanDays(ctx, q, w)
	if err != nil {
		return nil, err
	}
	g, f, t := w.spanArgs()
	rows, err := q.Query(ctx, vehiclePeriodsSQL, g, f, t)
	if err != nil {
		return nil, fmt.Errorf("read vehicles: %w", err)
	}
	at := map[string]int{}
	var out []Vehicle
	of := func(id []byte) *Vehicle {
		i, ok := at[string(id)]
		if !ok {
			i = len(out)
			at[string(id)] = i
			out = append(out, Vehicle{VehicleInfo: VehicleInfo{ID: string(id)}})
		}
		return &out[i]
	}
	var e vehiclePeriodEntries
	for rows.Next() {
		if err := e.decode(rows.RawValues()); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read vehicles: %w", err)
		}
		for i, id := range e.ids {
			v := of(id)
			v.Trips += e.trips[i]
			v.Mileage += e.mileage[i]
			v.Fuel += e.fuel[i]
			v.Shipments += e.shipments[i]
			v.SumCost += e.cost[i]
			v.SumDT += e.dt[i]
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read vehicles: %w", err)
	}
	for i, id := range days.ids {
		v, s := of([]byte(id)), &days.sums
		v.Trips += s.trips[i]
		v.Mileage += s.mileage[i]
		v.Fuel += s.fuel[i]
		v.Shipments += s.shipments[i]
		v.SumCost += s.cost[i]
		v.SumDT += s.dt[i]
	}
	return out, nil
}

// readVehicleNames fills in the names and lifetime mileage of vehicles,
// ordered by id, from the served version's; a vehicle it lacks keeps none.
func readVehicleNames(ctx context.Context, q Querier, vehicles []Vehicle) error {
	ids := make([]string, len(vehicles))
	for i, v := range vehicles {
		ids[i] = v.ID
	}
	rows, err := q.Query(ctx, `SELECT vehicle_id, name, total_mileage FROM agg_vehicle_info WHERE vehicle_id = ANY ($1::text[])`, ids)
	if err != nil {
		return fmt.Errorf("read vehicle names: %w", err)
	}
	var info VehicleInfo
	_, err = pgx.ForEachRow(rows, []any{&info.ID, &info.Name, &info.TotalMileage}, func() error {
		if i, ok := slices.BinarySearch(ids, info.ID); ok {
			vehicles[i].VehicleInfo = info
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read vehicle names: %w", err)
	}
	return nil
}

// vehiclePeriodEntries are a row of agg_vehicles, decoded; the ids point
// into the row.
type vehiclePeriodEntries struct {
	ids                  [][]byte
	trips, shipments, dt []int64
	mileage, fuel, cost  []float64
}

func (e *vehiclePeriodEntries) decode(v [][]byte) error {
	if len(v) != 7 {
		return pgcopy.ErrArrayEncoding
	}
	var err error
	if e.ids, err = pgcopy.TextArray(v[0], -1, e.ids[:0]); err != nil {
		return err
	}
	n := len(e.ids)
	e.trips = fixedArray(&err, v[1], n, 8, e.trips[:0], bigint)
	e.mileage = fixedArray(&err, v[2], n, 8, e.mileage[:0], float8)
	e.fuel = fixedArray(&err, v[3], n, 8, e.fuel[:0], float8)
	e.shipments = fixedArray(&err, v[4], n, 8, e.shipments[:0], bigint)
	e.cost = fixedArray(&err, v[5], n, 8, e.cost[:0], float8)
	e.dt = fixedArray(&err, v[6], n, 8, e.dt[:0], bigint)
	return err
}

// spanDays are each vehicle's sums over a window's day spans: vehicle
// ids[i]'s are sums' entry i.
type spanDays struct {
	at   map[string]int
	ids  []string
	sums vehicleDayEntries
}

// vehicleDaysOfSQL selects the rows of agg_vehicle_days that may hold days
// of the months $1 (dates): the rebuild's of those months, and the
// refreshes' segments of their years ($2), which hold a year each.
const vehicleDaysOfSQL = `(period = ANY ($1::date[]) AND segment <= 0 OR period = ANY ($2::date[]) AND segment > 0)`

// yearsOf returns the first days of the years of months, once each.
func yearsOf(months []time.Time) []time.Time {
	var years []time.Time
	for _, m := range months {
		y := time.Date(m.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		if !slices.Contains(years, y) {
			years = append(years, y)
		}
	}
	return years
}

// readSpanDays adds up each vehicle's days in w's day spans, from its rows
// of their months and years (vehicleDaysOfSQL), here: unnested in SQL, they made ReadVehicles take
// 632 ms against 198 ms for a window with days at both ends, at 10M
// shipments.
func readSpanDays(ctx context.Context, q Querier, w Window) (spanDays, error) {
	d := spanDays{at: map[string]int{}}
	var months []time.Time
	var spans [][2]int32 // days since 2000-01-01
	for _, s := range w.Spans() {
		if s.Grain != db.GrainDay {
			continue
		}
		spans = append(spans, [2]int32{epochDay(s.From) - pgEpochDay, epochDay(s.To) - pgEpochDay})
		for m := s.From.AddDate(0, 0, 1-s.From.Day()); !m.After(s.To); m = m.AddDate(0, 1, 0) {
			months = append(months, m)
		}
	}
	if len(months) == 0 {
		return d, nil
	}
	rows, err := q.Query(ctx, `
SELECT days, trips, mileage, fuel, shipments, sum_cost, sum_dt, vehicle_id
FROM agg_vehicle_days WHERE `+vehicleDaysOfSQL, months, yearsOf(months))
	if err != nil {
		return d, fmt.Errorf("read vehicle days: %w", err)
	}
	defer rows.Close()
	var e vehicleDayEntries
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 8 {
			return d, fmt.Errorf("read vehicle days: %w", pgcopy.ErrArrayEncoding)
		}
		e.reset()
		if err := e.decode(v[:7]); err != nil {
			return d, fmt.Errorf("read vehicle days: %w", err)
		}
		for k, day := range e.days {
			if !slices.ContainsFunc(spans, func(s [2]int32) bool { return day >= s[0] && day <= s[1] }) {
				continue
			}
			i, ok := d.at[string(v[7])]
			if !ok {
				i = len(d.ids)
				d.at[string(v[7])] = i
				d.ids = append(d.ids, string(v[7]))
				d.sums.push(&e, k)
				continue
			}
			d.sums.add(i, &e, k)
		}
	}
	if err := rows.Err(); err != nil {
		return d, fmt.Errorf("read vehicle days: %w", err)
	}
	return d, nil
}

// ReadVehicleInfo returns a vehicle of the served version; ok is false if
// there is no such vehicle.
func ReadVehicleInfo(ctx context.Context, q Querier, id string) (info VehicleInfo, ok bool, err error) {
	err = q.QueryRow(ctx, `SELECT vehicle_id, name, total_mileage FROM agg_vehicle_info WHERE vehicle_id = $1`, id).
		Scan(&info.ID, &info.Name, &info.TotalMileage)
	if errors.Is(err, pgx.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("read vehicle %q: %w", id, err)
	}
	return info, true, nil
}

// VehicleDay is a vehicle's figures on one day.
type VehicleDay struct {
	Day       time.Time
	Trips     int64
	Mileage   float64
	Fuel      float64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// ReadVehicleDays returns the days of the window on which the vehicle has
// a log, in date order, from its rows of the window's months and years
// (vehicleDaysOfSQL), decoded and merged here as the index does.
func ReadVehicleDays(ctx context.Context, q Querier, id string, w Window) ([]VehicleDay, error) {
	rows, err := q.Query(ctx, `
SELECT days, trips, mileage, fuel, shipments, sum_cost, sum_dt
FROM agg_vehicle_days
WHERE vehicle_id = $1 AND period BETWEEN date_trunc('year', $2::date)::date AND $3
  AND (segment > 0 OR period >= date_trunc('month', $2::date)::date)`, id, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("read vehicle %q days: %w", id, err)
	}
	defer rows.Close()
	var e vehicleDayEntries
	for rows.Next() {
		if err := e.decode(rows.RawValues()); err != nil {
			return nil, fmt.Errorf("read vehicle %q days: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read vehicle %q days: %w", id, err)
	}
	e.merge(new([]int))
	from, to := epochDay(w.Start)-pgEpochDay, epochDay(w.End)-pgEpochDay
	out := make([]VehicleDay, 0, len(e.days))
	for k, day := range e.days {
		if day < from || day > to || e.trips[k] == 0 {
			continue
		}
		out = append(out, VehicleDay{Day: time.Unix(int64(day+pgEpochDay)*86400, 0).UTC(), Trips: e.trips[k],
			Mileage: e.mileage[k], Fuel: e.fuel[k], Shipments: e.shipments[k], SumCost: e.cost[k], SumDT: e.dt[k]})
	}
	return out, nil
}

// VehicleRoute is a vehicle's figures on one route over a window.
type VehicleRoute struct {
	RouteKey
	// Trips counts the vehicle's logs that carried a shipment of the route.
	Trips     int64
	Shipments int64
	SumCost   float64
	SumDT     int64
}

// ReadVehicleRoutes returns the routes the vehicle carried shipments on in
// the window, in no particular order (the one caller keeps the top few),
// from its rows of the window's years. A year the window covers whole comes
// without its days: every entry counts, and PostgreSQL sends an array
// element by element, the days being one of the seven.
func ReadVehicleRoutes(ctx context.Context, q Querier, id string, w Window) ([]VehicleRoute, error) {
	rows, err := q.Query(ctx, `
SELECT CASE WHEN period >= $2::date AND (period + interval '1 year')::date <= $3::date + 1 THEN NULL ELSE days END,
       origins, destinations, trips, shipments, sum_cost, sum_dt
FROM agg_vehicle_routes
WHERE vehicle_id = $1 AND period BETWEEN date_trunc('year', $2::date) AND $3`, id, w.Start, w.End)
	if err != nil {
		return nil, fmt.Errorf("read vehicle %q routes: %w", id, err)
	}
	defer rows.Close()
	from, to := epochDay(w.Start)-pgEpochDay, epochDay(w.End)-pgEpochDay
	var (
		out []VehicleRoute
		// A route's place in out, by origin, NUL and destination: text
		// holds no NUL, and looking up a converted []byte allocates nothing.
		at  map[string]int
		key []byte
		e   vehicleRouteEntries
	)
	for rows.Next() {
		if err := e.decode(rows.RawValues()); err != nil {
			return nil, fmt.Errorf("read vehicle %q routes: %w", id, err)
		}
		if at == nil {
			// Sized from the first year's entries in the window, as if
			// every year of the window held as many, so that neither
			// grows; up to a bound, as a window may span centuries.
			n := 0
			for i := range e.origins {
				if e.in(i, from, to) {
					n++
				}
			}
			n = min(n*(w.End.Year()-w.Start.Year()+1), maxRoutesHint)
			at, out = make(map[string]int, n), make([]VehicleRoute, 0, n)
		}
		for i := range e.origins {
			if !e.in(i, from, to) {
				continue
			}
			key = append(append(append(key[:0], e.origins[i]...), 0), e.destinations[i]...)
			k, ok := at[string(key)]
			if !ok {
				k = len(out)
				// One string holds the key and both names.
				ks := string(key)
				at[ks] = k
				n := len(e.origins[i])
				out = append(out, VehicleRoute{RouteKey: RouteKey{Origin: ks[:n], Destination: ks[n+1:]}})
			}
			r := &out[k]
			r.Trips += e.trips[i]
			r.Shipments += e.shipments[i]
			r.SumCost += e.cost[i]
			r.SumDT += e.dt[i]
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read vehicle %q routes: %w", id, err)
	}
	return out, nil
}

// maxRoutesHint bounds the routes ReadVehicleRoutes makes room for before
// it reads them: twice a vehicle's over three years at 10M shipments.
const maxRoutesHint = 4096

// vehicleRouteEntries are a row of agg_vehicle_routes, decoded; the names
// point into the row.
type vehicleRouteEntries struct {
	days                  []int32 // days since 2000-01-01; none when the row came without them
	origins, destinations [][]byte
	trips, shipments, dt  []int64
	cost                  []float64
}

func (e *vehicleRouteEntries) decode(v [][]byte) error {
	if len(v) != 7 {
		return pgcopy.ErrArrayEncoding
	}
	var err error
	if e.origins, err = pgcopy.TextArray(v[1], -1, e.origins[:0]); err != nil {
		return err
	}
	n := len(e.origins)
	if e.destinations, err = pgcopy.TextArray(v[2], n, e.destinations[:0]); err != nil {
		return err
	}
	e.days = e.days[:0]
	if v[0] != nil {
		e.days = fixedArray(&err, v[0], n, 4, e.days, integer)
	}
	e.trips = fixedArray(&err, v[3], n, 4, e.trips[:0], integer64)
	e.shipments = fixedArray(&err, v[4], n, 4, e.shipments[:0], integer64)
	e.cost = fixedArray(&err, v[5], n, 8, e.cost[:0], float8)
	e.dt = fixedArray(&err, v[6], n, 8, e.dt[:0], bigint)
	return err
}

// in is whether entry i lies in days from..to: any entry of a row that came
// without its days does.
func (e *vehicleRouteEntries) in(i int, from, to int32) bool {
	return len(e.days) == 0 || e.days[i] >= from && e.days[i] <= to
}

// vehicleDayEntries are a row of agg_vehicle_days, decoded, or the entries
// of a vehicle's year, merged from its rows.
type vehicleDayEntries struct {
	days                 []int32 // days since 2000-01-01
	trips, shipments, dt []int64
	mileage, fuel, cost  []float64
}

func (e *vehicleDayEntries) reset() {
	e.days, e.trips, e.shipments, e.dt = e.days[:0], e.trips[:0], e.shipments[:0], e.dt[:0]
	e.mileage, e.fuel, e.cost = e.mileage[:0], e.fuel[:0], e.cost[:0]
}

// decode appends the entries of a row's seven arrays.
func (e *vehicleDayEntries) decode(v [][]byte) error {
	if len(v) != 7 {
		return pgcopy.ErrArrayEncoding
	}
	n, _, err := pgcopy.ArrayBody(v[0])
	e.days = fixedArray(&err, v[0], n, 4, e.days, integer)
	e.trips = fixedArray(&err, v[1], n, 4, e.trips, integer64)
	e.mileage = fixedArray(&err, v[2], n, 8, e.mileage, float8)
	e.fuel = fixedArray(&err, v[3], n, 8, e.fuel, float8)
	e.shipments = fixedArray(&err, v[4], n, 4, e.shipments, integer64)
	e.cost = fixedArray(&err, v[5], n, 8, e.cost, float8)
	e.dt = fixedArray(&err, v[6], n, 8, e.dt, bigint)
	return err
}

// merge sorts the entries by day and adds up those of one day, which
// the rebuild's row of its month and the refreshes' segments of its year
// may each hold.
func (e *vehicleDayEntries) merge(perm *[]int) {
	p := (*perm)[:0]
	for i := range e.days {
		p = append(p, i)
	}
	slices.SortStableFunc(p, func(a, b int) int { return cmp.Compare(e.days[a], e.days[b]) })
	*perm = p
	var m vehicleDayEntries
	for _, i := range p {
		if k := len(m.days) - 1; k >= 0 && m.days[k] == e.days[i] {
			m.add(k, e, i)
		} else {
			m.push(e, i)
		}
	}
	*e = m
}

// push appends entry i of o.
func (e *vehicleDayEntries) push(o *vehicleDayEntries, i int) {
	e.days = append(e.days, o.days[i])
	e.trips = append(e.trips, o.trips[i])
	e.shipments = append(e.shipments, o.shipments[i])
	e.dt = append(e.dt, o.dt[i])
	e.mileage = append(e.mileage, o.mileage[i])
	e.fuel = append(e.fuel, o.fuel[i])
	e.cost = append(e.cost, o.cost[i])
}

// add adds entry i of o to entry k.
func (e *vehicleDayEntries) add(k int, o *vehicleDayEntries, i int) {
	e.trips[k] += o.trips[i]
	e.shipments[k] += o.shipments[i]
	e.dt[k] += o.dt[i]
	e.mileage[k] += o.mileage[i]
	e.fuel[k] += o.fuel[i]
	e.cost[k] += o.cost[i]
}
