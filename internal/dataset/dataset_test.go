package dataset

import (
	"slices"
	"testing"
)

// The load order holds each dataset once, referenced ones first, and a
// caller cannot change it for the next.
func TestLoadOrder(t *testing.T) {
	want := []Name{Vehicles, VehicleLogs, Shipments}
	got := LoadOrder()
	if !slices.Equal(got, want) {
		t.Fatalf("LoadOrder() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if LoadOrder()[0] != Vehicles {
		t.Error("LoadOrder shares its slice between callers")
	}
}
