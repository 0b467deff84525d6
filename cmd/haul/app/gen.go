package app

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/internal/datagen"
)

type genFlags struct {
	out                       string
	vehicles, logs, shipments int64
	seed                      uint64
	format, cities, from, to  string
	idPrefix                  string
	gzip                      bool
	faults                    float64
}

func (f *genFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.Int64Var(&f.vehicles, "vehicles", 0, "vehicles to write (default 20, or one per 1,000 logs if more)")
	fs.Int64Var(&f.logs, "logs", 0, "vehicle logs to write (default half the shipments)")
	fs.Int64Var(&f.shipments, "shipments", datagen.DefaultShipments, "shipments to write")
	fs.Uint64Var(&f.seed, "seed", datagen.DefaultSeed, "seed: the same flags and seed write the same bytes")
	fs.StringVar(&f.format, "format", string(datagen.FormatArray), "array (one pretty-printed JSON array, like the reference) or ndjson")
	fs.BoolVar(&f.gzip, "gzip", false, "gzip the files (written as NAME.json.gz)")
	fs.StringVar(&f.cities, "cities", strconv.Itoa(datagen.DefaultCities), "size of the city list routes use, or \"unique\" for fresh names almost every time")
	fs.StringVar(&f.from, "from", "2023-01-01", "first trip date")
	fs.StringVar(&f.to, "to", "2025-12-31", "last trip date")
	fs.StringVar(&f.idPrefix, "id-prefix", "", "put before log and shipment ids, so a second batch does not reuse the first's")
	fs.Float64Var(&f.faults, "faults", 0, "share of records (0..1) planted as bad or odd records of docs/data.md#91-record-level-cases")
}

func (f *genFlags) config() (datagen.Config, error) {
	cfg := datagen.Config{
		Vehicles: f.vehicles, Logs: f.logs, Shipments: f.shipments,
		Seed: f.seed, Format: datagen.Format(f.format), Gzip: f.gzip, FaultRate: f.faults, IDPrefix: f.idPrefix,
	}
	if f.cities == "unique" {
		cfg.UniqueCities = true
	} else {
		n, err := strconv.ParseInt(f.cities, 10, 64)
		if err != nil || n < 1 {
			return cfg, usagef("--cities %q: want a positive number or \"unique\"", f.cities)
		}
		cfg.Cities = n
	}
	var err error
	if cfg.From, err = time.Parse(datagen.DateLayout, f.from); err != nil {
		return cfg, usagef("--from %q: want YYYY-MM-DD", f.from)
	}
	if cfg.To, err = time.Parse(datagen.DateLayout, f.to); err != nil {
		return cfg, usagef("--to %q: want YYYY-MM-DD", f.to)
	}
	if cfg, err = cfg.Normalize(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func newGenCmd() *cobra.Command {
	var f genFlags
	cmd := &cobra.Command{
		Use:   "gen --out DIR",
		Short: "Write deterministic synthetic vehicles, vehicle_logs and shipments files",
		Long: `Write DIR/vehicles.json, DIR/vehicle_logs.json and DIR/shipments.json in the
reference's shape, streamed in constant memory, and DIR/expected.json: what a
first load into an empty database must report per dataset (records read,
loaded, duplicates, rejected per reason). --faults plants the bad records of
docs/data.md#91-record-level-cases at that rate.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.out == "" {
				return usagef("--out is required")
			}
			cfg, err := f.config()
			if err != nil {
				return err
			}
			start := time.Now()
			key, err := datagen.Generate(cmd.Context(), f.out, cfg)
			if err != nil {
				return err
			}
			printAnswerKey(cmd.OutOrStdout(), f.out, key, time.Since(start))
			return nil
		},
	}
	cmd.Flags().StringVar(&f.out, "out", "", "folder to write into (created if missing)")
	f.register(cmd)
	return cmd
}

func printAnswerKey(w io.Writer, dir string, key *datagen.AnswerKey, took time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "records\tbytes\texpect loaded\tduplicates\trejected\t  file")
	for _, ds := range datagen.Datasets {
		k := key.Datasets[ds]
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t  %s\n", k.Read, k.Bytes, k.Loaded, k.Duplicates, k.Rejected, filepath.Join(dir, k.File))
	}
	tw.Flush()
	fmt.Fprintf(w, "answer key: %s (seed %d, format %s, faults %g); took %s\n",
		filepath.Join(dir, datagen.AnswerKeyFile), key.Seed, key.Format, key.FaultRate, took.Round(time.Millisecond))
}
