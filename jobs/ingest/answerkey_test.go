package ingest_test

import (
	"maps"
	"path/filepath"
	"testing"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/jobs/ingest"
)

// For `haul gen --faults` data, per dataset, loaded + duplicates + rejected
// == read, and every figure equals the generator's answer key; every
// shipment takes its day and vehicle from its log, whether the log was
// found in the cache of logs or in PostgreSQL.
func TestGeneratedFaultsMatchAnswerKey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      datagen.Config
		batch    int
		workers  int
		logCache int64
	}{
		{"array", datagen.Config{Shipments: 20_000, Seed: 11, FaultRate: 0.05, Vehicles: 60}, 997, 3, 0},
		{"ndjson gzip", datagen.Config{Shipments: 20_000, Seed: 12, FaultRate: 0.05, Vehicles: 60, Format: datagen.FormatNDJSON, Gzip: true}, 2000, 1, 0},
		{"logs partly cached", datagen.Config{Shipments: 20_000, Seed: 13, FaultRate: 0.05, Vehicles: 60}, 1000, 2, 64 << 10},
		{"no log cache", datagen.Config{Shipments: 20_000, Seed: 13, FaultRate: 0.05, Vehicles: 60}, 1000, 2, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			key, err := datagen.Generate(t.Context(), e.Dir, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			inputs := map[ingest.Dataset][]string{}
			for _, ds := range ingest.LoadOrder {
				inputs[ds] = []string{filepath.Join(e.Dir, key.Datasets[ds].File)}
			}
			report := e.mustRun(ingest.Options{Inputs: inputs, BatchSize: tc.batch, Workers: tc.workers, LogCache: tc.logCache})
			for _, ds := range ingest.LoadOrder {
				want := key.Datasets[ds]
				got := datasetReport(t, report, ds)
				if got.Read != want.Read || got.Loaded != want.Loaded || got.Duplicates != want.Duplicates || got.Rejected != want.Rejected {
					t.Errorf("%s: read %d loaded %d duplicates %d rejected %d; answer key %d, %d, %d, %d",
						ds, got.Read, got.Loaded, got.Duplicates, got.Rejected, want.Read, want.Loaded, want.Duplicates, want.Rejected)
				}
				if got.Loaded+got.Duplicates+got.Rejected != got.Read {
					t.Errorf("%s: loaded + duplicates + rejected != read: %+v", ds, got)
				}
				if !maps.Equal(got.RejectedByReason, want.RejectedByReason) {
					t.Errorf("%s rejects by reason:\n got %v\nwant %v", ds, got.RejectedByReason, want.RejectedByReason)
				}
				if n := e.count("SELECT count(*) FROM " + string(ds)); n != want.Loaded {
					t.Errorf("%s table holds %d rows, answer key says %d", ds, n, want.Loaded)
				}
				if n := int64(len(readRejects(t, got.RejectsFile))); n != want.Rejected {
					t.Errorf("%s rejects file holds %d lines, want %d", ds, n, want.Rejected)
				}
			}
			if n := e.shipmentsOnTheirLogs(); n != e.count(`SELECT count(*) FROM shipments`) {
				t.Errorf("%d shipments hold their log's day and vehicle, want all", n)
			}
		})
	}
}
