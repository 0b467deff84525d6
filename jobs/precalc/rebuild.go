package precalc

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/internal/db"
)

// A full rebuild fills a copy of every rollup table (NAME_next) without
// indexes, builds the indexes by sorting, and swaps the copies in. Inserting
// tens of millions of rows one index entry at a time costs several times
// more, and deleting the old rows would leave the tables twice their size.
//
// The copies are built in two lanes at once, each in a transaction of its
// own on a connection of its own, both in one snapshot (the first lane
// exports it, the second imports it): a refresh is CPU-bound in the server,
// and one connection uses one core. Each lane commits its copies, still
// unread, and its hand-overs to the other lane's tables; then one short
// transaction merges the hand-overs, swaps the copies in and publishes the
// version. Copies left by a rebuild that died in between are dropped by the
// next one. Readers lock the tables before their first query (see
// db.AggregateTables), so each of them sees all old tables or all new ones;
// the swap waits for the readers of the old ones, and new readers wait for
// its commit.

const nextSuffix = "_next"

// swapLockTimeout bounds the wait for readers of the old tables.
const swapLockTimeout = "60s"

var aggTableName = regexp.MustCompile(`\b(` + strings.Join(append(slices.Clone(db.AggregateTables), handovers...), "|") + `)\b`)

// onNext rewrites statements to use the copies of the rollup tables and
// the hand-overs.
func onNext(stmts []string) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = aggTableName.ReplaceAllString(s, "${1}"+nextSuffix)
	}
	return out
}

// createNextSQL creates empty copies of tables, without indexes.
func createNextSQL(tables []string) []string {
	var stmts []string
	for _, t := range tables {
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE %s (LIKE %s) %s`, ident(t+nextSuffix), ident(t), noAutovacuum))
	}
	return stmts
}

// noAutovacuum keeps autovacuum off the copies and hand-overs until the
// swap: once a lane commits them, it would analyze them, and the swap's
// locks would each wait a deadlock_timeout for it to be cancelled, while
// the API's readers wait for the swap. The lanes analyze the copies.
const noAutovacuum = `WITH (autovacuum_enabled = false)`

// dropLeftoversSQL drops the copies and hand-overs a failed rebuild may
// have committed.
func dropLeftoversSQL() string {
	var names []string
	for _, t := range append(slices.Clone(db.AggregateTables), handovers...) {
		names = append(names, ident(t+nextSuffix))
	}
	return `DROP TABLE IF EXISTS ` + strings.Join(names, ", ")
}

// lane is one of a full rebuild's two transactions: the copies of tables,
// built by steps.
type lane struct {
	tables []string
	steps  []step
}

// rebuildLanes splits the rebuild in two lanes of about equal work: the
// route and total rows, and the vehicle rows, which also count the distinct
// vehicles of each route and day for the first lane's tables. defs are the
// rollup tables' keys and indexes.
func rebuildLanes(defs []indexDef) [2]lane {
	routes := []string{"agg_routes", "agg_route_totals", "agg_totals"}
	vehicles := []string{"agg_vehicle_routes", "agg_vehicles", "agg_vehicle_info"}
	return [2]lane{
		{tables: routes, steps: []step{
			{"create route and total copies", createNextSQL(routes)},
			{"route days", onNext([]string{hashAggOff, fullRouteDaysSQL, hashAggReset})},
			{"route years", onNext(coarseSQL(true, "agg_routes"))},
			{"route totals", onNext([]string{fullRouteTotalsSQL})},
			{"total days", onNext([]string{fullTotalDaysSQL})},
			{"build route and total indexes", buildIndexesSQL(defs, routes)},
		}},
		{tables: vehicles, steps: []step{
			{"create vehicle copies", createNextSQL(vehicles)},
			{"vehicle route days", onNext([]string{hashAggOff, fullVehicleRouteDaysSQL, hashAggReset})},
			{"vehicle days", onNext([]string{fullVehicleDaysSQL})},
			{"vehicle months and years", onNext(coarseSQL(true, "agg_vehicles"))},
			{"vehicle names", onNext([]string{fullVehicleInfoSQL})},
			{"vehicles per route and day", onNext(append(slices.Clone(routeVehiclesSQL), dayVehiclesSQL...))},
			{"build vehicle indexes", buildIndexesSQL(defs, vehicles)},
		}},
	}
}

const fullVehicleInfoSQL = `INSERT INTO agg_vehicle_info (vehicle_id, name, total_mileage)
SELECT vehicle_id, name, total_mileage FROM vehicles`

// indexDef is a unique constraint or an index of a rollup table.
type indexDef struct {
	table, name string
	constraint  bool
	unique      bool
	// def is the constraint's definition ("PRIMARY KEY (a, b)") or the
	// index's from USING on ("USING btree (a, b) WHERE ...").
	def string
}

const indexDefsSQL = `
SELECT t.relname, c.conname, true, pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
WHERE t.oid = ANY($1::regclass[]) AND c.contype IN ('p', 'u')
UNION ALL
SELECT t.relname, i.relname, false, pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.oid = ANY($1::regclass[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY 1, 2`

// indexDefs reads the rollup tables' keys and indexes, as the migrations
// made them, so the copies get the same.
func indexDefs(ctx context.Context, q querier) ([]indexDef, error) {
	rows, err := q.Query(ctx, indexDefsSQL, db.AggregateTables)
	if err != nil {
		return nil, err
	}
	defs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (indexDef, error) {
		var d indexDef
		err := row.Scan(&d.table, &d.name, &d.constraint, &d.def)
		return d, err
	})
	if err != nil {
		return nil, err
	}
	for i, d := range defs {
		if !d.constraint {
			at := strings.Index(d.def, " USING ")
			if at < 0 {
				return nil, fmt.Errorf("index %s: unexpected definition %q", d.name, d.def)
			}
			defs[i].unique = strings.HasPrefix(d.def, "CREATE UNIQUE INDEX ")
			defs[i].def = d.def[at+1:]
		}
	}
	return defs, nil
}

// buildIndexesSQL gives the copies of tables their keys and indexes, under
// temporary names.
func buildIndexesSQL(defs []indexDef, tables []string) []string {
	var stmts []string
	for _, d := range defs {
		if !slices.Contains(tables, d.table) {
			continue
		}
		table, name := ident(d.table+nextSuffix), ident(d.name+nextSuffix)
		if d.constraint {
			stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s`, table, name, d.def))
		} else {
			create := "CREATE INDEX"
			if d.unique {
				create = "CREATE UNIQUE INDEX"
			}
			stmts = append(stmts, fmt.Sprintf(`%s %s ON %s %s`, create, name, table, d.def))
		}
	}
	return stmts
}

