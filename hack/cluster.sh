#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, without Docker: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and a kubelet built
# from the Go module proxy (the versions of hack/versions.sh, cached in
# ~/.cache/haul), containerd, runc and the CNI plugins from Debian's packages,
# and Haul's image built by hack/image and imported into containerd as
# docker.io/library/haul:dev (pods use haul:dev with imagePullPolicy Never).
#
#   hack/cluster.sh up       # start (or, when up, re-import the image); prints the kubeconfig's path last
#   hack/cluster.sh image    # rebuild and re-import the image of the working tree
#   hack/cluster.sh status   # what runs; exit 0 when the node is Ready
#   hack/cluster.sh down     # stop and remove everything up made
#   hack/cluster.sh logs     # the tail of each component's log
#   hack/cluster.sh env      # export lines for test/e2e's TestCluster (make test-cluster)
#
# Needs root. Everything lives in one state folder (HAUL_CLUSTER_DIR,
# default /var/tmp/haul-cluster); down removes it and what the node made
# elsewhere (the bridge, iptables chains, the route, mounts, cgroups, the
# files kubelet and containerd write outside it), and restores ip_forward.
#
# Pod traffic never leaves the machine: pods sit on a bridge of their own
# with a route to the service range only, and FORWARD drops anything from or
# to the pod subnet that is not inside it. There is no kube-proxy and no
# DNS: one DNAT rule takes the kubernetes Service's IP to the API server, and
# pods reach the host (PostgreSQL, say) at the bridge's address, GATEWAY.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.sh
source "$here/versions.sh"
# shellcheck source-path=SCRIPTDIR source=lib/kube-build.sh
source "$here/lib/kube-build.sh"

STATE="${HAUL_CLUSTER_DIR:-/var/tmp/haul-cluster}"
CACHE="${HAUL_CACHE_DIR:-$HOME/.cache/haul}"
BIN="$CACHE/cluster/k8s-$KUBERNETES_VERSION"
NODE=haul-node
BRIDGE=haulbr0
POD_CIDR=10.244.77.0/24
GATEWAY=10.244.77.1 # the bridge's address: the node's IP, the API server's and the host's for pods
SERVICE_CIDR=10.96.77.0/24
SERVICE_IP=10.96.77.1 # the kubernetes Service
APISERVER_PORT=16443
ETCD_PORT=12379
KUBELET_PORT=20250
CHAIN=HAUL-CLUSTER
SANDBOX_IMAGE=registry.k8s.io/pause:3.10
IMAGE=docker.io/library/haul:dev
SOCK="$STATE/containerd/containerd.sock"
KUBECONFIG_ADMIN="$STATE/kubeconfig"
# Paths outside the state folder that kubelet, containerd and the CNI
# plugins create; down removes those that did not exist before up.
OUTSIDE=(/var/log/containers /var/log/pods /var/lib/kubelet /var/lib/cni /run/netns /run/containerd /opt/containerd /run/mount)
# The iptables chains the kubelet makes (in both families) for its own use.
KUBELET_CHAINS=(KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT)
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() { echo "cluster: $*" >&2; }
die() {
	log "$*"
	exit 1
}

kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
ctr() { command ctr --address "$SOCK" --namespace k8s.io "$@"; }

# --- what up needs ----------------------------------------------------------

need_root() { [[ $(id -u) -eq 0 ]] || die "needs root (containerd, kubelet, iptables)"; }

# packages: containerd, runc, the CNI plugins and iptables, from Debian's
# packages when missing.
packages() {
	if command -v containerd >/dev/null && command -v runc >/dev/null && [[ -x /usr/lib/cni/bridge ]] &&
		command -v iptables >/dev/null && command -v openssl >/dev/null; then
		return
	fi
	command -v apt-get >/dev/null || die "containerd, runc, the CNI plugins, iptables and openssl are needed"
	log "installing containerd, runc, CNI plugins, iptables"
	local pkgs=(containerd runc containernetworking-plugins iptables openssl)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
}

