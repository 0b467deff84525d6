// Package dataset names Haul's three input datasets (docs/data.md#2-datasets)
// once for every package that needs them: ingest, the data generator and the
// IngestionRun API, whose Dataset type is its own (an API stays stable) but
// takes its values from here. Counts are a dataset's record counts in a run.
package dataset

// Name names one of the three input datasets.
type Name string

// The datasets, in load order (docs/data.md#41-load-order).
const (
	Vehicles    Name = "vehicles"
	VehicleLogs Name = "vehicle_logs"
	Shipments   Name = "shipments"
)

// LoadOrder lists the datasets in the order a run loads them: a vehicle
// log refers to its vehicle, a shipment to its log.
func LoadOrder() []Name { return []Name{Vehicles, VehicleLogs, Shipments} }

// Counts are what a run did with one dataset's records, over every attempt:
// each record read was loaded, skipped as a duplicate or rejected. The run
// report (docs/data.md#47-the-run-report) and the API's runs
// (internal/runstore) embed them; the IngestionRun status and a Job pod's
// summary, whose JSON is camelCase, keep fields of their own.
type Counts struct {
	Read             int64            `json:"read"`
	Loaded           int64            `json:"loaded"`
	Duplicates       int64            `json:"duplicates"`
	Rejected         int64            `json:"rejected"`
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
}
