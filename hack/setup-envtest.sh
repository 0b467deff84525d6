#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries that controller-runtime's envtest
# starts, from the Go module proxy (prebuilt downloads are not reachable from
# our build machines), into a versioned cache outside the clone.
#
# Prints the folder holding the binaries as its last line of output, so that
#   export KUBEBUILDER_ASSETS="$(hack/setup-envtest.sh | tail -n1)"
# works. An existing KUBEBUILDER_ASSETS that holds both binaries is used as is.
#
# This file is the one place that records the control-plane versions.
set -euo pipefail

KUBERNETES_VERSION=1.37.2 # kube-apiserver; staging modules are v0.${minor}.${patch}
ETCD_VERSION=3.7.3        # etcd supported by KUBERNETES_VERSION

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

mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

# quiet runs a command, showing its output only if it fails.
quiet() {
	if ! "$@" >"$work/out.log" 2>&1; then
		cat "$work/out.log" >&2
		return 1
	fi
}

build_apiserver() {
	local mod="$work/apiserver" staging="v0.${KUBERNETES_VERSION#1.}"
	mkdir -p "$mod"
	cd "$mod"
	go mod init haul.dev/envtest-apiserver >/dev/null 2>&1
	# kubernetes' own go.mod points its staging modules at ./staging; replace
	# each with the published module of the same release instead.
	local upstream
	upstream=$(go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	{
		grep -E '^(go|godebug) ' "$upstream" || true
		echo "require k8s.io/kubernetes v$KUBERNETES_VERSION"
		sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging"'#p' "$upstream" |
			grep -v 'k8s.io/sample-'
	} >>go.mod
	# Drop the go line go mod init wrote: the upstream one (copied above) wins.
	awk 'NR>1 && /^go / && !seen++ {next} {print}' go.mod >go.mod.tmp && mv go.mod.tmp go.mod
	quiet go get "k8s.io/kubernetes/cmd/kube-apiserver@v$KUBERNETES_VERSION"
	local minor=${KUBERNETES_VERSION#1.}
	minor=${minor%%.*}
	local ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	done
	go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags "$ldflags" \
		-o "$dest/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
	mv "$dest/kube-apiserver.tmp" "$dest/kube-apiserver"
}

build_etcd() {
	local mod="$work/etcd"
	mkdir -p "$mod"
	cd "$mod"
	go mod init haul.dev/envtest-etcd >/dev/null 2>&1
	quiet go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
	go build -trimpath -ldflags "-s -w" -o "$dest/etcd.tmp" go.etcd.io/etcd/server/v3
	mv "$dest/etcd.tmp" "$dest/etcd"
}

echo "building envtest control plane (kube-apiserver v$KUBERNETES_VERSION, etcd v$ETCD_VERSION) into $dest; this takes several minutes once" >&2
[[ -x "$dest/etcd" ]] || build_etcd
[[ -x "$dest/kube-apiserver" ]] || build_apiserver
echo "$dest"
