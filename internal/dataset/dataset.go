// Package dataset names Haul's three input datasets (docs/data.md#2-datasets)
// once for every package that needs them: ingest, the data generator and the
// IngestionRun API, whose Dataset type is its own (an API stays stable) but
// takes its values from here.
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
