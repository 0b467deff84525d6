package datagen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/haul-dev/haul/internal/datagen"
	"github.com/haul-dev/haul/internal/testutil"
)

func generate(t *testing.T, cfg datagen.Config) (string, *datagen.AnswerKey) {
	t.Helper()
	dir := t.TempDir()
	key, err := datagen.Generate(context.Background(), dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dir, key
}

func TestSameSeedSameBytes(t *testing.T) {
	for _, cfg := range []datagen.Config{
		{Shipments: 3000, Seed: 7, FaultRate: 0.05},
		{Shipments: 3000, Seed: 7, FaultRate: 0.05, Format: datagen.FormatNDJSON, Gzip: true, UniqueCities: true},
	} {
		a, _ := generate(t, cfg)
		b, _ := generate(t, cfg)
		cfg.Seed++
		c, _ := generate(t, cfg)
		for _, name := range []string{cfg.FileName(datagen.Vehicles), cfg.FileName(datagen.VehicleLogs), cfg.FileName(datagen.Shipments), datagen.AnswerKeyFile} {
			fa, fb, fc := readFile(t, a, name), readFile(t, b, name), readFile(t, c, name)
			if !bytes.Equal(fa, fb) {
				t.Errorf("%s (format %s): two runs with seed 7 differ", name, cfg.Format)
			}
			if name != datagen.AnswerKeyFile && bytes.Equal(fa, fc) {
				t.Errorf("%s (format %s): seeds 7 and 8 wrote the same bytes", name, cfg.Format)
			}
		}
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	return testutil.ReadFile(t, filepath.Join(dir, name))
}

var idPattern = map[datagen.Dataset]*regexp.Regexp{
	datagen.Vehicles:    regexp.MustCompile(`^V-\d{3,}$`),
	datagen.VehicleLogs: regexp.MustCompile(`^L-\d{6,}$`),
	datagen.Shipments:   regexp.MustCompile(`^S-\d{6,}$`),
}

// Clean data must be exactly the reference's shape: the listed fields with
// their JSON types, the reference's id styles, dates in the span, and every
// record valid and resolvable.
func TestCleanDataMatchesTheContract(t *testing.T) {
	from, to := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)
	for _, cfg := range []datagen.Config{
		{Shipments: 5000, From: from, To: to},
		{Shipments: 5000, From: from, To: to, Format: datagen.FormatNDJSON, Gzip: true},
	} {
		dir, key := generate(t, cfg)
		refs := map[string]bool{}
		for _, ds := range datagen.Datasets {
			path := filepath.Join(dir, cfg.FileName(ds))
			got := oracle(t, path, ds, refs)
			if len(got.rejected) > 0 || got.duplicates > 0 || got.loaded != got.read || got.read == 0 {
				t.Errorf("%s: read %d, loaded %d, duplicates %d, rejected %v; want every record loaded", path, got.read, got.loaded, got.duplicates, got.rejected)
			}
			for _, rec := range got.records {
				if id := rec[keyField[ds]].(string); !idPattern[ds].MatchString(id) {
					t.Errorf("%s: id %q not in the reference's style", path, id)
				}
				if d, ok := rec["trip_date"].(string); ok && (d < "2024-02-01" || d > "2024-03-31") {
					t.Errorf("%s: trip_date %s outside the span", path, d)
				}
			}
			assertFieldsAndTypes(t, path, ds)
			if k := key.Datasets[ds]; k.Read != got.read || k.Loaded != got.loaded {
				t.Errorf("%s: answer key says read %d loaded %d; file has %d, %d", path, k.Read, k.Loaded, got.read, got.loaded)
			}
			refs = got.keys
		}
	}
}

// assertFieldsAndTypes checks that each record has exactly docs/data.md's field
// names with the JSON types of the reference: numbers as numbers, with a
// fraction for floats, and delivery_time an integer.
func assertFieldsAndTypes(t *testing.T, path string, ds datagen.Dataset) {
	t.Helper()
	data := readAll(t, path)
	var records []map[string]json.RawMessage
	if bytes.HasPrefix(data, []byte("[")) {
		if err := json.Unmarshal(data, &records); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	} else {
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			records = append(records, rec)
		}
	}
	for i, rec := range records {
		if len(rec) != len(specs[ds]) {
			t.Fatalf("%s record %d: %d fields, want %d: %v", path, i, len(rec), len(specs[ds]), slices(rec))
		}
		for _, spec := range specs[ds] {
			raw, ok := rec[spec.name]
			if !ok {
				t.Fatalf("%s record %d: no %s", path, i, spec.name)
			}
			isString := raw[0] == '"'
			switch spec.kind {
			case kindID, kindText, kindDate:
				if !isString {
					t.Fatalf("%s record %d: %s = %s, want a string", path, i, spec.name, raw)
				}
			case kindInt:
				if !regexp.MustCompile(`^[1-9]\d*$`).Match(raw) {
					t.Fatalf("%s record %d: %s = %s, want a positive integer", path, i, spec.name, raw)
				}
			case kindNumber:
				if !regexp.MustCompile(`^\d+\.\d+$`).Match(raw) {
					t.Fatalf("%s record %d: %s = %s, want a float like the reference's", path, i, spec.name, raw)
				}
			}
		}
	}
}

