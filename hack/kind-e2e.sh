#!/usr/bin/env bash
# End to end on a real cluster, for a machine with Docker: a kind cluster,
# the haul image built and loaded, PostgreSQL in the cluster, the Helm chart
# installed, generated data on a PersistentVolumeClaim, the sample
# IngestionRun applied and waited for, and the API asked for its answer.
#
#   hack/kind-e2e.sh              # create, test, delete the cluster
#   KEEP=1 hack/kind-e2e.sh       # leave the cluster running afterwards
#
# Needs docker, kind, kubectl and helm on PATH (kind and helm can be built with
# `go install sigs.k8s.io/kind@v0.31.0` and `go install helm.sh/helm/v3/cmd/helm@v3.22.0`).
# Our CI machines have no Docker engine: CI checks this script with bash -n
# and shellcheck only (hack/scripts_test.go).
set -euo pipefail

CLUSTER="${CLUSTER:-haul-e2e}"
NS="${NS:-haul}"
IMAGE="${IMAGE:-haul:e2e}"
SHIPMENTS="${SHIPMENTS:-20000}"
TIMEOUT="${TIMEOUT:-600s}"
KEEP="${KEEP:-0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is not installed" >&2; exit 2; }
	done
}
need docker kind kubectl helm

step() { printf '\n==> %s\n' "$*"; }

cleanup() {
	local status=$?
	if [[ $status -ne 0 ]]; then
		step "failed: state of namespace $NS"
		kubectl -n "$NS" get ingestionruns,jobs,pods -o wide || true
		kubectl -n "$NS" describe ingestionruns || true
		kubectl -n "$NS" logs deployment/haul-controller --tail=100 || true
	fi
	if [[ "$KEEP" != 1 ]]; then
		kind delete cluster --name "$CLUSTER" || true
	fi
	exit "$status"
}

step "kind cluster $CLUSTER"
if ! kind get clusters | grep -qx "$CLUSTER"; then
	kind create cluster --name "$CLUSTER" --wait 120s
fi
trap cleanup EXIT
kubectl config use-context "kind-$CLUSTER"

step "image $IMAGE"
docker build -t "$IMAGE" "$root"
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "PostgreSQL in namespace $NS"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" apply -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: postgres
spec:
  selector:
    matchLabels: {app: postgres}
  template:
    metadata:
      labels: {app: postgres}
    spec:
      containers:
        - name: postgres
          image: postgres:16
          env:
            - {name: POSTGRES_USER, value: haul}
            - {name: POSTGRES_PASSWORD, value: haul}
            - {name: POSTGRES_DB, value: haul}
          ports:
            - containerPort: 5432
          readinessProbe:
            exec:
              command: ["pg_isready", "-U", "haul", "-d", "haul"]
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: postgres
spec:
  selector: {app: postgres}
  ports:
    - port: 5432
---
apiVersion: v1
kind: Secret
metadata:
  name: haul-database
stringData:
  url: postgres://haul:haul@postgres:5432/haul?sslmode=disable
EOF
kubectl -n "$NS" rollout status deployment/postgres --timeout="$TIMEOUT"

step "helm install"
helm upgrade --install haul "$root/charts/haul" --namespace "$NS" --wait --timeout "$TIMEOUT" \
	--set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
	--set database.existingSecret=haul-database --set database.secretKey=url

step "sample data on PersistentVolumeClaims"
kubectl -n "$NS" apply -f - <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: haul-input
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: haul-rejects
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: haul-gen
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      securityContext:
        runAsNonRoot: true
        fsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: gen
          image: $IMAGE
          imagePullPolicy: Never
          args: ["gen", "--out", "/data/input", "--shipments", "$SHIPMENTS", "--vehicles", "200", "--faults", "0.01"]
          volumeMounts:
            - {name: input, mountPath: /data/input}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
      volumes:
        - name: input
          persistentVolumeClaim: {claimName: haul-input}
EOF
kubectl -n "$NS" wait --for=condition=Complete job/haul-gen --timeout="$TIMEOUT"

step "the sample IngestionRun"
# The sample's service account, haul-jobs, is the chart's jobs account for
# a release named haul.
kubectl -n "$NS" apply -f "$root/config/samples/analytics_v1alpha1_ingestionrun.yaml"
kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded ingestionrun/sample --timeout="$TIMEOUT"
kubectl -n "$NS" get ingestionrun sample -o wide
kubectl -n "$NS" get ingestionrun sample -o jsonpath='{range .status.datasets[*]}{.name}: read {.read}, loaded {.loaded}, rejected {.rejected}{"\n"}{end}'

step "the API"
kubectl -n "$NS" port-forward service/haul 18000:8000 >/dev/null &
forward=$!
trap 'kill $forward 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 30); do
	curl -fsS http://127.0.0.1:18000/readyz >/dev/null 2>&1 && break
	sleep 1
done
curl -fsS 'http://127.0.0.1:18000/api/system/status'
echo
total=$(curl -fsS 'http://127.0.0.1:18000/api/dashboard?start=2023-01-01&end=2025-12-31&interval_type=year' | grep -o '"total_shipments":[0-9]*' | cut -d: -f2)
if [[ -z "$total" || "$total" -eq 0 ]]; then
	echo "kind-e2e: the API reports no shipments" >&2
	exit 1
fi
echo "kind-e2e: passed; the API serves $total shipments"
