package rollup

import (
	"context"
	"encoding/binary"

	"github.com/haul-dev/haul/internal/pgcopy"
)

// agg_routes keeps a row per day and segment whose arrays hold the day's
// (route, delivery time) entries (migration 00008). The readers take a
// day's rows together and count each entry's on-time shipments against its
// (day, route) group, which is not stored: new rows move the group's mean.

// They read the rows of a day together (ORDER BY period): a day's entries
// are in all its segments. The route index counts its runs from the first
// four columns first.
const (
	routeDayColumns = `period, origins, destinations, delivery_times, shipments, sum_cost, sum_weight, sum_cpk, sum_cpt`
	routeDaysSQL    = `SELECT ` + routeDayColumns + ` FROM agg_routes ORDER BY period, segment`
	routeRunsSQL    = `SELECT period, origins, destinations, delivery_times FROM agg_routes ORDER BY period, segment`
	routeWindowSQL  = `SELECT ` + routeDayColumns + ` FROM agg_routes
WHERE period BETWEEN $1 AND $2 ORDER BY period, segment`
)

// routeDay is one day's route entries, from every row (segment) of the
// day: an entry's route and delivery time may stand in two segments.
type routeDay struct {
	// day is in days since 1970-01-01.
	day                    int32
	origin, destination    [][]byte
	dt                     []int32
	n                      []int64
	cost, weight, cpk, cpt []float64
}

func (d *routeDay) reset(day int32) {
	*d = routeDay{day: day, origin: d.origin[:0], destination: d.destination[:0], dt: d.dt[:0], n: d.n[:0],
		cost: d.cost[:0], weight: d.weight[:0], cpk: d.cpk[:0], cpt: d.cpt[:0]}
}

// add decodes a row's arrays (binary, one dimension, no NULL), in the
// order of routeDayColumns and as many of them as v holds, and appends its
// entries. The name slices point into v, which the caller keeps.
func (d *routeDay) add(v [][]byte) error {
	start := len(d.origin)
	var err error
	if d.origin, err = pgcopy.TextArray(v[1], -1, d.origin); err != nil {
		return err
	}
	n := len(d.origin) - start
	if d.destination, err = pgcopy.TextArray(v[2], n, d.destination); err != nil {
		return err
	}
	d.dt = fixedArray(&err, v[3], n, 4, d.dt, integer)
	if len(v) == 4 {
		return err
	}
	d.n = fixedArray(&err, v[4], n, 4, d.n, integer64)
	for c, sums := range []*[]float64{&d.cost, &d.weight, &d.cpk, &d.cpt} {
		*sums = fixedArray(&err, v[5+c], n, 8, *sums, float8)
	}
	return err
}

// readRouteDays calls fn with each day's entries, in day order, from the
// rows sql selects (routeDaysSQL, routeWindowSQL). The day is reused after
// fn returns.
func readRouteDays(ctx context.Context, q Querier, fn func(*routeDay) error, sql string, args ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	// The day's rows, copied (pgx reuses its buffers) into buffers kept
	// from day to day: a day's rows are hundreds of kB, and an index build
	// reads every day twice, which the collector would otherwise meet as
	// garbage while the index grows.
	var (
		d    routeDay
		held [][][]byte
		n    int // rows of held in use
	)
	flush := func() error {
		for _, v := range held[:n] {
			if err := d.add(v); err != nil {
				return err
			}
		}
		n = 0
		return fn(&d)
	}
	for rows.Next() {
		v := rows.RawValues()
		if (len(v) != 4 && len(v) != 9) || len(v[0]) != 4 {
			return pgcopy.ErrArrayEncoding
		}
		// A binary date is days since 2000-01-01.
		day := int32(binary.BigEndian.Uint32(v[0])) + pgEpochDay
		if n > 0 && day != d.day {
			if err := flush(); err != nil {
				return err
			}
		}
		if n == 0 {
			d.reset(day)
		}
		if n == len(held) {
			held = append(held, nil)
		}
		row := held[n][:0]
		for i, b := range v {
			if i < cap(row) {
				row = row[:i+1]
				row[i] = append(row[i][:0], b...)
			} else {
				row = append(row, append([]byte(nil), b...))
			}
		}
		held[n] = row
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n > 0 {
		return flush()
	}
	return nil
}

// onTimeDay counts each entry's shipments that are at or below their
// (day, route) group's mean delivery time (docs/api.md#39-get-apiroutetop-performing),
// compared exactly as dt·n <= Σdt: all shipments of an entry share dt, so
// are all on time or none. route[i] is entry i's route as a number below
// routes; group is scratch space, returned for reuse.
func onTimeDay(d *routeDay, route []int32, routes int, onTime []int64, group [][2]int64) ([]int64, [][2]int64) {
	if len(group) < routes {
		group = make([][2]int64, routes)
	}
	for i, r := range route {
		group[r][0] += d.n[i]
		group[r][1] += int64(d.dt[i]) * d.n[i]
	}
	onTime = onTime[:0]
	for i, r := range route {
		g := group[r]
		if int64(d.dt[i])*g[0] <= g[1] {
			onTime = append(onTime, d.n[i])
		} else {
			onTime = append(onTime, 0)
		}
	}
	for _, r := range route {
		group[r] = [2]int64{}
	}
	return onTime, group
}
