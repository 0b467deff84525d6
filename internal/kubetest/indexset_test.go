package kubetest

import (
	"testing"
)

func TestIndexSet(t *testing.T) {
	for _, tc := range []struct {
		completions int
		add         []int
		intervals   string
		want        string
		count       int32
	}{
		{completions: 3, want: ""},
		{completions: 3, add: []int{0, 1, 2}, want: "0-2", count: 3},
		{completions: 6, add: []int{0, 1, 2, 4}, want: "0-2,4", count: 4},
		{completions: 6, add: []int{4, 5}, want: "4,5", count: 2},
		{completions: 9, add: []int{1}, intervals: "3-5,7", want: "1,3-5,7", count: 5},
		{completions: 4, intervals: "0-9,x", want: "0-3", count: 4},
		{completions: 4, add: []int{7}, want: "", count: 0},
	} {
		s := make(indexSet, tc.completions)
		for _, ix := range tc.add {
			s.add(ix)
		}
		s.addIntervals(tc.intervals)
		if got := s.String(); got != tc.want || s.count() != tc.count {
			t.Errorf("indexes %v and %q of %d: got %q (%d); want %q (%d)", tc.add, tc.intervals, tc.completions, got, s.count(), tc.want, tc.count)
		}
	}
}