func slices(m map[string]json.RawMessage) []string {
	var keys []string
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	return keys
}

// The answer key must say exactly what an independent reading of the files
// by docs/data.md's rules finds: read, loaded, duplicates and rejects per reason.
func TestAnswerKeyMatchesPlantedFaults(t *testing.T) {
	for _, cfg := range []datagen.Config{
		{Shipments: 20000, Seed: 3, FaultRate: 0.2, Vehicles: 40},
		{Shipments: 20000, Seed: 4, FaultRate: 0.2, Vehicles: 40, Format: datagen.FormatNDJSON},
		{Shipments: 20000, Seed: 5, FaultRate: 0.02, Format: datagen.FormatNDJSON, Gzip: true, UniqueCities: true},
	} {
		dir, key := generate(t, cfg)
		refs := map[string]bool{}
		for _, ds := range datagen.Datasets {
			path := filepath.Join(dir, cfg.FileName(ds))
			got := oracle(t, path, ds, refs)
			want := key.Datasets[ds]
			if got.read != want.Read || got.loaded != want.Loaded || got.duplicates != want.Duplicates {
				t.Errorf("%s: oracle read %d loaded %d duplicates %d; answer key %d, %d, %d",
					path, got.read, got.loaded, got.duplicates, want.Read, want.Loaded, want.Duplicates)
			}
			if !maps.Equal(got.rejected, want.RejectedByReason) {
				t.Errorf("%s: oracle rejects %v\nanswer key rejects %v", path, got.rejected, want.RejectedByReason)
			}
			var sum int64
			for _, n := range want.RejectedByReason {
				sum += n
			}
			if want.Rejected != sum || want.Loaded+want.Duplicates+want.Rejected != want.Read {
				t.Errorf("%s: answer key does not add up: %+v", path, want)
			}
			if cfg.FaultRate >= 0.2 && ds != datagen.Vehicles && len(want.Planted) < 20 {
				t.Errorf("%s: only %d kinds of fault planted at rate %v", path, len(want.Planted), cfg.FaultRate)
			}
			refs = got.keys
		}
	}
}

func TestIDsWidenWithCounts(t *testing.T) {
	dir, _ := generate(t, datagen.Config{Vehicles: 1000, Logs: 1_000_000, Shipments: 1, Format: datagen.FormatNDJSON})
	first := func(name string) map[string]any {
		data := readFile(t, dir, name)
		var rec map[string]any
		if err := json.Unmarshal(data[:bytes.IndexByte(data, '\n')], &rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	if got := first("vehicles.json")["vehicle_id"]; got != "V-0001" {
		t.Errorf("first of 1,000 vehicles is %v, want V-0001", got)
	}
	if got := first("vehicle_logs.json")["log_id"]; got != "L-0000001" {
		t.Errorf("first of 1,000,000 logs is %v, want L-0000001", got)
	}
	if got := first("shipments.json")["shipment_id"]; got != "S-000001" {
		t.Errorf("first of 1 shipment is %v, want S-000001", got)
	}
}

func TestBoundedCitiesRepeatRoutes(t *testing.T) {
	routes := func(cfg datagen.Config) (distinctCities int) {
		dir, _ := generate(t, cfg)
		cities := map[string]bool{}
		for _, line := range bytes.Split(bytes.TrimSpace(readFile(t, dir, cfg.FileName(datagen.Shipments))), []byte("\n")) {
			var rec struct{ Origin, Destination string }
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatal(err)
			}
			cities[rec.Origin] = true
			cities[rec.Destination] = true
		}
		return len(cities)
	}
	if n := routes(datagen.Config{Shipments: 5000, Cities: 50, Format: datagen.FormatNDJSON}); n > 50 {
		t.Errorf("--cities 50 gave %d distinct cities", n)
	}
	if n := routes(datagen.Config{Shipments: 5000, UniqueCities: true, Format: datagen.FormatNDJSON}); n < 8000 {
		t.Errorf("unique cities gave only %d distinct names for 10,000 city slots", n)
	}
}

func TestNormalizeRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]datagen.Config{
		"negative count": {Shipments: -1},
		"bad format":     {Format: "csv"},
		"empty span":     {From: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		"fault rate > 1": {FaultRate: 1.5},
	} {
		if _, err := cfg.Normalize(); err == nil {
			t.Errorf("%s: Normalize accepted %+v", name, cfg)
		}
	}
}

func BenchmarkGenerateShipments(b *testing.B) {
	dir := b.TempDir()
	const n = 200_000
	var bytes int64
	for b.Loop() {
		key, err := datagen.Generate(context.Background(), dir, datagen.Config{Shipments: n, Logs: 1, Vehicles: 1})
		if err != nil {
			b.Fatal(err)
		}
		bytes = key.Datasets[datagen.Shipments].Bytes
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
