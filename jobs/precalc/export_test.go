package precalc

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PairsNotInFilter counts the (route, vehicle) pairs agg_route_vehicles
// holds that the stored filter does not have; ok is false when there is
// no filter.
func PairsNotInFilter(ctx context.Context, pool *pgxpool.Pool) (missing int, ok bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		f, err := readPairFilter(ctx, tx)
		if err != nil || f == nil {
			return err
		}
		ok = true
		rows, err := tx.Query(ctx, `SELECT DISTINCT origin, destination, v FROM agg_route_vehicles, unnest(vehicle_ids) v`)
		if err != nil {
			return err
		}
		var origin, destination, vehicle string
		n := 0
		_, err = pgx.ForEachRow(rows, []any{&origin, &destination, &vehicle}, func() error {
			n++
			if !f.mayHave(pairHash(routeHash(origin, destination), vehicleHash(vehicle))) {
				missing++
			}
			return nil
		})
		if err == nil && n == 0 {
			err = fmt.Errorf("agg_route_vehicles holds no pair")
		}
		return err
	})
	return missing, ok, err
}
