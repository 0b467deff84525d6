package runstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/dataset"
	"github.com/haul-dev/haul/internal/db/dbtest"
	"github.com/haul-dev/haul/internal/runstore"
)

// TestWrittenIsRead: what ingest writes through the store is what the API
// reads back, and a resumed run must name the same files.
func TestWrittenIsRead(t *testing.T) {
	pool := dbtest.Pool(t, dbtest.New(t))
	ctx := context.Background()
	inputs := map[dataset.Name][]string{dataset.Shipments: {"s.json"}, dataset.Vehicles: {"v1.json", "v2.json"}}
	if err := runstore.Start(ctx, pool, "r1", inputs); err != nil {
		t.Fatal(err)
	}
	if err := runstore.Start(ctx, pool, "r1", map[dataset.Name][]string{dataset.Vehicles: {"v2.json"}}); err == nil {
		t.Error("a resumed run naming other files was started")
	}
	rejects := "r1/vehicles.rejects.ndjson"
	saved := runstore.RunDataset{Dataset: "vehicles", Status: "failed", Files: inputs[dataset.Vehicles],
		Counts:      dataset.Counts{Read: 5, Loaded: 3, Duplicates: 1, Rejected: 1, RejectedByReason: map[string]int64{"missing_field": 1}},
		RejectsFile: &rejects, Warnings: []string{}, Error: &runstore.FileError{Message: "cut short", File: "v2.json", Line: 4}}
	if err := runstore.SaveDataset(ctx, pool, "r1", &saved); err != nil {
		t.Fatal(err)
	}
	failure := &runstore.FileError{Message: "v2.json: cut short"}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := runstore.Finish(ctx, tx, "r1", "failed", failure)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	got, err := runstore.Get(ctx, pool, "r1")
	if err != nil {
		t.Fatal(err)
	}
	pending := runstore.RunDataset{Dataset: "shipments", Status: "pending", Files: inputs[dataset.Shipments],
		Counts: dataset.Counts{RejectedByReason: map[string]int64{}}, Warnings: []string{}}
	if d := cmp.Diff([]runstore.RunDataset{saved, pending}, got.Datasets); d != "" {
		t.Errorf("datasets read back (-saved +read):\n%s", d)
	}
	if got.Status != "failed" || got.FinishedAt == nil || got.DurationSeconds == nil || !cmp.Equal(got.Error, failure) {
		t.Errorf("run read back: %+v, error %+v", got.RunSummary, got.Error)
	}
	total, runs, err := runstore.List(ctx, pool, 10, 0)
	if err != nil || total != 1 || len(runs) != 1 || !cmp.Equal(runs[0], got.RunSummary) {
		t.Errorf("List = %d, %+v, %v; want the one run", total, runs, err)
	}
	if _, err := runstore.Get(ctx, pool, "r2"); !errors.Is(err, runstore.ErrNotFound) {
		t.Errorf("Get of no run: %v, want ErrNotFound", err)
	}
}

func TestMain(m *testing.M) { dbtest.Main(m) }
