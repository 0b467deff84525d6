package precalc

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/internal/db"
)

// A full rebuild adds the rollups up in haul (build.go, addup.go) from the
// raw tables, read in one snapshot, and writes them with COPY into a copy
// of every rollup table (NAME_next) without indexes; it then builds the
// indexes by sorting and swaps the copies in. Inserting tens of millions of
// rows one index entry at a time costs several times more, and deleting
// the old rows would leave the tables twice their size.
//
// The copies load on three connections at once, each in a transaction of
// its own, while haul adds up: loading and indexing are CPU-bound in the
// server, and one connection uses one core. Each commits its copies, still
// unread; the indexes are then built on the three connections, and one
// short transaction swaps the copies in and publishes the version. Copies
// left by a rebuild that died in between are dropped by the next one.
// Readers lock the tables before their first query (see
// db.AggregateTables), so each of them sees all old tables or all new
// ones; the swap waits for the readers of the old ones, and new readers
// wait for its commit.

const nextSuffix = "_next"

// swapLockTimeout bounds the wait for readers of the old tables.
const swapLockTimeout = "60s"

// createNextSQL creates an empty copy of a table, without indexes, with the
// table's storage options (options, as pg_class.reloptions lists them: the
// migrations', such as a fillfactor) and autovacuum off until the swap:
// once a lane commits the copies, it would analyze them, and the swap's
// locks would each wait a deadlock_timeout for it to be cancelled, while
// the API's readers wait for the swap. The lanes analyze the copies.
func createNextSQL(table string, options []string) string {
	return fmt.Sprintf(`CREATE TABLE %s (LIKE %s) WITH (%s)`, ident(table+nextSuffix), ident(table),
		strings.Join(append([]string{"autovacuum_enabled = false"}, options...), ", "))
}

// tableOptionsSQL reads the rollup tables' storage options but autovacuum's,
// which only a failed swap could have left.
const tableOptionsSQL = `
SELECT c.relname, o
FROM pg_class c, unnest(c.reloptions) AS o
WHERE c.oid = ANY ($1::regclass[]) AND o NOT LIKE 'autovacuum\_enabled=%'`

// dropLeftoversSQL drops the copies a failed rebuild may have committed.
func dropLeftoversSQL() string {
	var names []string
	for _, t := range db.AggregateTables {
		names = append(names, ident(t+nextSuffix))
	}
	return `DROP TABLE IF EXISTS ` + strings.Join(names, ", ")
}

// indexDef is a key or an index of a rollup table, built on its copy as an
// index, then made the copy's key.
type indexDef struct {
	table, name string
	// constraint is the key's kind: "PRIMARY KEY", "UNIQUE", or empty for
	// an index.
	constraint string
	unique     bool
	// def is the index's definition from USING on: "USING btree (a, b)".
	def string
	// columns counts the key's columns.
	columns int
}

