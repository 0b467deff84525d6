package datagen

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// AnswerKeyFile is written beside the data files.
const AnswerKeyFile = "expected.json"

// DatasetKey is what a first load of a generated dataset into an empty
// database must report (docs/data.md#47-the-run-report).
type DatasetKey struct {
	File             string           `json:"file"`
	Read             int64            `json:"read"`
	Loaded           int64            `json:"loaded"`
	Duplicates       int64            `json:"duplicates"`
	Rejected         int64            `json:"rejected"`
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
	// Planted counts the faults written, by name (see faults.go).
	Planted map[string]int64 `json:"planted"`
	Bytes   int64            `json:"bytes"`
}

// AnswerKey describes a generated folder and the expected load outcome.
type AnswerKey struct {
	Seed      uint64                  `json:"seed"`
	Format    Format                  `json:"format"`
	Gzip      bool                    `json:"gzip"`
	FaultRate float64                 `json:"fault_rate"`
	From      string                  `json:"from"`
	To        string                  `json:"to"`
	Datasets  map[Dataset]*DatasetKey `json:"datasets"`
}

// Generate writes the three datasets and the answer key into dir.
func Generate(ctx context.Context, dir string, cfg Config) (*AnswerKey, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output folder: %w", err)
	}
	g := newGenerator(cfg)
	key := &AnswerKey{
		Seed: cfg.Seed, Format: cfg.Format, Gzip: cfg.Gzip, FaultRate: cfg.FaultRate,
		From: cfg.From.Format(DateLayout), To: cfg.To.Format(DateLayout),
		Datasets: map[Dataset]*DatasetKey{},
	}
	for _, ds := range Datasets {
		dk, err := g.writeDataset(ctx, dir, ds)
		if err != nil {
			return nil, err
		}
		key.Datasets[ds] = dk
	}
	b, err := json.MarshalIndent(key, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode answer key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, AnswerKeyFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write answer key: %w", err)
	}
	return key, nil
}

type generator struct {
	cfg      Config
	faults   map[Dataset][]fault
	cities   []string // the bounded list; nil with UniqueCities
	span     int64    // days in [From, To]
	idWidth  map[Dataset]int
	idPrefix map[Dataset]string
}

func newGenerator(cfg Config) *generator {
	g := &generator{
		cfg:      cfg,
		faults:   map[Dataset][]fault{},
		span:     int64(cfg.To.Sub(cfg.From)/(24*time.Hour)) + 1,
		idPrefix: map[Dataset]string{Vehicles: "V-", VehicleLogs: cfg.IDPrefix + "L-", Shipments: cfg.IDPrefix + "S-"},
		idWidth: map[Dataset]int{
			// The reference's widths, widened when the count needs more digits.
			Vehicles:    max(3, len(strconv.FormatInt(cfg.Vehicles, 10))),
			VehicleLogs: max(6, len(strconv.FormatInt(cfg.Logs, 10))),
			Shipments:   max(6, len(strconv.FormatInt(cfg.Shipments, 10))),
		},
	}
	for _, ds := range Datasets {
		g.faults[ds] = faultsFor(ds, cfg.Format)
	}
	if !cfg.UniqueCities {
		g.cities = make([]string, cfg.Cities)
		for i := range g.cities {
			g.cities[i] = cityName(int64(i))
		}
	}
	return g
}

func (g *generator) count(ds Dataset) int64 {
	switch ds {
	case Vehicles:
		return g.cfg.Vehicles
	case VehicleLogs:
		return g.cfg.Logs
	default:
		return g.cfg.Shipments
	}
}

func datasetStream(ds Dataset) uint64 {
	switch ds {
	case Vehicles:
		return 1
	case VehicleLogs:
		return 2
	default:
		return 3
	}
}

// plannedFault is the fault drawn for record i, before checking whether it
// can be planted there. Record 0 is never faulty: it decides an NDJSON
// file's shape (docs/data.md#13-shape).
func (g *generator) plannedFault(ds Dataset, i int64) *fault {
	if g.cfg.FaultRate <= 0 || i == 0 {
		return nil
	}
	x := newRNG(g.cfg.Seed, streamFault<<8|datasetStream(ds), i)
	if x.float() >= g.cfg.FaultRate {
		return nil
	}
	list := g.faults[ds]
	return &list[x.intn(int64(len(list)))]
}

// faultAt is the fault planted at record i of ds, or nil. A duplicate is
// planted only after a record that loads: whether a repeat of a rejected
// record is a duplicate or a reject is not the generator's question to ask.
func (g *generator) faultAt(ds Dataset, i int64) *fault {
	f := g.plannedFault(ds, i)
	if f == nil || (f.kind != dupIdentical && f.kind != dupKey) {
		return f
	}
	switch ds {
	case VehicleLogs:
		if !g.vehicleLoaded(g.vehicleOf(i)) {
			return nil
		}
	case Shipments:
		if !g.logLoaded(g.logOf(i)) {
			return nil
		}
	}
	return f
}

