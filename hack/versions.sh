# shellcheck shell=bash
# The one place that records the Kubernetes versions Haul tests against:
# hack/setup-envtest.sh (envtest's kube-apiserver and etcd) and hack/cluster.sh
# (a real node: the same kube-apiserver and etcd, plus kube-controller-manager,
# kube-scheduler, kubelet and kubectl) source it. Both build from the Go module
# proxy and cache by these versions, so a bump rebuilds both.
# shellcheck disable=SC2034 # read by the scripts that source it

KUBERNETES_VERSION=1.37.2 # staging modules (k8s.io/api, ...) are v0.${minor}.${patch}
ETCD_VERSION=3.7.3        # an etcd KUBERNETES_VERSION supports
