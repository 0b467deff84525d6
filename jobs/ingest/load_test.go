package ingest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/haul-dev/haul/jobs/ingest"
)

// The earliest record of a key wins whatever the number of workers and
// however batches are cut (docs/data.md#45-duplicates-and-re-delivery).
func TestEarliestRecordWinsWithAnyWorkers(t *testing.T) {
	var recs []string
	for i := range 40 {
		id, name := fmt.Sprintf("V-%d", i), "first"
		switch i {
		case 17:
			id, name = "V-5", "different" // same key, other values: rejected
		case 23:
			id = "V-5" // same key, same values as the first: a duplicate
		case 31:
			id, name = "V-3", "different"
		}
		if i == 23 {
			name = "first"
		}
		recs = append(recs, fmt.Sprintf(`{"vehicle_id": %q, "name": %q, "total_mileage": 1}`, id, name))
	}
	for _, tc := range []struct{ batch, workers int }{{100, 1}, {1, 1}, {1, 4}, {3, 4}, {7, 3}} {
		t.Run(fmt.Sprintf("batch %d workers %d", tc.batch, tc.workers), func(t *testing.T) {
			e := newEnv(t)
			path := e.file("v.ndjson", lines(recs...))
			report := e.mustRun(ingest.Options{Inputs: vehiclesOnly(path), BatchSize: tc.batch, Workers: tc.workers})
			d := datasetReport(t, report, ingest.Vehicles)
			rejects := readRejects(t, d.RejectsFile)
			if d.Loaded != 37 || d.Duplicates != 1 || d.Rejected != 2 || len(rejects) != 2 ||
				rejects[0].Index != 17 || rejects[1].Index != 31 || rejects[0].Reason != "duplicate_key" {
				t.Fatalf("report %+v, rejects %+v; want records 17 and 31 rejected as duplicate_key, 23 a duplicate", d, rejects)
			}
			if n := e.count(`SELECT count(*) FROM vehicles WHERE name = 'first'`); n != 37 {
				t.Errorf("%d vehicles keep the first record's values, want 37", n)
			}
		})
	}
}

// A record PostgreSQL refuses for a reason validation did not foresee is
// isolated by bisection and rejected as database_rejected; the rest of its
// batch loads.
func TestDatabaseRejectedRecordsAreIsolated(t *testing.T) {
	e := newEnv(t)
	if _, err := e.Pool.Exec(t.Context(), `ALTER TABLE vehicles ADD CONSTRAINT no_forbidden CHECK (name <> 'forbidden')`); err != nil {
		t.Fatal(err)
	}
	var recs []string
	for i := range 100 {
		name := "ok"
		if i == 13 || i == 77 {
			name = "forbidden"
		}
		recs = append(recs, fmt.Sprintf(`{"vehicle_id": "V-%d", "name": %q, "total_mileage": 1}`, i, name))
	}
	path := e.file("v.ndjson", lines(recs...))
	report := e.mustRun(ingest.Options{Inputs: vehiclesOnly(path), BatchSize: 50})
	d := datasetReport(t, report, ingest.Vehicles)
	rejects := readRejects(t, d.RejectsFile)
	if d.Loaded != 98 || d.RejectedByReason["database_rejected"] != 2 || len(rejects) != 2 ||
		rejects[0].Index != 13 || rejects[1].Index != 77 {
		t.Fatalf("report %+v, rejects %+v; want records 13 and 77 database_rejected and 98 loaded", d, rejects)
	}
	if n := e.count(`SELECT count(*) FROM vehicles`); n != 98 {
		t.Errorf("%d vehicles, want 98", n)
	}
}

func TestMetricsCountWhatCommits(t *testing.T) {
	e := newEnv(t)
	path := e.file("v.ndjson", lines(vehicle1, vehicle2, vehicle1, `{"vehicle_id": "V-9"}`))
	reg := prometheus.NewRegistry()
	m := ingest.NewMetrics(reg)
	e.mustRun(ingest.Options{Inputs: vehiclesOnly(path), Metrics: m, BatchSize: 2})
	for outcome, want := range map[string]float64{"loaded": 2, "duplicate": 1, "rejected": 1} {
		got := testutil.ToFloat64(m.Records().WithLabelValues("vehicles", outcome))
		if got != want {
			t.Errorf("haul_ingest_records_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// Shipments whose logs the cache of logs lacks, because they lie beyond its
// budget or were stored after it was read, are resolved by PostgreSQL, and
// one naming no log is still rejected.
func TestShipmentsResolveLogsTheCacheLacks(t *testing.T) {
	e := newEnv(t)
	var vehicles, logs []string
	for i := range 10 {
		vehicles = append(vehicles, fmt.Sprintf(`{"vehicle_id": "V-%d", "name": "v", "total_mileage": 1}`, i))
	}
	for i := range 2000 {
		logs = append(logs, fmt.Sprintf(`{"log_id": "L-%d", "vehicle_id": "V-%d", "trip_date": "2025-01-%02d", "mileage": 1, "fuel_used": 1}`, i, i%10, i%28+1))
	}
	e.mustRun(ingest.Options{RunID: "refs", Inputs: map[ingest.Dataset][]string{
		ingest.Vehicles:    {e.file("v.ndjson", lines(vehicles...))},
		ingest.VehicleLogs: {e.file("l.ndjson", lines(logs...))},
	}})

	var shipments []string
	shipment := func(log string) {
		shipments = append(shipments, fmt.Sprintf(`{"shipment_id": "S-%d", "origin": "A", "destination": "B", "weight": 1, "cost": 1, "delivery_time": 1, "log_id": %q}`, len(shipments), log))
	}
	for i := range 3000 {
		shipment(fmt.Sprintf("L-%d", i%2000))
	}
	shipment("L-late")
	shipment("L-none")

	var mu sync.Mutex
	var cached []string
	log := funcr.New(func(_, args string) {
		if strings.Contains(args, `"msg"="vehicle logs cached"`) {
			mu.Lock()
			cached = append(cached, args)
			mu.Unlock()
		}
	}, funcr.Options{})
	var late sync.Once
	report := e.mustRun(ingest.Options{
		RunID:    "shipments",
		Inputs:   map[ingest.Dataset][]string{ingest.Shipments: {e.file("s.ndjson", lines(shipments...))}},
		LogCache: 500 * 30, // about 500 of the 2,000 logs
		Log:      log,
		Failpoint: func(name string) {
			if name != "record-read" {
				return
			}
			late.Do(func() {
				if _, err := e.Pool.Exec(t.Context(), `INSERT INTO vehicle_logs VALUES ('L-late', 'V-3', '2025-02-01', 1, 1)`); err != nil {
					t.Error(err)
				}
			})
		},
	})
	if len(cached) != 1 || strings.Contains(cached[0], `"logs"=0 `) {
		t.Fatalf("want one log line saying part of the logs were cached, got %q", cached)
	}
	d := datasetReport(t, report, ingest.Shipments)
	rejects := readRejects(t, d.RejectsFile)
	if d.Loaded != 3001 || d.Rejected != 1 || len(rejects) != 1 || rejects[0].Reason != "unknown_log" || rejects[0].Index != 3001 {
		t.Fatalf("loaded %d, rejected %v, %d rejects lines; want 3,001 loaded and only the shipment naming L-none (record 3001) rejected as unknown_log",
			d.Loaded, d.RejectedByReason, len(rejects))
	}
	if n := e.shipmentsOnTheirLogs(); n != 3001 {
		t.Errorf("%d shipments hold their log's day and vehicle, want 3,001", n)
	}
}
