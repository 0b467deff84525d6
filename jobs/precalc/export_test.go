package precalc

import (
	"context"
	"fmt"
	"math/bits"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RouteVehicleSetsMismatch compares the stored route vehicle sets with the
// pairs of a route and a vehicle agg_route_vehicles holds: missing are
// pairs the sets lack, extra pairs they hold that are not stored; ok is
// false when there are none of the current version.
func RouteVehicleSetsMismatch(ctx context.Context, pool *pgxpool.Pool) (missing, extra int, ok bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		stored, err := readSetsRows(ctx, tx)
		if err != nil || stored == nil {
			return err
		}
		ok = true
		sets, _, err := decodeSets(stored)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT origin, destination, v FROM agg_route_vehicles, unnest(vehicle_ids) v
			UNION SELECT origin, de, v FROM agg_origin_vehicles, unnest(destinations, vehicle_ids) AS u(de, v)`)
		if err != nil {
			return err
		}
		var r routeName
		var vehicle string
		n := 0
		_, err = pgx.ForEachRow(rows, []any{&r.origin, &r.destination, &vehicle}, func() error {
			n++
			at, ok := sets.routeAt[r]
			v, known := sets.vehicleAt[vehicle]
			if !ok || !known {
				missing++
			} else if _, found := slices.BinarySearch(sets.sets[at], v); !found {
				missing++
			}
			return nil
		})
		if err == nil && n == 0 {
			err = fmt.Errorf("agg_route_vehicles holds no pair")
		}
		extra = sets.pairs() - (n - missing)
		return err
	})
	return missing, extra, ok, err
}

// ShipDaysMismatch compares the stored vehicle ship days with the days
// agg_vehicle_days holds shipments on: missing are stored days they lack,
// extra the days they hold that are not stored; ok is false when there are
// none of the current version.
func ShipDaysMismatch(ctx context.Context, pool *pgxpool.Pool) (missing, extra int, ok bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		b, err := readState(ctx, tx, stateVehicleShipDays)
		if err != nil || b == nil {
			return err
		}
		ok = true
		days, err := unmarshalShipDays(b)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT vehicle_id, d - '2000-01-01'::date
FROM agg_vehicle_days, unnest(days, shipments) AS u(d, n) GROUP BY 1, 2 HAVING sum(n) > 0`)
		if err != nil {
			return err
		}
		var vehicle string
		var day int32
		stored := 0
		_, err = pgx.ForEachRow(rows, []any{&vehicle, &day}, func() error {
			stored++
			if days.add(vehicle, day) {
				missing++
			}
			return nil
		})
		held := 0
		for _, words := range days {
			for _, w := range words {
				held += bits.OnesCount64(w)
			}
		}
		extra = held - stored
		if err == nil && stored == 0 {
			err = fmt.Errorf("agg_vehicle_days holds no day with shipments")
		}
		return err
	})
	return missing, extra, ok, err
}