func rejects(f *fault) bool { return f != nil && f.kind == mutate && f.reason != "" }

func (g *generator) vehicleLoaded(v int64) bool { return !rejects(g.faultAt(Vehicles, v)) }

func (g *generator) logLoaded(l int64) bool {
	return !rejects(g.faultAt(VehicleLogs, l)) && g.vehicleLoaded(g.vehicleOf(l))
}

// vehicleOf is the vehicle (0-based) that made log l.
func (g *generator) vehicleOf(l int64) int64 {
	x := newRNG(g.cfg.Seed, streamLogVehicle, l)
	return x.intn(g.cfg.Vehicles)
}

// logOf is the log (0-based) that carried shipment s.
func (g *generator) logOf(s int64) int64 {
	x := newRNG(g.cfg.Seed, streamShipment<<8|1, s)
	return x.intn(g.cfg.Logs)
}

// outcome is what ingest must do with record i of ds written without a fault.
func (g *generator) cleanOutcome(ds Dataset, i int64) string {
	switch ds {
	case VehicleLogs:
		if !g.vehicleLoaded(g.vehicleOf(i)) {
			return "unknown_vehicle"
		}
	case Shipments:
		if !g.logLoaded(g.logOf(i)) {
			return "unknown_log"
		}
	}
	return ""
}

func (g *generator) appendID(b []byte, ds Dataset, n int64) []byte {
	b = append(b, g.idPrefix[ds]...)
	digits := strconv.FormatInt(n+1, 10)
	for pad := g.idWidth[ds] - len(digits); pad > 0; pad-- {
		b = append(b, '0')
	}
	return append(b, digits...)
}

func (g *generator) build(r *record, ds Dataset, i int64) {
	r.reset()
	switch ds {
	case Vehicles:
		x := newRNG(g.cfg.Seed, streamVehicle, i)
		r.add("vehicle_id", func(b []byte) []byte { return g.appendQuotedID(b, Vehicles, i) })
		r.addString("name", "Vehicle "+strconv.FormatInt(i+1, 10))
		r.addCents("total_mileage", x.cents(1_000, 500_000))
	case VehicleLogs:
		x := newRNG(g.cfg.Seed, streamLog, i)
		day := g.cfg.From.AddDate(0, 0, int(x.intn(g.span)))
		mileage := x.cents(5, 600)
		fuel := mileage * (8 + x.intn(28)) / 100 // 0.08 to 0.35 litres per km
		r.add("log_id", func(b []byte) []byte { return g.appendQuotedID(b, VehicleLogs, i) })
		r.add("vehicle_id", func(b []byte) []byte { return g.appendQuotedID(b, Vehicles, g.vehicleOf(i)) })
		r.add("trip_date", func(b []byte) []byte {
			return append(day.AppendFormat(append(b, '"'), DateLayout), '"')
		})
		r.addCents("mileage", mileage)
		r.addCents("fuel_used", fuel)
	case Shipments:
		x := newRNG(g.cfg.Seed, streamShipment, i)
		origin, destination := g.city(&x), g.city(&x)
		r.add("shipment_id", func(b []byte) []byte { return g.appendQuotedID(b, Shipments, i) })
		r.addString("origin", origin)
		r.addString("destination", destination)
		r.addCents("weight", (5+x.intn(996))*10) // 0.5 to 100.0 kg, one decimal
		r.addCents("cost", x.cents(5, 1500))
		r.addInt("delivery_time", g.deliveryTime(&x, origin, destination))
		r.add("log_id", func(b []byte) []byte { return g.appendQuotedID(b, VehicleLogs, g.logOf(i)) })
	}
}

func (g *generator) appendQuotedID(b []byte, ds Dataset, n int64) []byte {
	return append(g.appendID(append(b, '"'), ds, n), '"')
}

// city draws a city: popular ones far more often, as in real fleets.
func (g *generator) city(x *rng) string {
	if g.cities == nil {
		return cityName(x.intn(100*g.cfg.Shipments + 1_000_000))
	}
	u := x.float()
	return g.cities[int64(u*u*float64(len(g.cities)))]
}

// deliveryTime varies around a per-route typical duration, so that routes
// differ in speed and reliability.
func (g *generator) deliveryTime(x *rng, origin, destination string) int64 {
	h := g.cfg.Seed ^ streamCity
	for _, s := range [2]string{origin, destination} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * 0x100000001b3
		}
		h = mix(h)
	}
	typical := 4 + int64(h%44)
	return max(1, typical+x.intn(13)-6)
}