const indexDefsSQL = `
SELECT t.relname, i.relname, CASE c.contype WHEN 'p' THEN 'PRIMARY KEY' WHEN 'u' THEN 'UNIQUE' ELSE '' END,
       x.indisunique, pg_get_indexdef(i.oid), x.indnkeyatts
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u')
WHERE t.oid = ANY($1::regclass[])
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
		err := row.Scan(&d.table, &d.name, &d.constraint, &d.unique, &d.def, &d.columns)
		return d, err
	})
	if err != nil {
		return nil, err
	}
	for i, d := range defs {
		at := strings.Index(d.def, " USING ")
		if at < 0 {
			return nil, fmt.Errorf("index %s: unexpected definition %q", d.name, d.def)
		}
		defs[i].def = d.def[at+1:]
	}
	return defs, nil
}

// tableOptions reads the rollup tables' storage options (tableOptionsSQL),
// by table.
func tableOptions(ctx context.Context, q querier) (map[string][]string, error) {
	rows, err := q.Query(ctx, tableOptionsSQL, db.AggregateTables)
	if err != nil {
		return nil, err
	}
	options := map[string][]string{}
	var table, option string
	_, err = pgx.ForEachRow(rows, []any{&table, &option}, func() error {
		options[table] = append(options[table], option)
		return nil
	})
	return options, err
}

// createIndexSQL builds an index of a copy, under a temporary name.
func (d indexDef) createIndexSQL() string {
	create := "CREATE INDEX"
	if d.unique {
		create = "CREATE UNIQUE INDEX"
	}
	return fmt.Sprintf(`%s %s ON %s %s`, create, ident(d.name+nextSuffix), ident(d.table+nextSuffix), d.def)
}

// keySQL makes the copy's keys of the indexes built for them.
func keySQL(defs []indexDef) []string {
	var stmts []string
	for _, d := range defs {
		if d.constraint != "" {
			name := ident(d.name + nextSuffix)
			stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s`,
				ident(d.table+nextSuffix), name, d.constraint, name))
		}
	}
	return stmts
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
		if d.constraint != "" {
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

// RebuildConns is how many of its pool's connections a full rebuild uses.
const RebuildConns = 3

// rebuild recomputes every rollup table into copies and publishes them as
// the next version. On conn it reads the raw tables; it adds them up in
// haul while conn and two more connections from pool load the copies; the
// three build the copies' indexes; conn swaps them in.
func rebuild(ctx context.Context, pool *pgxpool.Pool, conn *pgx.Conn, res *Result, log logr.Logger) error {
	if pool.Config().MaxConns < RebuildConns {
		return fmt.Errorf("a full rebuild needs a pool of at least %d connections", RebuildConns)
	}
	if _, err := conn.Exec(ctx, dropLeftoversSQL()); err != nil {
		return fmt.Errorf("drop copies left by a failed rebuild: %w", err)
	}
	defs, err := indexDefs(ctx, conn)
	if err != nil {
		return fmt.Errorf("read rollup indexes: %w", err)
	}
	options, err := tableOptions(ctx, conn)
	if err != nil {
		return fmt.Errorf("read rollup storage options: %w", err)
	}
	dir, err := os.MkdirTemp("", "haul-rebuild-")
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	t := time.Now()
	raw := newRawReader(dir)
	out := newTables()
	for name, o := range out.byName() {
		o.options = options[name]
	}
	batches, err := readRaw(ctx, pool, conn, raw, out)
	if err != nil {
		return fmt.Errorf("read raw tables: %w", err)
	}
	log.V(1).Info("refresh step done", "step", "read raw tables", "seconds", time.Since(t).Seconds())

	conns := []*pgx.Conn{conn}
	for range 2 {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer c.Release()
		conns = append(conns, c.Conn())
	}

	t = time.Now()
	// The first failure ends every stream, so that no side waits for
	// another; it is the one reported, not what it caused elsewhere. It
	// does not cancel the others' statements: that would close their
	// sessions, one of which holds the refresh lock and records failures.
	var g errgroup.Group
	var state refreshState
	var mu sync.Mutex // guards cause and rows
	var cause error
	rows := map[string]int64{}
	abort := func(err error) error {
		mu.Lock()
		defer mu.Unlock()
		if cause == nil {
			cause = err
			for _, o := range out.byName() {
				o.abort(err)
			}
		}
		return err
	}
	// A write waiting for its COPY does not watch ctx.
	stop := context.AfterFunc(ctx, func() { _ = abort(ctx.Err()) })
	defer stop()
	g.Go(func() error {
		days, kept, err := addUp(ctx, raw, out, dir)
		if err != nil {
			return abort(fmt.Errorf("add up: %w", err))
		}
		res.Days, state = days, kept
		log.V(1).Info("refresh step done", "step", "add up", "seconds", time.Since(t).Seconds())
		return nil
	})
	for i, lane := range out.lanes() {
		g.Go(func() error {
			n, err := loadCopies(ctx, conns[i], lane, log.WithValues("lane", i+1))
			if err != nil {
				return abort(err)
			}
			mu.Lock()
			defer mu.Unlock()
			maps.Copy(rows, n)
			return nil
		})
	}
	err = g.Wait()
	mu.Lock()
	err = cmp.Or(cause, err)
	mu.Unlock()
	if err != nil {
		// Copies a lane committed are dropped by the next rebuild.
		return err
	}

	if err := buildIndexes(ctx, conns, defs, rows, log); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		steps := []step{{name: "swap tables", stmts: append(keySQL(defs), swapSQL(defs)...)}, {name: "publish", stmts: publishSQL}}
		if err := runSteps(ctx, tx, steps, log); err != nil {
			return err
		}
		if err := writeRouteVehicleSets(ctx, tx, state.routeVehicles); err != nil {
			return err
		}
		if err := writeState(ctx, tx, stateVehicleShipDays, state.shipDays.marshal()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM precalc_dirty_batches WHERE batch = ANY($1)`, batches); err != nil {
			return fmt.Errorf("consume batches: %w", err)
		}
		return tx.QueryRow(ctx, recordRefreshSQL, res.Started, res.Full, res.Days).Scan(&res.Version, &res.Finished)
	})
}

// readRaw reads the raw tables into raw, and the vehicles into the rows of
// their snapshot, all in one snapshot, after numbering stray rows
// (adoptStraySQL); it returns the batches that snapshot sees queued for a
// refresh, which the rebuild includes. The logs are read on another
// connection of pool, in the same snapshot, while conn reads the
// shipments: one after the other, PostgreSQL sending them kept a CPU busy
// and haul most of the other (7.0-7.6 s at 10M shipments).
func readRaw(ctx context.Context, pool *pgxpool.Pool, conn *pgx.Conn, raw *rawReader, out *tables) ([]int64, error) {
	var batches []int64
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead}
	err := pgx.BeginTxFunc(ctx, conn, opts, func(tx pgx.Tx) error {
		// Exported before the stray rows are numbered, which changes no
		// column read here.
		var snapshot string
		if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
			return fmt.Errorf("export snapshot: %w", err)
		}
		logsCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		logs := make(chan error, 1)
		go func() { logs <- readLogs(logsCtx, pool, snapshot, raw) }()
		err := readShipments(ctx, tx, raw, out, &batches)
		if err != nil {
			cancel()
		}
		if err := cmp.Or(err, <-logs); err != nil {
			return err
		}
		raw.joinVehicles()
		return nil
	})
	return batches, err
}

// readLogs reads the logs into raw on a connection of pool, in snapshot.
func readLogs(ctx context.Context, pool *pgxpool.Pool, snapshot string, raw *rawReader) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Release()
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return pgx.BeginTxFunc(ctx, c, opts, func(tx pgx.Tx) error {
		// An exported snapshot's name is hexadecimal digits and dashes.
		if strings.Trim(snapshot, "0123456789ABCDEFabcdef-") != "" {
			return fmt.Errorf("unexpected snapshot name %q", snapshot)
		}
		if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil {
			return fmt.Errorf("import snapshot: %w", err)
		}
		return copyOut(ctx, tx, copyLogsSQL, raw.log)
	})
}

// readShipments numbers the stray rows, reads the batches queued, the
// shipments into raw and the vehicles into out, in tx.
func readShipments(ctx context.Context, tx pgx.Tx, raw *rawReader, out *tables, batches *[]int64) error {
	if _, err := tx.Exec(ctx, adoptStraySQL); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(batch), '{}') FROM precalc_dirty_batches`).Scan(batches); err != nil {
		return err
	}
	// Held in memory (one row per vehicle) until its COPY starts.
	vehicles := func(f [][]byte) error {
		out.vehicleInfo.enc.Row(len(f))
		for _, v := range f {
			out.vehicleInfo.enc.Text(v) // already in the column's binary form
		}
		return nil
	}
	for _, c := range []struct {
		sql string
		row func([][]byte) error
	}{{copyShipmentsSQL, raw.shipment}, {copyVehiclesSQL, vehicles}} {
		if err := copyOut(ctx, tx, c.sql, c.row); err != nil {
			return err
		}
	}
	return nil
}

// refreshState is what a refresh keeps beside the rollups (state.go).
type refreshState struct {
	routeVehicles *routeVehicleSets
	shipDays      shipDays
}

// addUp adds up the spilled raw rows, a month at a time, into out's
// streams, and says how many days they cover and what a refresh keeps
// beside the rollups.
func addUp(ctx context.Context, raw *rawReader, out *tables, dir string) (int, refreshState, error) {
	b := newBuilder(raw, out, dir)
	months := slices.Compact(slices.Sorted(slices.Values(append(raw.logs.partitions(), raw.shipments.partitions()...))))
	for _, m := range months {
		if err := ctx.Err(); err != nil {
			return 0, refreshState{}, err
		}
		logs, err := raw.logs.read(m)
		if err != nil {
			return 0, refreshState{}, fmt.Errorf("read spilled logs: %w", err)
		}
		shipments, err := raw.shipments.read(m)
		if err != nil {
			return 0, refreshState{}, fmt.Errorf("read spilled shipments: %w", err)
		}
		if err := b.month(m, logs, shipments); err != nil {
			return 0, refreshState{}, err
		}
	}
	if err := b.finish(); err != nil {
		return 0, refreshState{}, err
	}
	return b.days, refreshState{b.routeVehicleSets, b.shipDays}, nil
}

// scalarColumnsSQL lists the columns of table $1 that are not arrays, for
// ANALYZE: the rollups are read by their keys, and the statistics of an
// array column (its most common elements, each array detoasted) took 3.9 s
// of the rebuild for agg_vehicle_routes at 10M shipments, at its end.
const scalarColumnsSQL = `SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND t.typcategory <> 'A'`

// loadCopies creates a lane's copies and loads them from their streams,
// then analyzes them, in one transaction; it says how many rows each got.
func loadCopies(ctx context.Context, conn *pgx.Conn, lane []*tableOut, log logr.Logger) (map[string]int64, error) {
	rows := map[string]int64{}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, compressSQL); err != nil {
			return fmt.Errorf("set the compression: %w", err)
		}
		for _, o := range lane {
			t := time.Now()
			if _, err := tx.Exec(ctx, createNextSQL(o.table, o.options)); err != nil {
				return fmt.Errorf("create copy of %s: %w", o.table, err)
			}
			tag, err := tx.Conn().PgConn().CopyFrom(ctx, o.r, o.copySQL())
			if err != nil {
				return fmt.Errorf("copy into %s: %w", o.table+nextSuffix, err)
			}
			rows[o.table] = tag.RowsAffected()
			var columns string
			if err := tx.QueryRow(ctx, scalarColumnsSQL, o.table+nextSuffix).Scan(&columns); err != nil {
				return fmt.Errorf("analyze %s: %w", o.table+nextSuffix, err)
			}
			if _, err := tx.Exec(ctx, `ANALYZE `+ident(o.table+nextSuffix)+` (`+columns+`)`); err != nil {
				return fmt.Errorf("analyze %s: %w", o.table+nextSuffix, err)
			}
			log.V(1).Info("refresh step done", "step", "load copy", "table", o.table, "rows", tag.RowsAffected(),
				"seconds", time.Since(t).Seconds())
		}
		return nil
	})
	return rows, err
}

