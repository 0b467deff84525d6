// Package rollup reads the aggregates that jobs/precalc writes: it turns a
// date window into the few day, month and year rows that cover it, and
// returns per-family figures (totals, routes, vehicles) as exact sums, for
// the API to derive its answers from. It never reads the raw tables.
package rollup

import (
	"time"

	"github.com/haul-dev/haul/internal/db"
)

// Window is a range of trip dates, both ends inclusive, at UTC midnight.
type Window struct {
	Start, End time.Time
}

// Span is a run of consecutive periods of one grain: the rows of that
// grain whose period is in [From, To].
type Span struct {
	Grain    int16
	From, To time.Time
}

// Spans covers w with the fewest rows: days up to the first month boundary,
// months up to the first year boundary, whole years, then months and days
// again. An empty window (End before Start) has no spans.
func (w Window) Spans() []Span {
	var spans []Span
	add := func(g int16, from, to time.Time) {
		if n := len(spans); n > 0 && spans[n-1].Grain == g {
			spans[n-1].To = to
			return
		}
		spans = append(spans, Span{Grain: g, From: from, To: to})
	}
	d := w.Start
	for !d.After(w.End) {
		switch {
		case d.YearDay() == 1 && !d.AddDate(1, 0, -1).After(w.End):
			add(db.GrainYear, d, d)
			d = d.AddDate(1, 0, 0)
		case d.Day() == 1 && !d.AddDate(0, 1, -1).After(w.End):
			add(db.GrainMonth, d, d)
			d = d.AddDate(0, 1, 0)
		default:
			add(db.GrainDay, d, d)
			d = d.AddDate(0, 0, 1)
		}
	}
	return spans
}

// spanArgs are the three arrays the queries unnest into (grain, from, to).
func (w Window) spanArgs() (grains []int16, froms, tos []time.Time) {
	for _, s := range w.Spans() {
		grains = append(grains, s.Grain)
		froms = append(froms, s.From)
		tos = append(tos, s.To)
	}
	return grains, froms, tos
}

// spansJoin joins alias's rows to the window's spans passed as $1..$3.
func spansJoin(alias string) string {
	return `JOIN unnest($1::smallint[], $2::date[], $3::date[]) AS w(grain, from_p, to_p)
	  ON ` + alias + `.grain = w.grain AND ` + alias + `.period BETWEEN w.from_p AND w.to_p`
}
