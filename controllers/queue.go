package controllers

import (
	haulv1alpha1 "github.com/haul-dev/haul/api/v1alpha1"
)

// admit decides whether run may start, given the other runs on its
// database: runs start in creation order, at most maxActive at a time. When
// it may not, behind names the run it waits for.
func admit(run *haulv1alpha1.IngestionRun, others []haulv1alpha1.IngestionRun, maxActive int) (ok bool, behind string) {
	active, ahead := 0, 0
	var activeName, aheadName string
	for i := range others {
		o := &others[i]
		if o.UID == run.UID || o.IsFinished() || o.DeletionTimestamp != nil {
			continue
		}
		switch {
		case o.IsStarted():
			active++
			if activeName == "" {
				activeName = o.Name
			}
		case queuedBefore(o, run):
			ahead++
			if aheadName == "" || queuedBefore(o, byName(others, aheadName)) {
				aheadName = o.Name
			}
		}
	}
	if active+ahead < maxActive {
		return true, ""
	}
	if activeName != "" {
		return false, activeName
	}
	return false, aheadName
}

func byName(runs []haulv1alpha1.IngestionRun, name string) *haulv1alpha1.IngestionRun {
	for i := range runs {
		if runs[i].Name == name {
			return &runs[i]
		}
	}
	return nil
}

// queuedBefore orders waiting runs: the older first, then by name.
func queuedBefore(a, b *haulv1alpha1.IngestionRun) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
