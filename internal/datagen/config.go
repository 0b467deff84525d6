// Package datagen writes deterministic synthetic input for Haul: the three
// datasets in the reference's shape (docs/data.md#2-datasets), optionally with bad
// records planted and an answer key of what ingest must report for them.
//
// Every record is a pure function of (seed, dataset, index): the same config
// gives the same bytes, and memory stays constant whatever the counts.
package datagen

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/haul-dev/haul/internal/dataset"
)

// Dataset names one of the three input datasets (internal/dataset).
type Dataset = dataset.Name

// The datasets, by their names in this package.
const (
	Vehicles    = dataset.Vehicles
	VehicleLogs = dataset.VehicleLogs
	Shipments   = dataset.Shipments
)

// Datasets lists the datasets in load order.
var Datasets = dataset.LoadOrder()

// Format is the framing of a generated file.
type Format string

// The formats docs/data.md#1-files-and-framing accepts.
const (
	// FormatArray is one top-level JSON array, pretty-printed with a 2-space
	// indent like the reference's files.
	FormatArray Format = "array"
	// FormatNDJSON is one JSON object per line.
	FormatNDJSON Format = "ndjson"
)

// DateLayout is the form of trip_date.
const DateLayout = "2006-01-02"

// Defaults for Config.
const (
	DefaultVehicles  = 20
	DefaultShipments = 10_000
	DefaultCities    = 300
	DefaultSeed      = 1
)

// Config says what to generate. Zero counts take defaults (see Normalize).
type Config struct {
	// Vehicles, Logs and Shipments are record counts. Zero Logs means half
	// the shipments (at least one); zero Vehicles means DefaultVehicles or
	// one per 1,000 logs, whichever is more.
	Vehicles, Logs, Shipments int64
	Seed                      uint64
	Format                    Format
	Gzip                      bool
	// Cities bounds the city list routes are drawn from, so routes repeat as
	// in real fleets; UniqueCities draws (almost) every name fresh instead.
	Cities       int64
	UniqueCities bool
	// From and To bound trip dates, both inclusive.
	From, To time.Time
	// IDPrefix is put before log and shipment ids, so that a second batch
	// of data (another seed, other dates) does not reuse the first one's
	// ids. Vehicle ids are left alone: later batches reuse the fleet.
	IDPrefix string
	// FaultRate is the share of records replaced by, or followed by, a
	// planted fault (0 plants none).
	FaultRate float64
}

// Normalize fills defaults and checks the config.
func (c Config) Normalize() (Config, error) {
	if c.Shipments < 0 || c.Logs < 0 || c.Vehicles < 0 {
		return c, errors.New("counts must not be negative")
	}
	if c.Logs == 0 {
		c.Logs = max(1, c.Shipments/2)
	}
	if c.Vehicles == 0 {
		c.Vehicles = max(DefaultVehicles, c.Logs/1000)
	}
	if c.Format == "" {
		c.Format = FormatArray
	}
	if c.Format != FormatArray && c.Format != FormatNDJSON {
		return c, fmt.Errorf("format %q: want %q or %q", c.Format, FormatArray, FormatNDJSON)
	}
	if c.Cities == 0 {
		c.Cities = DefaultCities
	}
	if c.Cities < 1 {
		return c, fmt.Errorf("cities %d: want at least 1", c.Cities)
	}
	if c.From.IsZero() {
		c.From = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.To.IsZero() {
		c.To = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	}
	if c.To.Before(c.From) {
		return c, fmt.Errorf("date span %s..%s is empty", c.From.Format(DateLayout), c.To.Format(DateLayout))
	}
	if len(c.IDPrefix) > 32 || strings.ContainsAny(c.IDPrefix, "\"\\") {
		return c, fmt.Errorf("id prefix %q: want at most 32 characters, no quotes or backslashes", c.IDPrefix)
	}
	if c.FaultRate < 0 || c.FaultRate > 1 {
		return c, fmt.Errorf("fault rate %v: want 0..1", c.FaultRate)
	}
	return c, nil
}

// FileName is the name of a dataset's file in the output folder.
func (c Config) FileName(ds Dataset) string {
	name := string(ds) + ".json"
	if c.Gzip {
		name += ".gz"
	}
	return name
}
