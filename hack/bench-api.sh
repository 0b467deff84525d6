#!/usr/bin/env bash
# API benchmark: requests per second and latency of every endpoint of
# `haul serve` (docs/api.md#3-endpoints) on N shipments, under a load generator, with
# /healthz measured in the same run as the ceiling (no database, no answer).
#
#   setup   `haul gen` of N shipments dated 2023-01-01..2025-12-31, loaded by
#           one `haul ingest` (vehicles, vehicle_logs, shipments), then
#           `haul precalc` and VACUUM (ANALYZE) (the state autovacuum reaches
#           soon after a load). Timed and printed, not part of the figures.
#   server  `haul serve --refresh=false -v 1` on 127.0.0.1 (its log, one line
#           per request at -v 1, goes to the scratch folder; its lines for a
#           failed or slow first request, and its tail if any request fails,
#           are printed).
#   cold    each endpoint's first request, with curl, before any load: the
#           server computes that answer from the aggregates (the real cost of
#           a query), then answers a repeat (warm) from its cache.
#   load    after WARMUP seconds of wrk on /healthz (not reported),
#           `wrk -t THREADS -c CONNECTIONS -d DURATION --latency` on each
#           endpoint in turn: requests/s, p50, p99, non-2xx responses and
#           socket errors (timeouts included).
#
# Caching is by design: answers come from precomputed aggregates only and the
# server caches each answer by data version and URL (docs/api.md: every endpoint
# but /api/system/status reads precomputed aggregates; a new version is what
# invalidates). Under wrk, which repeats one URL, every request after the first
# is a cache hit, so the load figures measure the server's hot path (routing,
# version check, cache, write), and the cold column measures the computation.
# /api/system/status is not cached: it reads the database on every request.
# Windows are all-time (2023-01-01..2025-12-31), plus the client's dashboard
# (December 2025, interval_type=month).
#
# Everything runs on ONE throwaway PostgreSQL cluster (fsync off; removed at
# exit) on the same machine as the server and wrk: on a small machine they
# share its cores. The issue's goals are printed per endpoint as PASS or MISS:
# p99 < 20 ms and >= 2,000 requests/s, with no failed request. It asserts no
# timings; it fails if the load does not load every row, or if any request
# answers non-2xx or fails (after printing the table and the server's log).
#
#   make bench-api                      # N=2,000,000 shipments, 20 s per endpoint
#   N=200000 DURATION=5 make bench-api
#   hack/bench-api.sh 500000
#
# Environment: N (shipments; or the first argument; default 2000000), DURATION
# (seconds of load per endpoint; default 20), CONNECTIONS (wrk -c; default 64),
# THREADS (wrk -t; default 2), WARMUP (seconds; default 5; 0 skips it),
# SERVE_VERBOSITY (haul serve -v; default 1, which logs every request),
# VEHICLE (the vehicle of /api/vehicles/ID/details; default the first in the
# data: V-001 up to 999 vehicles, V-0001 from 1,000), HAUL_BENCH_DIR (keep and
# reuse the generated data there instead of a temporary folder),
# HAUL_PG_BINDIR (PostgreSQL's binaries).
# Needs: the PostgreSQL server binaries (make setup), curl, wrk (installed with
# apt-get if missing), and disk: at the default N, about 550 MB of JSON plus
# the database, plus the server's log at -v 1 (about 200 bytes a request, 1 to
# 2 GB at the defaults): allow 6 GB free in $TMPDIR or HAUL_BENCH_DIR. Takes
# 13 x DURATION seconds of load plus the setup (a few minutes at the default N).
set -euo pipefail
BENCH_NAME=bench-api
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