# binaries: envtest's kube-apiserver and etcd, and the node's commands,
# built once into BIN.
binaries() {
	local assets missing=() cmd
	assets="$("$here/setup-envtest.sh" | tail -n1)"
	for cmd in kube-apiserver etcd; do
		ln -sf "$assets/$cmd" "$STATE/bin/$cmd"
	done
	for cmd in kube-controller-manager kube-scheduler kubelet kubectl; do
		[[ -x "$BIN/$cmd" ]] || missing+=("$cmd")
	done
	if ((${#missing[@]})); then
		log "building ${missing[*]} v$KUBERNETES_VERSION into $BIN; this takes several minutes once"
		kube_build "$BIN" "${missing[@]}"
	fi
	for cmd in kube-controller-manager kube-scheduler kubelet kubectl; do
		ln -sf "$BIN/$cmd" "$STATE/bin/$cmd"
	done
}

# images: the haul binary as `make build` makes it and the pause binary, in
# one tarball of two images (hack/image).
images() {
	log "building the haul and pause images"
	make -C "$root" --no-print-directory build >&2
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$STATE/bin/pause" ./hack/pause &&
		go run ./hack/image --haul bin/haul --haul-name "$IMAGE" --pause "$STATE/bin/pause" \
			--pause-name "$SANDBOX_IMAGE" --out "$STATE/images.tar")
}

# import_images tries again: once, on a fresh containerd that answered
# `ctr version`, the import exited 0 and the image was not listed (a CI run,
# 2026-12-06; the same tarball imported at the next try).
import_images() {
	local out try
	for try in 1 2 3 4 5; do
		if out=$(ctr images import "$STATE/images.tar" 2>&1) && ctr images ls -q | grep -qx "$IMAGE"; then
			return
		fi
		log "containerd has no $IMAGE after import $try of 5: ${out:-no output}"
		sleep 2
	done
	die "containerd has no $IMAGE after 5 imports"
}

# --- state ------------------------------------------------------------------

# remember: what down restores or keeps, written once by the first up.
remember() {
	[[ -f "$STATE/before" ]] && return
	{
		echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
		{ iptables-save; ip6tables-save; } 2>/dev/null | grep -q '^:KUBE-' && echo "kubelet_chains=1"
		local p
		for p in "${OUTSIDE[@]}"; do
			[[ -e "$p" ]] && echo "existed=$p"
		done
	} >"$STATE/before.tmp"
	mv "$STATE/before.tmp" "$STATE/before"
}

existed() { grep -qx "existed=$1" "$STATE/before" 2>/dev/null; }

certs() {
	local pki="$STATE/pki"
	[[ -f "$pki/done" ]] && return
	mkdir -p "$pki"
	(
		cd "$pki"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=haul-cluster-ca 2>/dev/null
		# sign NAME SUBJECT EXTENSIONS
		sign() {
			openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
			printf '%b' "$3" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -out "$1.crt" -extfile "$1.ext" 2>/dev/null
		}
		sign apiserver /CN=kube-apiserver "subjectAltName=IP:127.0.0.1,IP:$GATEWAY,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n"
		sign kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth\n"
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		# One static token per client: admin, the node, the controller manager, the scheduler.
		local user
		for user in admin node controller-manager scheduler; do
			openssl rand -hex 16 >"token-$user"
		done
		{
			echo "$(cat token-admin),admin,admin,system:masters"
			echo "$(cat token-node),system:node:$NODE,node,system:nodes"
			echo "$(cat token-controller-manager),system:kube-controller-manager,controller-manager"
			echo "$(cat token-scheduler),system:kube-scheduler,scheduler"
		} >tokens.csv
		touch ./done
	)
	local user
	for user in admin node controller-manager scheduler; do
		kubeconfig "$user" >"$STATE/$user.kubeconfig"
	done
	cp "$STATE/admin.kubeconfig" "$KUBECONFIG_ADMIN"
}

kubeconfig() {
	cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: haul
  cluster:
    server: https://$GATEWAY:$APISERVER_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: $1
  user:
    token: $(cat "$STATE/pki/token-$1")
contexts:
- name: haul
  context: {cluster: haul, user: $1}
current-context: haul
EOF
}

# --- network ----------------------------------------------------------------

network() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$GATEWAY/${POD_CIDR#*/}" dev "$BRIDGE"
	fi
	ip link set "$BRIDGE" up
	if ! iptables -n -L "$CHAIN" >/dev/null 2>&1; then
		iptables -N "$CHAIN"
		iptables -A "$CHAIN" -s "$POD_CIDR" ! -d "$POD_CIDR" -j DROP
		iptables -A "$CHAIN" -d "$POD_CIDR" ! -s "$POD_CIDR" -j DROP
	fi
	iptables -C FORWARD -j "$CHAIN" 2>/dev/null || iptables -I FORWARD 1 -j "$CHAIN"
	if ! iptables -t nat -n -L "$CHAIN" >/dev/null 2>&1; then
		iptables -t nat -N "$CHAIN"
		iptables -t nat -A "$CHAIN" -d "$SERVICE_IP/32" -p tcp --dport 443 -j DNAT --to-destination "$GATEWAY:$APISERVER_PORT"
	fi
	iptables -t nat -C PREROUTING -j "$CHAIN" 2>/dev/null || iptables -t nat -I PREROUTING 1 -j "$CHAIN"
	ip route show type blackhole | grep -q "^blackhole $SERVICE_CIDR" || ip route add blackhole "$SERVICE_CIDR"
	mkdir -p "$STATE/cni/net.d"
	# No default route in pods: the service range only (the kubernetes
	# Service's DNAT); the host is on the link.
	cat >"$STATE/cni/net.d/10-haul.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "haul",
  "plugins": [{
    "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
    "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
             "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GATEWAY"}]],
             "routes": [{"dst": "$SERVICE_CIDR"}]}
  }]
}
EOF
}

