package precalc

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A refresh keeps beside the rollups what spares it lookups in them, a row
// of precalc_refresh_state per kind (migrations 00013, 00015): each route's
// vehicles (routevehicles.go; and a row per delta: setsdelta.go) and the
// days each vehicle carried a shipment on (shipdays.go). The rebuild writes them, each
// refresh adds its rows, and they are written once the transaction that
// publishes a version has bumped it, with that version. A row is read only
// for the version it was written with: an older haul publishes versions
// without writing it, and then it may lack what that version added.
const (
	readStateSQL = `SELECT r.data FROM precalc_refresh_state r
JOIN precalc_state s ON s.version = r.version WHERE r.name = $1`
	writeStateSQL = `INSERT INTO precalc_refresh_state (name, version, data)
SELECT $1, version, $2 FROM precalc_state
ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data`
)

// The kinds of state.
const (
	stateRouteVehicleSets = "route_vehicle_sets"
	stateVehicleShipDays  = "vehicle_ship_days"
)

// readState returns the named state of the current version, or nil when
// there is none.
func readState(ctx context.Context, tx pgx.Tx, name string) ([]byte, error) {
	var data []byte
	err := tx.QueryRow(ctx, readStateSQL, name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

func writeState(ctx context.Context, tx pgx.Tx, name string, data []byte) error {
	if _, err := tx.Exec(ctx, writeStateSQL, name, data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
