package db_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/haul-dev/haul/internal/db"
	"github.com/haul-dev/haul/internal/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// haulTables are the tables the migrations must create.
var haulTables = []string{
	"vehicles", "vehicle_logs", "shipments",
	"ingest_runs", "ingest_run_datasets", "ingest_checkpoints",
}

func TestMigrateTwice(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewEmpty(t)

	first, err := db.Migrate(ctx, url)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	current, latest, err := db.SchemaVersion(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) == 0 || int64(len(first)) != latest || current != latest {
		t.Fatalf("first migrate applied %d migrations, schema at %d of %d; want all applied", len(first), current, latest)
	}

	second, err := db.Migrate(ctx, url)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(second) != 0 {
		t.Fatalf("second migrate applied %v; want nothing", second)
	}
	assertTables(t, url)
}

func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewEmpty(t)

	const migrators = 4
	var wg sync.WaitGroup
	results := make([][]db.Migration, migrators)
	errs := make([]error, migrators)
	for i := range migrators {
		wg.Go(func() { results[i], errs[i] = db.Migrate(ctx, url) })
	}
	wg.Wait()

	applied := map[int64]int{}
	for i := range migrators {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		for _, m := range results[i] {
			applied[m.Version]++
		}
	}
	_, latest, err := db.SchemaVersion(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	for v := int64(1); v <= latest; v++ {
		if applied[v] != 1 {
			t.Errorf("migration %d applied %d times across %d concurrent migrators; want exactly once", v, applied[v], migrators)
		}
	}
	assertTables(t, url)
}

func TestTemplateDatabaseIsMigrated(t *testing.T) {
	url := dbtest.New(t)
	current, latest, err := db.SchemaVersion(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if current != latest {
		t.Fatalf("test database at schema %d, want %d", current, latest)
	}
	assertTables(t, url)
}

func assertTables(t *testing.T, url string) {
	t.Helper()
	pool := dbtest.Pool(t, url)
	for _, table := range haulTables {
		var exists bool
		err := pool.QueryRow(context.Background(),
			`SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1)`,
			table).Scan(&exists)
		if err != nil {
			t.Fatal(err)
		}
		if !exists {
			t.Errorf("table %s missing after migrate", table)
		}
	}
}

// The schema is the last line of defence behind validation: it must refuse
// what docs/data.md forbids even if a bug lets a record through.
func TestSchemaRefusesInvalidRows(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.New(t))
	if _, err := pool.Exec(ctx, `INSERT INTO vehicles VALUES ('V-001', 'Vehicle 1', 10)`); err != nil {
		t.Fatalf("valid vehicle refused: %v", err)
	}
	bad := map[string]string{
		"negative mileage":   `INSERT INTO vehicles VALUES ('V-002', 'x', -0.01)`,
		"empty id":           `INSERT INTO vehicles VALUES ('', 'x', 1)`,
		"id over 64":         `INSERT INTO vehicles VALUES (repeat('v', 65), 'x', 1)`,
		"name over 100":      `INSERT INTO vehicles VALUES ('V-003', repeat('n', 101), 1)`,
		"zero weight":        `INSERT INTO shipments VALUES ('S-1', 'A', 'B', 0, 1, 1, 'L-1', '2024-01-01', 'V-001')`,
		"zero delivery time": `INSERT INTO shipments VALUES ('S-1', 'A', 'B', 1, 1, 0, 'L-1', '2024-01-01', 'V-001')`,
		"duplicate vehicle":  `INSERT INTO vehicles VALUES ('V-001', 'again', 1)`,
	}
	for name, sql := range bad {
		if _, err := pool.Exec(ctx, sql); err == nil {
			t.Errorf("%s: accepted %s", name, sql)
		}
	}
}