// buildIndexes builds the copies' indexes on conns at once, the largest
// first, each in a transaction of its own: several indexes of one table
// can be built at the same time, and the largest table's would otherwise
// be the last to finish.
func buildIndexes(ctx context.Context, conns []*pgx.Conn, defs []indexDef, rows map[string]int64, log logr.Logger) error {
	queue := slices.Clone(defs)
	cost := func(d indexDef) int64 { return rows[d.table] * int64(d.columns) }
	slices.SortStableFunc(queue, func(a, b indexDef) int { return cmp.Compare(cost(b), cost(a)) })
	jobs := make(chan indexDef, len(queue))
	for _, d := range queue {
		jobs <- d
	}
	close(jobs)
	// A failed build does not cancel the others, for the reason given in
	// rebuild; they are left to end.
	var g errgroup.Group
	var failed atomic.Bool
	for i, c := range conns {
		log := log.WithValues("lane", i+1)
		g.Go(func() error {
			if _, err := c.Exec(ctx, `SET maintenance_work_mem = '`+refreshMemory+`'`); err != nil {
				return fmt.Errorf("set maintenance_work_mem: %w", err)
			}
			defer func() { _, _ = c.Exec(context.WithoutCancel(ctx), `RESET maintenance_work_mem`) }()
			for d := range jobs {
				if failed.Load() {
					return nil
				}
				t := time.Now()
				if _, err := c.Exec(ctx, d.createIndexSQL()); err != nil {
					failed.Store(true)
					return fmt.Errorf("build index %s of %s: %w", d.name, d.table+nextSuffix, err)
				}
				log.V(1).Info("refresh step done", "step", "build index", "index", d.name, "seconds", time.Since(t).Seconds())
			}
			return nil
		})
	}
	return g.Wait()
}