N="${1:-${N:-2000000}}"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-5}"
SERVE_VERBOSITY="${SERVE_VERBOSITY:-1}"
VEHICLE="${VEHICLE:-}"
START=2023-01-01
END=2025-12-31
# The issue's goals, per endpoint.
GOAL_P99_MS=20
GOAL_RPS=2000

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (seconds), got '$DURATION'"
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer, got '$CONNECTIONS'"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds, got '$WARMUP'"
[[ "$SERVE_VERBOSITY" =~ ^[0-9]+$ ]] || die "SERVE_VERBOSITY must be a whole number, got '$SERVE_VERBOSITY'"
((CONNECTIONS >= THREADS)) || die "CONNECTIONS ($CONNECTIONS) must be at least THREADS ($THREADS)"
[[ -z "$VEHICLE" || "$VEHICLE" =~ ^[A-Za-z0-9_-]+$ ]] || die "VEHICLE must be a plain vehicle id, got '$VEHICLE'"
command -v curl >/dev/null 2>&1 || die "curl not found; apt-get install curl"

if ! command -v wrk >/dev/null 2>&1; then
	command -v apt-get >/dev/null 2>&1 || die "wrk not found and no apt-get here; install wrk"
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	log "installing wrk from Debian packages"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 ||
		{ $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null; } ||
		die "could not install wrk (apt-get install wrk)"
	command -v wrk >/dev/null 2>&1 || die "wrk installed but not found"
fi

cd_root
find_pg

# --- scratch space and cleanup ----------------------------------------------

SERVE_PID=""
# stop_serve: stop haul serve if it was started (cleanup runs it at exit).
stop_serve() {
	if [[ -n "$SERVE_PID" ]]; then
		kill "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
	fi
}
BENCH_ON_EXIT=stop_serve
make_scratch
SERVE_LOG="$WORK/serve.err"
data_root
DB=api

# --- helpers ----------------------------------------------------------------

# server_log_tail [LINES]: the end of haul serve's log, to stderr.
server_log_tail() {
	local lines=${1:-40}
	echo "--- haul serve log ($SERVE_LOG), last $lines lines:" >&2
	tail -n "$lines" "$SERVE_LOG" >&2 || true
	echo "---" >&2
}

# ms SECONDS -> milliseconds with 1 decimal (curl's time_total is in seconds).
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }

# wrk_ms VALUE: a wrk duration (850.00us, 1.23ms, 2.00s, 1.00m) in ms.
wrk_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		else if (u == "h") n *= 3600000; else if (u != "ms") { print "?"; exit }
		printf "%.2f", n
	}'
}

# --- build, PostgreSQL, data ------------------------------------------------

build_haul
start_pg

sql -d postgres -c "CREATE DATABASE $DB"
migrate_db "$DB"

DIR="$(gen_shipments "$N" --from "$START" --to "$END")"
JSON_MB=$(( ($(stat -c %s "$DIR/vehicles.json") + $(stat -c %s "$DIR/vehicle_logs.json") + $(stat -c %s "$DIR/shipments.json")) / 1000000 ))

log "loading $(commas "$N") shipments"
t0=$(now_ns)
if ! "$HAUL" ingest --database-url "$(url "$DB")" --rejects-dir "$REJECTS" --progress none \
	--vehicles "$DIR/vehicles.json" --vehicle-logs "$DIR/vehicle_logs.json" --shipments "$DIR/shipments.json" \
	>"$WORK/ingest.out" 2>"$WORK/ingest.err"; then
	cat "$WORK/ingest.out" "$WORK/ingest.err" >&2
	die "haul ingest failed"
fi
LOAD_NS=$(($(now_ns) - t0))
loaded=$(report_field "$WORK/ingest.out" shipments 4)
if [[ "$loaded" != "$N" ]]; then
	cat "$WORK/ingest.out" "$WORK/ingest.err" >&2
	die "haul ingest loaded '$loaded' shipments, want $N"
fi
log "loaded in $(secs "$LOAD_NS") s"

log "building the aggregates"
t0=$(now_ns)
"$HAUL" precalc --database-url "$(url "$DB")" >"$WORK/precalc.out" 2>"$WORK/precalc.err" ||
	{ cat "$WORK/precalc.out" "$WORK/precalc.err" >&2; die "haul precalc failed"; }
