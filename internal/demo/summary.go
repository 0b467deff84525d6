// Package demo is what `haul demo` reports of the aggregates it built: the
// all-time figures, read as the API reads them. The command (cmd/haul/app)
// only wires its steps together.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/haul-dev/haul/internal/rollup"
)

// Summary is the all-time figures of the aggregates.
type Summary struct {
	rollup.Totals
	// Routes counts the routes (origin, destination) with a shipment.
	Routes int
}

// allTime is a window over every date the aggregates can hold.
var allTime = rollup.Window{Start: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}

// ReadSummary reads the all-time figures from one version of the
// aggregates.
func ReadSummary(ctx context.Context, b rollup.Beginner) (Summary, error) {
	tx, err := rollup.Begin(ctx, b)
	if err != nil {
		return Summary{}, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	t, err := rollup.ReadTotals(ctx, tx, allTime)
	if err != nil {
		return Summary{}, err
	}
	routes, err := rollup.ReadRoutes(ctx, tx, allTime)
	if err != nil {
		return Summary{}, err
	}
	return Summary{Totals: t, Routes: len(routes)}, nil
}

// String is the line the demo prints.
func (s Summary) String() string {
	return fmt.Sprintf("all time: %d shipments on %d trips by %d vehicles, %d routes, cost %.2f, mean delivery time %.2f h",
		s.Shipments, s.Logs, s.Vehicles, s.Routes, s.SumCost, s.MeanDT())
}