// vacuumSQL vacuums and analyzes the copies of tables. A vacuum marks
// their pages all-visible, so index-only scans (the API's, and the next
// refresh's count of a route's vehicles) need not visit the rows: without
// it the next refresh took 12 s instead of 1 s at 10M shipments, until
// autovacuum came by.
func vacuumSQL(tables []string) string {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = ident(t + nextSuffix)
	}
	return `VACUUM (ANALYZE) ` + strings.Join(names, ", ")
}

// daysSQL counts the days the rebuild covers: every day with a log (a
// shipment's day is its log's).
var daysSQL = onNext([]string{`SELECT count(*) FROM agg_totals WHERE grain = 0`})[0]

// mergeSQL completes the copies with the lanes' hand-overs, then drops them.
func mergeSQL() []string {
	stmts := append(slices.Clone(mergeHandoversSQL), coarseSQL(true, "agg_totals")...)
	for _, t := range handovers {
		stmts = append(stmts, `DROP TABLE `+ident(t))
	}
	return onNext(stmts)
}

// swapSQL replaces the rollup tables by their copies.
func swapSQL(defs []indexDef) []string {
	tables := make([]string, len(db.AggregateTables))
	for i, t := range db.AggregateTables {
		tables[i] = ident(t)
	}
	stmts := []string{
		`SET LOCAL lock_timeout = '` + swapLockTimeout + `'`,
		`LOCK TABLE ` + strings.Join(tables, ", ") + ` IN ACCESS EXCLUSIVE MODE`,
		`DROP TABLE ` + strings.Join(tables, ", "),
	}
	for _, t := range db.AggregateTables {
		stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, ident(t+nextSuffix), ident(t)),
			fmt.Sprintf(`ALTER TABLE %s RESET (autovacuum_enabled)`, ident(t)))
	}
	for _, d := range defs {
		if d.constraint {
			stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s RENAME CONSTRAINT %s TO %s`,
				ident(d.table), ident(d.name+nextSuffix), ident(d.name)))
		} else {
			stmts = append(stmts, fmt.Sprintf(`ALTER INDEX %s RENAME TO %s`, ident(d.name+nextSuffix), ident(d.name)))
		}
	}
	return stmts
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// rebuild recomputes every rollup table into copies, in two lanes at once
// on conn and a second connection from pool, then swaps the copies in and
// publishes them as the next version, on conn.
func rebuild(ctx context.Context, pool *pgxpool.Pool, conn *pgx.Conn, res *Result, log logr.Logger) error {
	if pool.Config().MaxConns < 2 {
		return errors.New("a full rebuild needs a pool of at least 2 connections")
	}
	if _, err := conn.Exec(ctx, dropLeftoversSQL()); err != nil {
		return fmt.Errorf("drop copies left by a failed rebuild: %w", err)
	}
	defs, err := indexDefs(ctx, conn)
	if err != nil {
		return fmt.Errorf("read rollup indexes: %w", err)
	}
	other, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer other.Release()

	rr := pgx.TxOptions{IsoLevel: pgx.RepeatableRead}
	txs := [2]pgx.Tx{}
	if txs[0], err = conn.BeginTx(ctx, rr); err != nil {
		return err
	}
	defer func() { _ = txs[0].Rollback(context.WithoutCancel(ctx)) }()
	var snapshot string
	if err := txs[0].QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return fmt.Errorf("export snapshot: %w", err)
	}
	if txs[1], err = other.BeginTx(ctx, rr); err != nil {
		return err
	}
	defer func() { _ = txs[1].Rollback(context.WithoutCancel(ctx)) }()
	// SET TRANSACTION takes no parameters; the id is the server's own.
	if _, err := txs[1].Exec(ctx, `SET TRANSACTION SNAPSHOT '`+strings.ReplaceAll(snapshot, "'", "''")+`'`); err != nil {
		return fmt.Errorf("import snapshot: %w", err)
	}

	lanes := rebuildLanes(defs)
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range lanes {
		tx := txs[i]
		log := log.WithValues("lane", i+1)
		g.Go(func() error {
			if err := tune(gctx, tx); err != nil {
				return err
			}
			// The vacuum after the lanes can mark a page all-visible only
			// once the commit of its rows is flushed.
			if _, err := tx.Exec(gctx, `SET LOCAL synchronous_commit = on`); err != nil {
				return fmt.Errorf("set synchronous commit: %w", err)
			}
			if err := runSteps(gctx, tx, l.steps, log); err != nil {
				return err
			}
			if i == 0 {
				if err := tx.QueryRow(gctx, daysSQL).Scan(&res.Days); err != nil {
					return fmt.Errorf("count days: %w", err)
				}
			}
			return tx.Commit(gctx)
		})
	}
	if err := g.Wait(); err != nil {
		// Copies one lane committed are dropped by the next rebuild.
		return err
	}
	// Only now: while one lane's snapshot is open, the other's rows are
	// not yet visible to all, and a vacuum would leave them unmarked.
	g, gctx = errgroup.WithContext(ctx)
	for i, c := range []*pgx.Conn{conn, other.Conn()} {
		g.Go(func() error {
			step := []step{{"vacuum and analyze copies", []string{vacuumSQL(lanes[i].tables)}}}
			return runSteps(gctx, c, step, log.WithValues("lane", i+1))
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		steps := []step{{"merge hand-overs", mergeSQL()}, {"swap tables", swapSQL(defs)}, {"publish", publishSQL}}
		if err := runSteps(ctx, tx, steps, log); err != nil {
			return err
		}
		return tx.QueryRow(ctx, recordRefreshSQL, res.Started, res.Full, res.Days).Scan(&res.Version, &res.Finished)
	})
}