func (g *generator) writeDataset(ctx context.Context, dir string, ds Dataset) (*DatasetKey, error) {
	path := filepath.Join(dir, g.cfg.FileName(ds))
	w, err := createOutput(path, g.cfg.Format, g.cfg.Gzip)
	if err != nil {
		return nil, err
	}
	defer w.abort()
	dk := &DatasetKey{File: filepath.Base(path), RejectedByReason: map[string]int64{}, Planted: map[string]int64{}}
	reject := func(reason string) {
		dk.Rejected++
		dk.RejectedByReason[reason]++
	}
	var rec, dup record
	n := g.count(ds)
	for i := range n {
		if i%(1<<14) == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		g.build(&rec, ds, i)
		f := g.faultAt(ds, i)
		if f != nil {
			dk.Planted[f.name]++
		}
		switch {
		case f == nil || f.kind == blankLine:
			if f != nil {
				w.blankLine()
			}
			if reason := g.cleanOutcome(ds, i); reason != "" {
				reject(reason)
			} else {
				dk.Loaded++
			}
		case f.kind == mutate:
			f.apply(&rec, ptr(newRNG(g.cfg.Seed, streamFault<<8|datasetStream(ds)|1<<16, i)), i)
			if f.reason != "" {
				reject(f.reason)
			} else if reason := g.cleanOutcome(ds, i); reason != "" {
				// An odd but valid record still needs its references.
				reject(reason)
			} else {
				dk.Loaded++
			}
		default: // a repeat follows the record, which loads (see faultAt)
			dk.Loaded++
			dup.copyFrom(&rec)
			if f.kind == dupKey {
				changeForDupKey[ds](&dup)
				reject("duplicate_key")
			} else {
				dk.Duplicates++
			}
		}
		dk.Read++
		if err := w.write(&rec); err != nil {
			return nil, err
		}
		if f != nil && (f.kind == dupIdentical || f.kind == dupKey) {
			dk.Read++
			if err := w.write(&dup); err != nil {
				return nil, err
			}
		}
	}
	if g.cfg.FaultRate > 0 && g.cfg.Format == FormatNDJSON && n > 0 {
		// R29: the last line is cut off mid-object, without a newline.
		g.build(&rec, ds, n-1)
		cutLine(&rec, nil, n-1)
		w.lastPartialLine(rec.verbatim)
		dk.Read++
		dk.Planted["truncated_last_line"]++
		reject("malformed_json")
	}
	if dk.Bytes, err = w.close(); err != nil {
		return nil, err
	}
	return dk, nil
}

func ptr[T any](v T) *T { return &v }

// output writes one dataset file: to a temporary name, renamed on close.
type output struct {
	path, tmp string
	f         *os.File
	gz        *gzip.Writer
	bw        *bufio.Writer
	format    Format
	records   int64
	bytes     int64 // uncompressed
	buf       []byte
	closed    bool
}

func createOutput(path string, format Format, compress bool) (*output, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", tmp, err)
	}
	o := &output{path: path, tmp: tmp, f: f, format: format}
	if compress {
		// BestSpeed: generating 10M records must not wait on compression.
		o.gz, _ = gzip.NewWriterLevel(f, gzip.BestSpeed)
		o.bw = bufio.NewWriterSize(o.gz, 1<<20)
	} else {
		o.bw = bufio.NewWriterSize(f, 1<<20)
	}
	return o, nil
}

func (o *output) emit(b []byte) error {
	n, err := o.bw.Write(b)
	o.bytes += int64(n)
	if err != nil {
		return fmt.Errorf("write %s: %w", o.tmp, err)
	}
	return nil
}

func (o *output) write(r *record) error {
	b := o.buf[:0]
	if o.format == FormatArray {
		if o.records == 0 {
			b = append(b, "[\n"...)
		} else {
			b = append(b, ",\n"...)
		}
		b = r.appendPretty(b)
	} else {
		b = append(r.appendLine(b), '\n')
	}
	o.buf = b
	o.records++
	return o.emit(b)
}

func (o *output) blankLine() { _ = o.emit([]byte("\n")) }

func (o *output) lastPartialLine(line []byte) { _ = o.emit(line) }

// close finishes the file and moves it into place; it returns the
// uncompressed size.
func (o *output) close() (int64, error) {
	if o.format == FormatArray {
		end := "\n]\n"
		if o.records == 0 {
			end = "[]\n"
		}
		if err := o.emit([]byte(end)); err != nil {
			return 0, err
		}
	}
	if err := o.bw.Flush(); err != nil {
		return 0, fmt.Errorf("write %s: %w", o.tmp, err)
	}
	if o.gz != nil {
		if err := o.gz.Close(); err != nil {
			return 0, fmt.Errorf("compress %s: %w", o.tmp, err)
		}
	}
	if err := o.f.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", o.tmp, err)
	}
	o.closed = true
	if err := os.Rename(o.tmp, o.path); err != nil {
		return 0, fmt.Errorf("rename %s: %w", o.tmp, err)
	}
	return o.bytes, nil
}

// abort removes the temporary file of an output that was not closed.
func (o *output) abort() {
	if !o.closed {
		o.f.Close()
		os.Remove(o.tmp)
	}
}
