package rollup

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/haul-dev/haul/internal/db"
)

// Querier runs queries: a pgx.Tx, so that every figure of one answer comes
// from one version of the aggregates (see Begin).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Beginner starts transactions: a pool or a connection.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Begin starts the read-only snapshot one answer is computed in: a refresh
// committing meanwhile is not seen, so every figure comes from one version.
// It locks the rollup tables first (db.AggregateTables): a full rebuild
// swaps them, and a snapshot taken before the swap would see the new tables
// empty. The snapshot is taken by the first query, after the locks.
func Begin(ctx context.Context, b Beginner) (pgx.Tx, error) {
	tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	if _, err := tx.Exec(ctx, lockTablesSQL); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("lock aggregates: %w", err)
	}
	return tx, nil
}

var lockTablesSQL = func() string {
	tables := make([]string, len(db.AggregateTables))
	for i, t := range db.AggregateTables {
		tables[i] = pgx.Identifier{t}.Sanitize()
	}
	return "LOCK TABLE " + strings.Join(tables, ", ") + " IN ACCESS SHARE MODE"
}()

// Stats are the additive figures of a set of shipments.
type Stats struct {
	Shipments int64
	SumCost   float64
	SumWeight float64
	// SumDT is exact; SumDT2 (Σ delivery_time²) is exact too, as it can
	// exceed an int64.
	SumDT  int64
	SumDT2 *big.Int
	// MinDT and MaxDT are 0 when there are no shipments.
	MinDT, MaxDT int64
}

// MeanDT is Σt / n, 0 for no shipments.
func (s Stats) MeanDT() float64 {
	if s.Shipments == 0 {
		return 0
	}
	return float64(s.SumDT) / float64(s.Shipments)
}

// SDDT is the sample standard deviation of delivery_time (docs/api.md#12-windows-and-dates):
// sqrt((Σt² − (Σt)²/n) / (n − 1)), 0 for n < 2, the variance clamped at 0.
// The numerator n·Σt² − (Σt)² is computed exactly.
func (s Stats) SDDT() float64 {
	n := s.Shipments
	if n < 2 || s.SumDT2 == nil {
		return 0
	}
	// Most routes' sums are small: in 64 bits, the same exact numerator
	// costs no allocation, and below 2^53 its quotient rounds as the big
	// one does (the divisor is exact up to n = 2^26).
	if sq := s.SumDT2; sq.IsUint64() && s.SumDT < 1<<31 && n < 1<<26 {
		hi, a := bits.Mul64(uint64(n), sq.Uint64())
		b := uint64(s.SumDT) * uint64(s.SumDT)
		switch {
		case hi == 0 && a <= b:
			return 0
		case hi == 0 && a-b < 1<<53:
			return math.Sqrt(float64(a-b) / (float64(n) * float64(n-1)))
		}
	}
	num := new(big.Int).Mul(big.NewInt(n), s.SumDT2)
	num.Sub(num, new(big.Int).Mul(big.NewInt(s.SumDT), big.NewInt(s.SumDT)))
	if num.Sign() <= 0 {
		return 0
	}
	v, _ := new(big.Float).Quo(new(big.Float).SetInt(num), big.NewFloat(float64(n)*float64(n-1))).Float64()
	return math.Sqrt(v)
}

// Totals are a window's figures over all its logs and shipments.
type Totals struct {
	Stats
	Logs    int64
	Mileage float64
	Fuel    float64
	// CarryingMileage is the mileage of the logs that carried a shipment.
	CarryingMileage float64
	// MinCPK and MaxCPK bound cost / weight over single shipments.
	MinCPK, MaxCPK float64
	// ShipDays counts the days with a shipment; VehicleDays adds, over
	// those days, the number of distinct vehicles that carried one.
	ShipDays, VehicleDays int64
	// Vehicles counts the distinct vehicles that carried a shipment in the
	// window (distinct origins and destinations: see Places).
	Vehicles int64
}

// ReadTotals returns the window's totals.
func ReadTotals(ctx context.Context, q Querier, w Window) (Totals, error) {
	out, err := ReadTotalsExceptVehicles(ctx, q, w)
	if err != nil {
		return out, err
	}
	out.Vehicles, err = CountVehicles(ctx, q, w)
	return out, err
}

