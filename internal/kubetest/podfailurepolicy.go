package kubetest

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// matchPodFailurePolicy is the Job controller's match of a failed Pod against
// the Job's podFailurePolicy: it returns the Job's failure message when a
// FailJob rule matches, and whether the failure counts towards backoffLimit
// (not when an Ignore rule matches).
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) (*string, bool) {
	if policy == nil {
		return nil, true
	}
	for i, rule := range policy.Rules {
		var failJob string
		switch {
		case rule.OnExitCodes != nil:
			s := matchExitCodes(pod.Status.ContainerStatuses, rule.OnExitCodes)
			if s == nil {
				s = matchExitCodes(pod.Status.InitContainerStatuses, rule.OnExitCodes)
			}
			if s == nil {
				continue
			}
			failJob = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				s.Name, pod.Namespace, pod.Name, s.State.Terminated.ExitCode, rule.Action, i)
		case rule.OnPodConditions != nil:
			c := matchPodConditions(pod.Status.Conditions, rule.OnPodConditions)
			if c == nil {
				continue
			}
			failJob = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
				pod.Namespace, pod.Name, c.Type, rule.Action, i)
		default:
			continue
		}
		switch rule.Action {
		case batchv1.PodFailurePolicyActionIgnore:
			return nil, false
		case batchv1.PodFailurePolicyActionFailJob:
			return &failJob, true
		default: // Count, and FailIndex without backoffLimitPerIndex
			return nil, true
		}
	}
	return nil, true
}

func matchExitCodes(statuses []corev1.ContainerStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for i := range statuses {
		s := &statuses[i]
		if s.State.Terminated == nil || s.State.Terminated.ExitCode == 0 {
			continue
		}
		if req.ContainerName != nil && *req.ContainerName != s.Name {
			continue
		}
		in := slices.Contains(req.Values, s.State.Terminated.ExitCode)
		if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && in) || (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn && !in) {
			return s
		}
	}
	return nil
}

func matchPodConditions(conditions []corev1.PodCondition, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range conditions {
		for _, p := range patterns {
			if conditions[i].Type == p.Type && conditions[i].Status == p.Status {
				return &conditions[i]
			}
		}
	}
	return nil
}
