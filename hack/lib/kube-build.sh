# shellcheck shell=bash
# shellcheck disable=SC2030,SC2031 # each build runs in a subshell of its own, on purpose
# Builds Kubernetes commands from the Go module proxy: prebuilt downloads are
# not reachable from our build machines. Sourced by hack/setup-envtest.sh and
# hack/cluster.sh after hack/versions.sh.
#
#   kube_build DEST kube-apiserver kubelet ...   # k8s.io/kubernetes/cmd/NAME -> DEST/NAME
#   etcd_build DEST                              # go.etcd.io/etcd/server/v3 -> DEST/etcd
#
# Each builds in a throwaway module (not the project's go.mod), statically
# (CGO_ENABLED=0), and moves a binary into DEST only once it is whole, so an
# interrupted build is redone next time. Several commands in one go build
# share the compiled packages.

: "${KUBERNETES_VERSION:?source hack/versions.sh first}"

# kube_quiet LOG COMMAND...: run COMMAND, showing its output only if it fails.
kube_quiet() {
	local log=$1
	shift
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		return 1
	fi
}

# kube_module DEST MODULE, in a build's subshell: create DEST, and a new
# module MODULE in a folder of its own (work, removed at exit) to build in.
kube_module() {
	mkdir -p "$1"
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	cd "$work"
	go mod init "$2" >/dev/null 2>&1
}

kube_build() (
	set -euo pipefail
	local dest=$1 work staging="v0.${KUBERNETES_VERSION#1.}" upstream minor cmd
	shift
	local pkgs=()
	for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
	local -x GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
	kube_module "$dest" haul.dev/kube-build
	# kubernetes' own go.mod points its staging modules at ./staging; replace
	# each with the published module of the same release instead.
	upstream=$(go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	{
		grep -E '^(go|godebug) ' "$upstream" || true
		echo "require k8s.io/kubernetes v$KUBERNETES_VERSION"
		sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging"'#p' "$upstream" |
			grep -v 'k8s.io/sample-'
	} >>go.mod
	# Drop the go line go mod init wrote: the upstream one (copied above) wins.
	awk 'NR>1 && /^go / && !seen++ {next} {print}' go.mod >go.mod.tmp && mv go.mod.tmp go.mod
	for pkg in "${pkgs[@]}"; do
		kube_quiet "$work/get.log" go get "$pkg@v$KUBERNETES_VERSION"
	done
	minor=${KUBERNETES_VERSION#1.}
	minor=${minor%%.*}
	# Without the stamp /version says v0.0.0-master.
	local ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	done
	mkdir -p "$work/out"
	go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags "$ldflags" -o "$work/out/" "${pkgs[@]}"
	for cmd in "$@"; do
		mv "$work/out/$cmd" "$dest/$cmd.tmp"
		mv "$dest/$cmd.tmp" "$dest/$cmd"
	done
)

etcd_build() (
	set -euo pipefail
	local dest=$1 work
	: "${ETCD_VERSION:?source hack/versions.sh first}"
	local -x GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
	kube_module "$dest" haul.dev/etcd-build
	kube_quiet "$work/get.log" go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
	go build -trimpath -ldflags "-s -w" -o "$dest/etcd.tmp" go.etcd.io/etcd/server/v3
	mv "$dest/etcd.tmp" "$dest/etcd"
)