func TestResolveURL(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == db.EnvDatabaseURL {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name, flag, env, want string
		wantErr               bool
	}{
		{name: "flag wins", flag: "postgres://a", env: "postgres://b", want: "postgres://a"},
		{name: "env fallback", env: "postgres://b", want: "postgres://b"},
		{name: "neither", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.ResolveURL(tc.flag, env(tc.env))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ResolveURL(%q) = %q, %v; want %q, error %v", tc.flag, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// Migration 7 keeps a vehicle's routes as arrays: the rows there were are
// its arrays' elements, and rolling back gives them back.
func TestVehicleRouteArraysMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 6)
	const rows = `('V1', '2024-03-01', 'A', 'B', 1, 2, 10.5, 7), ('V1', '2024-03-01', 'A', 'C', 1, 1, 3, 2),
		('V1', '2025-01-02', 'A', 'B', 2, 2, 4, 4), ('V2', '2024-03-01', 'A', 'B', 1, 1, 1, 1)`
	if _, err := pool.Exec(ctx, `INSERT INTO agg_vehicle_routes VALUES `+rows); err != nil {
		t.Fatal(err)
	}
	want := rowsText(t, pool, `SELECT * FROM agg_vehicle_routes`)
	wantVehicles := rowsText(t, pool, `SELECT origin, destination, period, vehicle_id FROM agg_vehicle_routes`)

	migrateTo(7)
	expectRows(t, pool, "vehicle routes after migration 7", `SELECT vehicle_id, d, o, de, t::bigint, n::bigint, c, dt FROM agg_vehicle_routes,
		unnest(days, origins, destinations, trips, shipments, sum_cost, sum_dt) AS u(d, o, de, t, n, c, dt)`, want)
	expectRows(t, pool, "vehicle route rows after migration 7", `SELECT vehicle_id, period FROM agg_vehicle_routes`, "(V1,2024-01-01) (V1,2025-01-01) (V2,2024-01-01)")
	expectRows(t, pool, "route vehicles after migration 7", `SELECT origin, destination, d, v FROM agg_route_vehicles, unnest(days, vehicle_ids) AS u(d, v)`, wantVehicles)

	migrateTo(6)
	expectRows(t, pool, "vehicle routes rolled back", `SELECT * FROM agg_vehicle_routes`, want)
}

// Migration 8 keeps a day's route rows as arrays: the day rows there were
// are their elements, and rolling back gives back the day rows, with
// on_time_day, and their year rows.
func TestRouteDayArraysMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 7)
	// (day, route) groups A-B on 2024-03-01 (mean 2.5: the 5 is late) and
	// A-C on 2025-01-02.
	const days = `(0, '2024-03-01', 'A', 'B', 2, 2, 10.5, 3, 7, 5.25, 2), (0, '2024-03-01', 'A', 'B', 5, 1, 3, 1, 3, 0.6, 0),
		(0, '2024-03-01', 'A', 'B', 1, 1, 2, 1, 2, 2, 1), (0, '2025-01-02', 'A', 'C', 4, 3, 9, 3, 9, 2.25, 3)`
	if _, err := pool.Exec(ctx, `INSERT INTO agg_routes VALUES `+days); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO agg_routes SELECT 2, date_trunc('year', period)::date, origin, destination,
		delivery_time, sum(shipments), sum(sum_cost), sum(sum_weight), sum(sum_cpk), sum(sum_cpt), sum(on_time_day)
		FROM agg_routes GROUP BY 2, 3, 4, 5`); err != nil {
		t.Fatal(err)
	}
	want := rowsText(t, pool, `SELECT * FROM agg_routes`)
	wantDays := rowsText(t, pool, `SELECT period, origin, destination, delivery_time, shipments, sum_cost, sum_weight, sum_cpk, sum_cpt
		FROM agg_routes WHERE grain = 0`)

	migrateTo(8)
	expectRows(t, pool, "route days after migration 8", `SELECT period, o, de, dt, n::bigint, c, w, cpk, cpt FROM agg_routes,
		unnest(origins, destinations, delivery_times, shipments, sum_cost, sum_weight, sum_cpk, sum_cpt)
		AS u(o, de, dt, n, c, w, cpk, cpt)`, wantDays)
	expectRows(t, pool, "route day rows after migration 8", `SELECT period, segment FROM agg_routes`, "(2024-03-01,0) (2025-01-02,0)")

	migrateTo(7)
	expectRows(t, pool, "route rows rolled back", `SELECT * FROM agg_routes`, want)
}

// Migration 9 keeps a vehicle's days as arrays, a row per vehicle and
// month, and leaves agg_vehicles its month and year rows; rolling back
// gives the day rows back.
func TestVehicleDayArraysMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 8)
	const days = `(0, '2024-03-01', 'V1', 2, 10.5, 1.5, 3, 7.25, 9), (0, '2024-03-09', 'V1', 0, 0, 0, 1, 2, 2),
		(0, '2024-04-02', 'V1', 1, 3, 1, 0, 0, 0), (0, '2024-03-01', 'V2', 1, 1, 1, 1, 1, 1)`
	if _, err := pool.Exec(ctx, `INSERT INTO agg_vehicles VALUES `+days); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO agg_vehicles SELECT g, p, vehicle_id, sum(trips), sum(mileage), sum(fuel),
		sum(shipments), sum(sum_cost), sum(sum_dt)
		FROM agg_vehicles, LATERAL (VALUES (1, date_trunc('month', period)::date), (2, date_trunc('year', period)::date)) AS x(g, p)
		GROUP BY 1, 2, 3`); err != nil {
		t.Fatal(err)
	}
	want := rowsText(t, pool, `SELECT * FROM agg_vehicles`)
	wantDays := rowsText(t, pool, `SELECT period, vehicle_id, trips, mileage, fuel, shipments, sum_cost, sum_dt FROM agg_vehicles WHERE grain = 0`)
	wantPeriods := rowsText(t, pool, `SELECT * FROM agg_vehicles WHERE grain > 0`)

	migrateTo(9)
	expectRows(t, pool, "vehicle days after migration 9", `SELECT d, vehicle_id, t::bigint, m, f, n::bigint, c, dt FROM agg_vehicle_days,
		unnest(days, trips, mileage, fuel, shipments, sum_cost, sum_dt) AS u(d, t, m, f, n, c, dt)`, wantDays)
	expectRows(t, pool, "vehicle day rows after migration 9", `SELECT vehicle_id, period, segment FROM agg_vehicle_days`, "(V1,2024-03-01,0) (V1,2024-04-01,0) (V2,2024-03-01,0)")
	expectRows(t, pool, "vehicle rows after migration 9", `SELECT * FROM agg_vehicles`, wantPeriods)

	migrateTo(8)
	expectRows(t, pool, "vehicle rows rolled back", `SELECT * FROM agg_vehicles`, want)
}