network_down() {
	iptables -t nat -D PREROUTING -j "$CHAIN" 2>/dev/null || true
	iptables -t nat -F "$CHAIN" 2>/dev/null && iptables -t nat -X "$CHAIN"
	iptables -D FORWARD -j "$CHAIN" 2>/dev/null || true
	iptables -F "$CHAIN" 2>/dev/null && iptables -X "$CHAIN"
	ip route del blackhole "$SERVICE_CIDR" 2>/dev/null || true
	ip link del "$BRIDGE" 2>/dev/null || true
	grep -qx kubelet_chains=1 "$STATE/before" 2>/dev/null || kubelet_chains_down
	if [[ -f "$STATE/before" ]]; then
		sed -n 's/^ip_forward=//p' "$STATE/before" >/proc/sys/net/ipv4/ip_forward
	fi
}

# kubelet_chains_down: remove the kubelet's chains and the rules that jump
# to them, in every table and both families.
kubelet_chains_down() {
	local cmd table chain hook
	for cmd in iptables ip6tables; do
		command -v "$cmd" >/dev/null || continue
		for table in filter nat mangle; do
			for hook in INPUT OUTPUT; do
				while "$cmd" -t "$table" -D "$hook" -j KUBE-FIREWALL 2>/dev/null; do :; done
			done
			for chain in "${KUBELET_CHAINS[@]}"; do
				if "$cmd" -t "$table" -F "$chain" 2>/dev/null; then
					"$cmd" -t "$table" -X "$chain"
				fi
			done
		done
	done
}

# --- processes --------------------------------------------------------------

# start NAME COMMAND...: run COMMAND in its own session, logging to
# logs/NAME.log, unless NAME runs already.
start() {
	local name=$1
	shift
	running "$name" && return
	setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$STATE/run/$name.pid"
}

