package v1alpha1

import (
	"os"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/haul-dev/haul/internal/dataset"
)

// The CRD's enum of dataset names, written as a marker on Dataset, is the
// load order of internal/dataset, which the constants take their values from.
func TestDatasetEnumIsTheDatasets(t *testing.T) {
	raw, err := os.ReadFile("../../config/crd/bases/analytics.haul.dev_ingestionruns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ds := range dataset.LoadOrder() {
		want = append(want, string(ds))
	}
	found := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if enum, ok := v["enum"].([]any); ok && slices.Contains(enum, any(string(dataset.VehicleLogs))) {
				found++
				var got []string
				for _, e := range enum {
					got = append(got, e.(string))
				}
				if !slices.Equal(got, want) {
					t.Errorf("a dataset enum of the CRD is %v, want %v", got, want)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(crd)
	if found == 0 {
		t.Error("no dataset enum in the CRD")
	}
	for i, ds := range LoadOrder {
		if string(ds) != want[i] {
			t.Errorf("LoadOrder[%d] = %q, want %q", i, ds, want[i])
		}
	}
}