// ReadTotalsExceptVehicles returns the window's totals but Vehicles, which
// CountVehicles or a VehicleIndex count.
func ReadTotalsExceptVehicles(ctx context.Context, q Querier, w Window) (Totals, error) {
	g, f, t := w.spanArgs()
	var out Totals
	var minDT, maxDT pgtype.Int8
	var minCPK, maxCPK pgtype.Float8
	var dt2 string
	err := q.QueryRow(ctx, `
SELECT coalesce(sum(a.logs), 0)::bigint, coalesce(sum(a.mileage), 0), coalesce(sum(a.fuel), 0),
       coalesce(sum(a.carrying_mileage), 0), coalesce(sum(a.shipments), 0)::bigint,
       coalesce(sum(a.sum_cost), 0), coalesce(sum(a.sum_weight), 0), coalesce(sum(a.sum_dt), 0)::bigint,
       coalesce(sum(a.sum_dt2), 0)::text, min(a.min_dt), max(a.max_dt), min(a.min_cpk), max(a.max_cpk),
       coalesce(sum(a.ship_days), 0)::bigint, coalesce(sum(a.vehicle_days), 0)::bigint
FROM agg_totals a `+spansJoin("a"), g, f, t).Scan(
		&out.Logs, &out.Mileage, &out.Fuel, &out.CarryingMileage, &out.Shipments,
		&out.SumCost, &out.SumWeight, &out.SumDT, &dt2, &minDT, &maxDT, &minCPK, &maxCPK,
		&out.ShipDays, &out.VehicleDays)
	if err != nil {
		return out, fmt.Errorf("read totals: %w", err)
	}
	out.MinDT, out.MaxDT = minDT.Int64, maxDT.Int64
	out.MinCPK, out.MaxCPK = minCPK.Float64, maxCPK.Float64
	out.SumDT2, err = bigInt(dt2)
	return out, err
}

// CountVehicles counts the distinct vehicles that carried a shipment in the
// window.
func CountVehicles(ctx context.Context, q Querier, w Window) (int64, error) {
	vehicles, err := addUpVehicles(ctx, q, w)
	if err != nil {
		return 0, fmt.Errorf("count vehicles: %w", err)
	}
	var n int64
	for _, v := range vehicles {
		if v.Shipments > 0 {
			n++
		}
	}
	return n, nil
}

func float8(b []byte) float64 { return math.Float64frombits(binary.BigEndian.Uint64(b)) }

// bigInt parses an exact integer PostgreSQL printed.
func bigInt(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("sum of squares %q is not an integer", s)
	}
	return v, nil
}

// ReadVersion returns the served data version; 0 means nothing is
// servable yet.
func ReadVersion(ctx context.Context, q Querier) (int64, error) {
	var v int64
	if err := q.QueryRow(ctx, `SELECT version FROM precalc_state`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read data version: %w", err)
	}
	return v, nil
}

// State is the refresh's state as docs/api.md#311-get-apisystemstatus and Haul's own endpoints
// report it.
type State struct {
	// Version is the served data version; 0 means nothing is servable yet.
	Version     int64
	RefreshedAt *time.Time
	// Refreshing is true while a refresh holds the refresh lock.
	Refreshing  bool
	LastError   *string
	LastErrorAt *time.Time
}

// ReadState returns the refresh's state. Refreshing is read from pg_locks,
// so it cannot stay set after a refresher died.
func ReadState(ctx context.Context, q Querier) (State, error) {
	var s State
	err := q.QueryRow(ctx, `
SELECT version, refreshed_at, last_error, last_error_at,
       EXISTS (SELECT 1 FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND objsubid = 1
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid)
FROM precalc_state`, db.PrecalcLockID).Scan(&s.Version, &s.RefreshedAt, &s.LastError, &s.LastErrorAt, &s.Refreshing)
	if err != nil {
		return s, fmt.Errorf("read refresh state: %w", err)
	}
	return s, nil
}