running() {
	local pid
	pid=$(cat "$STATE/run/$1.pid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null
}

# stop NAME: SIGTERM, then SIGKILL after 15 s.
stop() {
	local pid
	pid=$(cat "$STATE/run/$1.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$STATE/run/$1.pid"
}

# wait_for WHAT SECONDS COMMAND...: retry COMMAND until it succeeds.
wait_for() {
	local what=$1 secs=$2
	shift 2
	for _ in $(seq $((secs * 5))); do
		"$@" >/dev/null 2>&1 && return
		sleep 0.2
	done
	logs >&2
	die "$what not ready after $secs s"
}

containerd_up() {
	mkdir -p "$STATE/containerd"
	cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # The VM drops CAP_SYS_RESOURCE: runc cannot lower a sandbox's oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/runc"
EOF
	start containerd containerd --config "$STATE/containerd/config.toml"
	wait_for containerd 30 ctr version
}

control_plane_up() {
	local pki="$STATE/pki"
	start etcd "$STATE/bin/etcd" --name haul --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
		--initial-cluster "haul=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync
	start kube-apiserver "$STATE/bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address "$GATEWAY" --advertise-address "$GATEWAY" --secure-port "$APISERVER_PORT" \
		--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--kubelet-client-certificate "$pki/kubelet-client.crt" --kubelet-client-key "$pki/kubelet-client.key" \
		--kubelet-preferred-address-types InternalIP --allow-privileged
	wait_for kube-apiserver 60 kubectl get --raw /readyz
	start kube-controller-manager "$STATE/bin/kube-controller-manager" --kubeconfig "$STATE/controller-manager.kubeconfig" \
		--secure-port 0 --leader-elect=false --use-service-account-credentials \
		--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
		--flex-volume-plugin-dir "$STATE/kubelet/volume-plugins"
	start kube-scheduler "$STATE/bin/kube-scheduler" --kubeconfig "$STATE/scheduler.kubeconfig" \
		--secure-port 0 --leader-elect=false
}

kubelet_up() {
	mkdir -p "$STATE/kubelet"
	cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$SOCK
# The machine has the cgroup v1 hybrid layout.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: $STATE/kubelet/pod-logs
volumePluginDir: $STATE/kubelet/volume-plugins
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
# Nothing can be pulled again: never collect the imported images.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
	start kubelet "$STATE/bin/kubelet" --config "$STATE/kubelet/config.yaml" \
		--kubeconfig "$STATE/node.kubeconfig" --root-dir "$STATE/kubelet/root" --cert-dir "$STATE/kubelet/pki" \
		--hostname-override "$NODE" --node-ip "$GATEWAY"
}

# --- commands ---------------------------------------------------------------

up() {
	need_root
	if status >/dev/null 2>&1; then
		images
		import_images
		log "up already; image $IMAGE re-imported"
		echo "$KUBECONFIG_ADMIN"
		return
	fi
	local t0=$SECONDS
	mkdir -p "$STATE"/{bin,logs,run}
	remember
	packages
	binaries
	images
	certs
	network
	containerd_up
	import_images
	control_plane_up
	kubelet_up
	wait_for "node $NODE" 120 kubectl get node "$NODE"
	kubectl wait --for=condition=Ready "node/$NODE" --timeout=120s >/dev/null ||
		{ logs >&2; die "node $NODE not Ready"; }
	wait_for "the default service account" 60 kubectl get serviceaccount default
	log "up in $((SECONDS - t0)) s; KUBECONFIG=$KUBECONFIG_ADMIN; pods reach the host at $GATEWAY"
	echo "$KUBECONFIG_ADMIN"
}

# shims: the containerd shims of this state folder's containerd.
shims() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "containerd-shim.* -address $SOCK " && echo "${p#/proc/}"
	done
	return 0
}

down() {
	need_root
	[[ -d "$STATE" ]] || { log "not up"; return; }
	local t0=$SECONDS
	# Pods first, while the kubelet runs, so that CNI DEL releases their
	# network and the kubelet unmounts their volumes.
	if running kube-apiserver && running kubelet && [[ -x "$STATE/bin/kubectl" ]]; then
		kubectl delete jobs,deployments,replicasets,statefulsets,daemonsets --all --all-namespaces --wait=false >/dev/null 2>&1 || true
		kubectl delete pods --all --all-namespaces --grace-period=5 --timeout=60s >/dev/null 2>&1 || true
	fi
	local c
	for c in kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
		stop "$c"
	done
	if running containerd; then
		local task
		for task in $(ctr tasks ls -q 2>/dev/null); do
			ctr tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
		done
		sleep 1
	fi
	stop containerd
	for c in $(shims); do kill -9 "$c" 2>/dev/null || true; done
	# Mounts: pod volumes, container root filesystems, shm, network namespaces.
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v s="$STATE" -v r=/run/containerd '$5 ~ "^" s || $5 ~ "^" r || $5 ~ "^/run/netns/cni-" { print $5 }' /proc/self/mountinfo | sort -r)
	rm -f /run/netns/cni-* 2>/dev/null || true
	# The kubelet's cgroups (cgroupfs driver): leaves first.
	local d
	for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
		[[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	network_down
	for c in "${OUTSIDE[@]}"; do
		existed "$c" || rm -rf "$c"
	done
	rm -rf "$STATE"
	log "down in $((SECONDS - t0)) s"
}

status() {
	local c rc=0
	[[ -d "$STATE" ]] || { echo "not up"; return 3; }
	for c in "${COMPONENTS[@]}"; do
		if running "$c"; then echo "$c: running (pid $(cat "$STATE/run/$c.pid"))"; else
			echo "$c: stopped"
			rc=1
		fi
	done
	((rc == 0)) || return "$rc"
	kubectl get nodes -o wide || return 1
	kubectl wait --for=condition=Ready "node/$NODE" --timeout=1s >/dev/null
}

logs() {
	local f
	for f in "$STATE"/logs/*.log; do
		[[ -f "$f" ]] || continue
		echo "--- $f"
		tail -n "${LINES:-30}" "$f"
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
image)
	need_root
	images
	import_images
	;;
logs) logs ;;
env)
	echo "export HAUL_CLUSTER_KUBECONFIG=$KUBECONFIG_ADMIN HAUL_CLUSTER_HOST_IP=$GATEWAY HAUL_CLUSTER_POD_CIDR=$POD_CIDR"
	;;
*)
	echo "usage: $0 up|down|status|image|logs|env" >&2
	exit 2
	;;
esac