PRECALC_NS=$(($(now_ns) - t0))
log "$(cat "$WORK/precalc.out")"

log "VACUUM (ANALYZE), not timed"
sql -d "$DB" -c "VACUUM (ANALYZE)"

if [[ -z "$VEHICLE" ]]; then
	VEHICLE=$(sql -d "$DB" -At -c "SELECT vehicle_id FROM vehicles ORDER BY vehicle_id LIMIT 1")
	[[ -n "$VEHICLE" ]] || die "no vehicle in the database"
fi
VEHICLES=$(sql -d "$DB" -At -c "SELECT count(*) FROM vehicles")
DB_SIZE=$(sql -d "$DB" -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")

# --- API server -------------------------------------------------------------

API_PORT="$(free_port)" || die "no free port for haul serve"
API="http://127.0.0.1:$API_PORT"
log "starting haul serve on $API (log: $SERVE_LOG)"
"$HAUL" serve -v "$SERVE_VERBOSITY" --database-url "$(url "$DB")" --addr "127.0.0.1:$API_PORT" --refresh=false \
	>"$WORK/serve.out" 2>"$SERVE_LOG" &
SERVE_PID=$!
ready=0
for _ in $(seq 1 120); do
	kill -0 "$SERVE_PID" 2>/dev/null || { server_log_tail; die "haul serve exited before it was ready"; }
	if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$API/readyz" || true)" == 200 ]]; then
		ready=1
		break
	fi
	sleep 0.5
done
[[ "$ready" == 1 ]] || { server_log_tail; die "haul serve not ready after 60 s"; }

WINDOW="start=$START&end=$END"
# label|path: the label names the row, the path (with its query) is requested.
ENDPOINTS=(
	"healthz (ceiling)|/healthz"
	"dashboard Dec 2025 (client)|/api/dashboard?start=2025-12-01&end=2025-12-31&interval_type=month"
	"dashboard all-time|/api/dashboard?$WINDOW&interval_type=month"
	"shipments/analytics|/api/shipments/analytics?$WINDOW"
	"shipments/routes|/api/shipments/routes"
	"vehicles/metrics|/api/vehicles/metrics?$WINDOW"
	"vehicles/$VEHICLE/details|/api/vehicles/$VEHICLE/details?$WINDOW"
	"route/reliability|/api/route/reliability?$WINDOW"
	"route/cost-value|/api/route/cost-value?$WINDOW"
	"route/optimization|/api/route/optimization?$WINDOW"
	"route/top-performing|/api/route/top-performing?$WINDOW&limit=10"
	"costs/overview|/api/costs/overview?$WINDOW"
	"system/status (uncached)|/api/system/status"
)

clock_start
echo "api benchmark: N=$(commas "$N") shipments over $START..$END ($JSON_MB MB JSON, $(commas "$VEHICLES") vehicles; database $DB_SIZE)"
printf "setup               : haul ingest %s s, haul precalc %s s (not part of the figures)\n" \
	"$(secs "$LOAD_NS")" "$(secs "$PRECALC_NS")"

# --- cold: the first request of each endpoint -------------------------------

