package v1alpha1

import "github.com/haul-dev/haul/internal/dataset"

// LoadOrder lists the datasets in the order they load (docs/data.md#41-load-order).
var LoadOrder = func() []Dataset {
	var out []Dataset
	for _, ds := range dataset.LoadOrder() {
		out = append(out, Dataset(ds))
	}
	return out
}()

// Files returns the sources of one dataset.
func (s *Sources) Files(ds Dataset) []Source {
	switch ds {
	case DatasetVehicles:
		return s.Vehicles
	case DatasetVehicleLogs:
		return s.VehicleLogs
	case DatasetShipments:
		return s.Shipments
	}
	return nil
}

// Datasets returns the datasets the run loads, in load order.
func (r *IngestionRun) Datasets() []Dataset {
	var out []Dataset
	for _, ds := range LoadOrder {
		if len(r.Spec.Sources.Files(ds)) > 0 {
			out = append(out, ds)
		}
	}
	return out
}

// IsFinished reports whether the run succeeded or failed.
func (r *IngestionRun) IsFinished() bool {
	return r.Status.Phase == PhaseSucceeded || r.Status.Phase == PhaseFailed
}

// IsStarted reports whether the run left the queue: its first Job may
// exist.
func (r *IngestionRun) IsStarted() bool { return r.Status.StartTime != nil }

// DatabaseKey identifies the run's database within its namespace: runs with
// the same key queue behind each other.
func (r *IngestionRun) DatabaseKey() string {
	key := r.Spec.Database.Key
	if key == "" {
		key = DefaultDatabaseKey
	}
	return r.Spec.Database.SecretName + "/" + key
}

// DefaultDatabaseKey is DatabaseRef.Key when unset.
const DefaultDatabaseKey = "url"

// PrecalcEnabled reports whether the run refreshes the aggregates.
func (r *IngestionRun) PrecalcEnabled() bool { return r.Spec.Precalc == nil || *r.Spec.Precalc }