// Migration 16 keeps a month's or a year's vehicle figures as one row of
// arrays, the vehicles in order by byte; rolling back gives the rows back.
func TestVehiclePeriodArraysMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 15)
	if _, err := pool.Exec(ctx, `INSERT INTO agg_vehicles VALUES
		(1, '2024-03-01', 'v1', 2, 10.5, 1.5, 3, 7.25, 9), (1, '2024-03-01', 'V2', 1, 1, 1, 1, 1, 1),
		(1, '2024-04-01', 'V1', 1, 3, 1, 0, 0, 0), (2, '2024-01-01', 'v1', 2, 10.5, 1.5, 3, 7.25, 9),
		(2, '2024-01-01', 'V2', 1, 1, 1, 1, 1, 1), (2, '2024-01-01', 'V1', 1, 3, 1, 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	const all = `SELECT * FROM agg_vehicles ORDER BY grain, period, vehicle_id`
	want := rowsText(t, pool, all)

	migrateTo(16)
	expectRows(t, pool, "vehicle periods after migration 16", `SELECT grain, period, vehicle_ids FROM agg_vehicles ORDER BY 1, 2`,
		"(1,2024-03-01,\"{V2,v1}\") (1,2024-04-01,{V1}) (2,2024-01-01,\"{V1,V2,v1}\")")
	expectRows(t, pool, "vehicle figures after migration 16", `SELECT grain, period, v, t, m, f, n, c, dt
		FROM agg_vehicles, unnest(vehicle_ids, trips, mileage, fuel, shipments, sum_cost, sum_dt) AS u(v, t, m, f, n, c, dt)
		ORDER BY 1, 2, 3`, want)

	migrateTo(15)
	expectRows(t, pool, "vehicle rows rolled back", all, want)
}

// Migration 17 keeps an origin's all-time route figures as one row of
// arrays, the destinations in order by byte; rolling back gives the rows
// back.
func TestRouteTotalArraysMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 16)
	if _, err := pool.Exec(ctx, `INSERT INTO agg_route_totals VALUES
		('A', 'b', 3, 30.5, 12.25, 9, 2, 4, 2), ('A', 'B', 1, 1, 1, 5, 5, 5, 1), ('B', 'A', 2, 4, 4, 6, 3, 3, 1)`); err != nil {
		t.Fatal(err)
	}
	const all = `SELECT * FROM agg_route_totals ORDER BY origin, destination`
	want := rowsText(t, pool, all)

	migrateTo(17)
	expectRows(t, pool, "origin rows after migration 17", `SELECT origin, destinations FROM agg_route_totals`,
		"(A,\"{B,b}\") (B,{A})")
	expectRows(t, pool, "route totals after migration 17", `SELECT origin, u.*
		FROM agg_route_totals, unnest(destinations, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt, unique_vehicles) AS u`,
		want)

	migrateTo(16)
	expectRows(t, pool, "route total rows rolled back", all, want)
}

// Migration 19 makes the rows of agg_vehicles and agg_route_totals the
// rebuild's segment (0), beside which refreshes append theirs; rolling back
// adds a key's segments up into one row again.
func TestSumSegmentsMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 18)
	if _, err := pool.Exec(ctx, `INSERT INTO agg_vehicles VALUES
		(1, '2024-03-01', '{V2,v1}', '{1,2}', '{1,10.5}', '{1,1.5}', '{1,3}', '{1,7.25}', '{1,9}'),
		(2, '2024-01-01', '{V1}', '{1}', '{3}', '{1}', '{0}', '{0}', '{0}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO agg_route_totals VALUES
		('A', '{B,b}', '{1,3}', '{1,30.5}', '{1,12.25}', '{5,9}', '{5,2}', '{5,4}', '{1,2}')`); err != nil {
		t.Fatal(err)
	}
	migrateTo(19)
	expectRows(t, pool, "vehicle segments after migration 19", `SELECT grain, period, segment, vehicle_ids FROM agg_vehicles`,
		`(1,2024-03-01,0,"{V2,v1}") (2,2024-01-01,0,{V1})`)
	expectRows(t, pool, "origin segments after migration 19", `SELECT origin, segment, destinations FROM agg_route_totals`,
		`(A,0,"{B,b}")`)
	if _, err := pool.Exec(ctx, `INSERT INTO agg_vehicles VALUES
		(1, '2024-03-01', 7, '{V1,v1}', '{1,1}', '{2,0.5}', '{1,0.5}', '{0,1}', '{0,0.75}', '{0,1}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO agg_route_totals VALUES
		('A', 7, '{C,b}', '{1,1}', '{2,1.5}', '{3,0.75}', '{4,1}', '{4,1}', '{4,1}', '{1,0}')`); err != nil {
		t.Fatal(err)
	}

	migrateTo(18)
	expectRows(t, pool, "vehicle segments added up", `SELECT * FROM agg_vehicles`,
		`(1,2024-03-01,"{V1,V2,v1}","{1,1,3}","{2,1,11}","{1,1,2}","{0,1,4}","{0,1,8}","{0,1,10}") `+
			`(2,2024-01-01,{V1},{1},{3},{1},{0},{0},{0})`)
	expectRows(t, pool, "origin segments added up", `SELECT * FROM agg_route_totals`,
		`(A,"{B,C,b}","{1,1,4}","{1,2,32}","{1,3,13}","{5,4,10}","{5,4,1}","{5,4,4}","{1,1,2}")`)
}

// Migration 20 regroups the refreshes' segments of agg_vehicle_days by
// vehicle and year, keyed by the year's first day, and leaves the
// rebuild's rows by month; rolling back splits them by month again.
func TestVehicleDayYearSegmentsMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 19)
	if _, err := pool.Exec(ctx, `INSERT INTO agg_vehicle_days VALUES
		('V1', '2024-03-01', 0, '{2024-03-02,2024-03-09}', '{1,2}', '{1,2}', '{1,2}', '{1,2}', '{1,2}', '{1,2}'),
		('V1', '2024-03-01', 7, '{2024-03-09}', '{1}', '{0.5}', '{1}', '{1}', '{2.5}', '{3}'),
		('V1', '2024-05-01', 7, '{2024-05-01,2024-05-31}', '{1,1}', '{1,1}', '{1,1}', '{0,1}', '{0,1}', '{0,4}'),
		('V1', '2025-01-01', 7, '{2025-01-31}', '{1}', '{1}', '{1}', '{1}', '{1}', '{1}'),
		('V1', '2024-05-01', 9, '{2024-05-02}', '{1}', '{1}', '{1}', '{1}', '{1}', '{1}'),
		('V2', '2024-12-01', 7, '{2024-12-24}', '{1}', '{1}', '{1}', '{1}', '{1}', '{1}')`); err != nil {
		t.Fatal(err)
	}
	const all = `SELECT vehicle_id, period, segment, days, trips, mileage, fuel, shipments, sum_cost, sum_dt FROM agg_vehicle_days`
	want := rowsText(t, pool, all)

	migrateTo(20)
	expectRows(t, pool, "vehicle day rows after migration 20", `SELECT vehicle_id, period, segment, days, sum_dt FROM agg_vehicle_days`,
		`(V1,2024-01-01,7,"{2024-03-09,2024-05-01,2024-05-31}","{3,0,4}") (V1,2024-01-01,9,{2024-05-02},{1}) `+
			`(V1,2024-03-01,0,"{2024-03-02,2024-03-09}","{1,2}") (V1,2025-01-01,7,{2025-01-31},{1}) (V2,2024-01-01,7,{2024-12-24},{1})`)

	migrateTo(19)
	expectRows(t, pool, "vehicle day rows rolled back", all, want)
}

// Migration 21 adds agg_origin_vehicles, where refreshes append a route's
// vehicles by origin; rolling back makes its rows routes' segments of
// agg_route_vehicles.
func TestOriginVehiclesMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 21)
	if _, err := pool.Exec(ctx, `INSERT INTO agg_route_vehicles VALUES ('A', 'B', 0, '{2024-03-01}', '{V1}');
		INSERT INTO agg_origin_vehicles VALUES
		('A', 7, '{B,B,b}', '{2024-03-02,2024-03-02,2024-01-01}', '{V2,V1,V1}'),
		('A', 9, '{B}', '{2024-03-01}', '{V3}')`); err != nil {
		t.Fatal(err)
	}
	migrateTo(20)
	expectRows(t, pool, "route vehicles rolled back", `SELECT * FROM agg_route_vehicles`,
		`(A,B,0,{2024-03-01},{V1}) (A,B,7,"{2024-03-02,2024-03-02}","{V1,V2}") (A,B,9,{2024-03-01},{V3}) `+
			`(A,b,7,{2024-01-01},{V1})`)
}

// migrated makes a throwaway database at migration version, and returns
// a pool on it and a function that migrates it, up or down, to another.
func migrated(t *testing.T, version int64) (*pgxpool.Pool, func(int64)) {
	t.Helper()
	url := dbtest.NewEmpty(t)
	migrateTo := func(v int64) {
		t.Helper()
		if err := db.MigrateTo(context.Background(), url, v); err != nil {
			t.Fatal(err)
		}
	}
	migrateTo(version)
	return dbtest.Pool(t, url), migrateTo
}

// expectRows checks that query returns want, in rowsText's form; what
// names the rows.
func expectRows(t *testing.T, pool *pgxpool.Pool, what, query, want string) {
	t.Helper()
	if got := rowsText(t, pool, query); got != want {
		t.Errorf("%s:\n%s\nwant\n%s", what, got, want)
	}
}

// rowsText is the rows query returns, each as text, sorted and joined by
// spaces.
func rowsText(t *testing.T, pool *pgxpool.Pool, query string) string {
	t.Helper()
	var got string
	if err := pool.QueryRow(context.Background(),
		`SELECT string_agg(r::text, ' ' ORDER BY r::text) FROM (`+query+`) r`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// Migration 12 drops the length CHECKs of the large raw tables (ingest
// checks every record first) and keeps their numeric ones; rolling back
// restores the length CHECKs for new rows.
func TestRawLengthChecksMigration(t *testing.T) {
	ctx := context.Background()
	pool, migrateTo := migrated(t, 11)
	long := strings.Repeat("x", 65)
	insert := func(id, logID string, weight float64) error {
		_, err := pool.Exec(ctx, `INSERT INTO vehicle_logs (log_id, vehicle_id, trip_date, mileage, fuel_used)
			VALUES ($1, 'V1', '2024-01-01', 1, 1)`, logID)
		if err == nil {
			_, err = pool.Exec(ctx, `INSERT INTO shipments (shipment_id, origin, destination, weight, cost, delivery_time, log_id, trip_date, vehicle_id)
				VALUES ($1, 'A', 'B', $2, 1, 1, $3, '2024-01-01', 'V1')`, id, weight, logID)
		}
		return err
	}
	if err := insert("S1", long, 1); err == nil {
		t.Fatal("migration 11 stored a log id of 65 characters")
	}

	migrateTo(12)
	if err := insert("S1", long, 1); err != nil {
		t.Fatalf("migration 12 refused a log id of 65 characters: %v", err)
	}
	if err := insert("S2", "L2", 0); err == nil {
		t.Error("migration 12 stored a shipment weighing 0")
	}

	migrateTo(11)
	if err := insert("S3", strings.Repeat("y", 65), 1); err == nil {
		t.Error("rolled back to 11, a log id of 65 characters was stored")
	}
}

// Migration 14 makes the data's text columns compare by byte (docs/api.md
// orders strings by code point), on a database whose own collation is
// linguistic too; rolling back gives them the database's again.
func TestDataColumnsCompareByByte(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewEmptyWith(t, `LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`)
	migrateTo := func(v int64) {
		t.Helper()
		if err := db.MigrateTo(ctx, url, v); err != nil {
			t.Fatal(err)
		}
	}
	migrateTo(13)
	pool := dbtest.Pool(t, url)
	if _, err := pool.Exec(ctx, `INSERT INTO vehicles (vehicle_id, name, total_mileage) VALUES ('a', 'x', 0), ('B', 'y', 0)`); err != nil {
		t.Fatal(err)
	}
	order := func() string {
		t.Helper()
		var got string
		// Not prepared: the plan's result type changes with the collation.
		if err := pool.QueryRow(ctx, `SELECT string_agg(vehicle_id, ' ' ORDER BY vehicle_id) FROM vehicles`,
			pgx.QueryExecModeSimpleProtocol).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := order(); got != "a B" {
		t.Fatalf("at migration 13 the vehicles order as %q, want %q: the database is not en-US", got, "a B")
	}

	migrateTo(14)
	if got := order(); got != "B a" {
		t.Errorf("at migration 14 the vehicles order as %q, want %q (by byte)", got, "B a")
	}
	// Every text column of the data's tables, rollups included, so that a
	// later migration cannot add one that compares otherwise.
	var others []string
	if err := pool.QueryRow(ctx, `
SELECT coalesce(array_agg(c.relname || '.' || a.attname ORDER BY 1), '{}')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
  AND (c.relname IN ('vehicles', 'vehicle_logs', 'shipments') OR c.relname LIKE 'agg\_%')
  AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid IN ('text'::regtype, 'text[]'::regtype)
  AND a.attname <> 'run_id' AND a.attcollation <> 'pg_catalog."C"'::regcollation`).Scan(&others); err != nil {
		t.Fatal(err)
	}
	if len(others) > 0 {
		t.Errorf("text columns that do not compare by byte: %v", others)
	}

	migrateTo(13)
	if got := order(); got != "a B" {
		t.Errorf("rolled back to 13, the vehicles order as %q, want %q", got, "a B")
	}
}