FAILED=0
SLOW_COLD_MS=1000
declare -A COLD=() WARM=()
echo
echo "cold: each endpoint's first request (curl; the server computes the answer), then a repeat (warm: its cache)"
printf "  %-30s %6s %10s %10s %10s\n" endpoint status "cold ms" "warm ms" bytes
for entry in "${ENDPOINTS[@]}"; do
	label=${entry%%|*}
	path=${entry#*|}
	before=$(wc -l <"$SERVE_LOG")
	read -r code total size < <(curl -s -o "$WORK/body" -w '%{http_code} %{time_total} %{size_download}\n' "$API$path" || echo "000 0 0")
	read -r code2 total2 _ < <(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' "$API$path" || echo "000 0 0")
	COLD[$label]=$(ms "$total")
	WARM[$label]=$(ms "$total2")
	printf "  %-30s %6s %10s %10s %10s\n" "$label" "$code" "${COLD[$label]}" "${WARM[$label]}" "$(commas "$size")"
	if [[ "$code" != 2?? || "$code2" != 2?? ]]; then
		FAILED=1
		{
			echo "bench-api: $path answered $code (then $code2): $(head -c 300 "$WORK/body")"
			echo "--- haul serve log for that request:"
			tail -n +"$((before + 1))" "$SERVE_LOG" | head -n 20
			echo "---"
		} >&2
	elif awk -v t="${COLD[$label]}" -v lim="$SLOW_COLD_MS" 'BEGIN { exit !(t >= lim) }'; then
		{
			echo "bench-api: $path took ${COLD[$label]} ms cold; haul serve log for that request:"
			tail -n +"$((before + 1))" "$SERVE_LOG" | head -n 20
			echo "---"
		} >&2
	fi
done

# --- load: wrk on each endpoint ---------------------------------------------

if ((WARMUP > 0)); then
	log "warming up: wrk on /healthz for $WARMUP s (not reported)"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$API/healthz" >"$WORK/warmup.out" 2>&1 ||
		{ cat "$WORK/warmup.out" >&2; die "wrk failed to warm up"; }
fi

echo
echo "load: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, one endpoint at a time; goal p99 < $GOAL_P99_MS ms and >= $(commas "$GOAL_RPS") req/s"
printf "  %-30s %10s %9s %9s %8s %8s  %s\n" endpoint "req/s" "p50 ms" "p99 ms" non-2xx "sock err" goal
PASSED=0
MISSED=0
for entry in "${ENDPOINTS[@]}"; do
	label=${entry%%|*}
	path=${entry#*|}
	out="$WORK/wrk.out"
	log "wrk $path"
	if ! wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$API$path" >"$out" 2>&1; then
		cat "$out" >&2
		FAILED=1
		printf "  %-30s %10s %9s %9s %8s %8s  %s\n" "$label" - - - - - "wrk failed"
		continue
	fi
	rps=$(awk '/^Requests\/sec:/ { printf "%d", $2 + 0.5 }' "$out")
	p50=$(wrk_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(wrk_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 + 0 }' "$out")
	non2xx=${non2xx:-0}
	# Socket errors: connect 0, read 0, write 0, timeout 0
	sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
	sockerr=${sockerr:-0}
	if [[ -z "$rps" || "$p50" == "?" || "$p99" == "?" ]]; then
		cat "$out" >&2
		die "could not read wrk's output for $path (above)"
	fi
	if ((non2xx > 0 || sockerr > 0)); then
		FAILED=1
	fi
	if ((non2xx == 0 && sockerr == 0 && rps >= GOAL_RPS)) && awk -v p="$p99" -v g="$GOAL_P99_MS" 'BEGIN { exit !(p < g) }'; then
		verdict=PASS
		[[ "$path" == /healthz ]] || PASSED=$((PASSED + 1))
	else
		verdict=MISS
		[[ "$path" == /healthz ]] || MISSED=$((MISSED + 1))
	fi
	printf "  %-30s %10s %9s %9s %8s %8s  %s\n" "$label" "$(commas "$rps")" "$p50" "$p99" "$non2xx" "$sockerr" "$verdict"
done
clock_stop

# --- summary ----------------------------------------------------------------

echo
echo "api benchmark: N=$(commas "$N") shipments, machine: $(nproc) cores (haul serve, wrk and PostgreSQL $PG_VERSION share them)"
echo "endpoints           : $PASSED PASS, $MISSED MISS of $((PASSED + MISSED)) (healthz, the ceiling, not counted)"
echo "answers             : cached per data version and URL (cold = computed, load = served from the cache; system/status uncached)"
summary_tail "build, server, data generation, load"

if [[ "$FAILED" == 1 ]]; then
	server_log_tail 60
	die "some requests failed (non-2xx or socket errors; see above)"
fi
