package controllers

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
)

func TestAdmit(t *testing.T) {
	// queued is a run created at minute m that has not started.
	queued := func(name string, m int) *runWrapper {
		return makeRun(name).vehicles("v.json").uid(types.UID("uid-" + name)).created(time.Duration(m) * time.Minute)
	}
	self := queued("self", 10).obj()

	tests := []struct {
		name       string
		others     []*runWrapper
		maxActive  int
		wantOK     bool
		wantBehind string
	}{
		{name: "alone", maxActive: 1, wantOK: true},
		{name: "only itself", others: []*runWrapper{queued("self", 10)}, maxActive: 1, wantOK: true},
		{
			name:      "a run loading",
			others:    []*runWrapper{queued("self", 10), queued("loading", 20).started()},
			maxActive: 1, wantBehind: "loading",
		},
		{
			name:      "an older run waiting",
			others:    []*runWrapper{queued("older", 5), queued("self", 10)},
			maxActive: 1, wantBehind: "older",
		},
		{
			name:      "the oldest of the runs waiting ahead",
			others:    []*runWrapper{queued("older", 5), queued("oldest", 1), queued("newer", 12)},
			maxActive: 1, wantBehind: "oldest",
		},
		{
			name:      "a newer run waiting",
			others:    []*runWrapper{queued("newer", 11)},
			maxActive: 1, wantOK: true,
		},
		{
			name:      "created the same second: by name",
			others:    []*runWrapper{queued("aardvark", 10), queued("zebra", 10)},
			maxActive: 1, wantBehind: "aardvark",
		},
		{
			name: "finished and deleted runs do not count",
			others: []*runWrapper{
				queued("done", 1).started().phase(haulv1alpha1.PhaseSucceeded),
				queued("failed", 2).started().phase(haulv1alpha1.PhaseFailed),
				queued("going", 3).started().deleting(),
				queued("withdrawn", 4).deleting(),
			},
			maxActive: 1, wantOK: true,
		},
		{
			name:      "room for two",
			others:    []*runWrapper{queued("loading", 20).started()},
			maxActive: 2, wantOK: true,
		},
		{
			name:      "room for two, one loading, one ahead: behind the loading one",
			others:    []*runWrapper{queued("older", 5), queued("loading", 20).started()},
			maxActive: 2, wantBehind: "loading",
		},
		{
			name:      "room for three, one loading, one ahead",
			others:    []*runWrapper{queued("older", 5), queued("loading", 20).started()},
			maxActive: 3, wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var others []haulv1alpha1.IngestionRun
			for _, o := range tt.others {
				others = append(others, *o.obj())
			}
			ok, behind := admit(self, others, tt.maxActive)
			if ok != tt.wantOK || behind != tt.wantBehind {
				t.Errorf("admit = (%t, %q), want (%t, %q)", ok, behind, tt.wantOK, tt.wantBehind)
			}
		})
	}
}

// Runs waiting on one database start one by one in creation order,
// whatever order the cache lists them in.
func TestAdmitOrder(t *testing.T) {
	var runs []haulv1alpha1.IngestionRun
	for i, m := range []int{30, 10, 20, 10} {
		runs = append(runs, *makeRun(fmt.Sprintf("run-%d", i)).vehicles("v.json").
			uid(types.UID(fmt.Sprint("uid-", i))).created(time.Duration(m) * time.Minute).obj())
	}
	var order []string
	for range runs {
		var admitted []int
		for i := range runs {
			if r := &runs[i]; !r.IsStarted() {
				if ok, _ := admit(r, runs, 1); ok {
					admitted = append(admitted, i)
				}
			}
		}
		if len(admitted) != 1 {
			t.Fatalf("after %v, %d runs may start, want 1", order, len(admitted))
		}
		// It loads, then ends.
		r := &runs[admitted[0]]
		order = append(order, r.Name)
		r.Status = makeRun("x").started().phase(haulv1alpha1.PhaseSucceeded).Status
	}
	want := "[run-1 run-3 run-2 run-0]"
	if got := fmt.Sprint(order); got != want {
		t.Errorf("runs started in order %s, want %s", got, want)
	}
}
