#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries that controller-runtime's envtest
# starts, from the Go module proxy (prebuilt downloads are not reachable from
# our build machines), into a versioned cache outside the clone.
#
# Prints the folder holding the binaries as its last line of output, so that
#   export KUBEBUILDER_ASSETS="$(hack/setup-envtest.sh | tail -n1)"
# works. An existing KUBEBUILDER_ASSETS that holds both binaries is used as is.
#
# The versions are in hack/versions.sh; hack/cluster.sh uses the same binaries.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.sh
source "$here/versions.sh"
# shellcheck source-path=SCRIPTDIR source=lib/kube-build.sh
source "$here/lib/kube-build.sh"

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]]; then
	echo "$KUBEBUILDER_ASSETS"
	exit 0
fi

cache="${HAUL_CACHE_DIR:-$HOME/.cache/haul}"
dest="$cache/envtest/k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
if [[ -x "$dest/kube-apiserver" && -x "$dest/etcd" ]]; then
	echo "$dest"
	exit 0
fi

echo "building envtest control plane (kube-apiserver v$KUBERNETES_VERSION, etcd v$ETCD_VERSION) into $dest; this takes several minutes once" >&2
[[ -x "$dest/etcd" ]] || etcd_build "$dest"
[[ -x "$dest/kube-apiserver" ]] || kube_build "$dest" kube-apiserver
echo "$dest"
