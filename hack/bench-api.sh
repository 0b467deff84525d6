#!/usr/bin/env bash
# API benchmark: how long `haul serve` takes to compute answers it has not
# cached (cold), and requests per second and latency of every endpoint
# (docs/api.md#3-endpoints) under a load generator (load), on N shipments, each against a
# baseline measured in the same run.
#
#   setup   `haul gen` of N shipments dated 2023-01-01..2025-12-31, loaded by
#           one `haul ingest` (vehicles, vehicle_logs, shipments), then
#           `haul precalc` and VACUUM (ANALYZE) (the state autovacuum reaches
#           soon after a load). Timed and printed, not part of the figures.
#   server  `haul serve --refresh=false -v 1 SERVE_FLAGS` on 127.0.0.1 (its
#           log, one line per request at -v 1, goes to the scratch folder; its
#           tail is printed if any request fails). If it builds an in-memory
#           index per data version (haul_index_version on /metrics), a request
#           of an empty window starts the build and the figures wait until the
#           index holds the served version: the time from that request, and
#           the index's size (haul_index_bytes), are printed.
#   cold    hack/benchclient (Go, net/http): for every endpoint of docs/api.md,
#           COLD_COUNT requests with distinct URLs, one after another on one
#           kept-alive connection, each followed by a GET /api/system/status
#           (one small database read: the baseline, as many requests as the
#           endpoints' in all). Windows run from 1 day to the whole data range,
#           drawn from SEED: 20% span the whole range (starting up to a year
#           before the data and ending up to a year after, so each is a window
#           of its own), 20% are 90 days inside it, the rest have a length
#           drawn log-uniformly. No window is used twice in the run, so
#           neither the answer cache nor anything the server keeps per window
#           answers them; page, sort_by, sort_order, the dashboard's interval
#           and the vehicle vary too. /api/shipments/routes has no window: its
#           answers differ by page and sort only. Then one URL of each
#           endpoint is repeated WARM_COUNT times (warm: answered from the
#           cache). The answer cache's counters, when the server has them
#           (haul_answer_cache_requests_total), are read around all this:
#           every cold request must be a miss. Per endpoint: count, median and
#           p99, p99 / baseline p99 (goal <= 75), median / baseline p99 (goal
#           <= 25), and the median over whole-range windows / the median over
#           90-day windows (goal <= 2), each PASS or MISS; warm median and p99
#           beside them.
#   load    after WARMUP seconds of wrk on /healthz (not reported),
#           `wrk -t THREADS -c CONNECTIONS -d DURATION --latency` on each
#           endpoint in turn (all-time windows, plus the client's dashboard:
#           December 2025, interval_type=month): requests/s, p50, p99,
#           non-2xx responses and socket errors (timeouts included), with
#           /healthz as the ceiling (no database, no answer). Under wrk, which
#           repeats one URL, every request after the first is a cache hit, so
#           these figures measure the server's hot path (routing, version
#           check, cache, write). Goals per endpoint, PASS or MISS: p99 < 20 ms
#           and >= 2,000 requests/s, with no failed request.
#   memory  haul serve's peak RSS (VmHWM) and its RSS at the end.
#
# Everything runs on ONE throwaway PostgreSQL cluster (fsync off; removed at
# exit) on the same machine as the server and the clients: on a small machine
# they share its cores. It asserts no timings; it fails if the load does not
# load every row, or if any request answers non-2xx or fails (after printing
# the tables and the server's log).
#
#   make bench-api                      # N=2,000,000 shipments, cold and load
#   N=200000 DURATION=5 make bench-api
#   N=200000 MODE=cold make bench-api
#   hack/bench-api.sh 500000
#
# Environment: N (shipments; or the first argument; default 2000000), MODE
# (cold, load or both; default both), COLD_COUNT (cold requests per endpoint;
# default 200), WARM_COUNT (warm repeats per endpoint; default 50),
# COLD_SECONDS (an endpoint's cold requests stop after this; default 120),
# SEED (of the cold windows; default 1), DURATION (seconds of load per
# endpoint; default 20), CONNECTIONS (wrk -c; default 64), THREADS (wrk -t;
# default 2), WARMUP (seconds; default 5; 0 skips it), SERVE_VERBOSITY (haul
# serve -v; default 1, which logs every request), VEHICLE (the vehicle of
# /api/vehicles/ID/details under load; default the first in the data: V-001 up
# to 999 vehicles, V-0001 from 1,000), HAUL_BENCH_DIR (keep and reuse the
# generated data there instead of a temporary folder), HAUL_PG_BINDIR
# (PostgreSQL's binaries), HAUL_PG_ICU_LOCALE (the cluster's collation, an
# ICU locale such as en-US; C without it), SERVE_FLAGS (more flags for haul
# serve, e.g. --index=false).
# Needs: the PostgreSQL server binaries (make setup), Go (to build
# hack/benchclient), curl, wrk for the load (installed with apt-get if
# missing), and disk: at the default N, about 550 MB of JSON plus the
# database, plus the server's log at -v 1 (about 200 bytes a request, 1 to 2
# GB at the defaults): allow 6 GB free in $TMPDIR or HAUL_BENCH_DIR. Takes the
# setup (a few minutes at the default N), up to 10 x COLD_SECONDS of cold
# requests, and 13 x DURATION seconds of load.
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

N="${1:-${N:-2000000}}"
MODE="${MODE:-both}"
COLD_COUNT="${COLD_COUNT:-200}"
WARM_COUNT="${WARM_COUNT:-50}"
COLD_SECONDS="${COLD_SECONDS:-120}"
SEED="${SEED:-1}"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-5}"
SERVE_VERBOSITY="${SERVE_VERBOSITY:-1}"
VEHICLE="${VEHICLE:-}"
SERVE_FLAGS="${SERVE_FLAGS:-}"
START=2023-01-01
END=2025-12-31
# The goals, per endpoint: under load (answers from the cache), and cold
# (computed), as multiples of the baseline's p99 or of the 90-day median.
GOAL_P99_MS=20
GOAL_RPS=2000
GOAL_COLD_P99=75
GOAL_COLD_MEDIAN=25
GOAL_WHOLE_QUARTER=2

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$MODE" == cold || "$MODE" == load || "$MODE" == both ]] || die "MODE must be cold, load or both, got '$MODE'"
[[ "$COLD_COUNT" =~ ^[1-9][0-9]*$ ]] || die "COLD_COUNT must be a positive integer, got '$COLD_COUNT'"
[[ "$WARM_COUNT" =~ ^[0-9]+$ ]] || die "WARM_COUNT must be a whole number, got '$WARM_COUNT'"
[[ "$COLD_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "COLD_SECONDS must be a positive integer, got '$COLD_SECONDS'"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a whole number, got '$SEED'"
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (seconds), got '$DURATION'"
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer, got '$CONNECTIONS'"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds, got '$WARMUP'"
[[ "$SERVE_VERBOSITY" =~ ^[0-9]+$ ]] || die "SERVE_VERBOSITY must be a whole number, got '$SERVE_VERBOSITY'"
((CONNECTIONS >= THREADS)) || die "CONNECTIONS ($CONNECTIONS) must be at least THREADS ($THREADS)"
[[ -z "$VEHICLE" || "$VEHICLE" =~ ^[A-Za-z0-9_-]+$ ]] || die "VEHICLE must be a plain vehicle id, got '$VEHICLE'"
command -v curl >/dev/null 2>&1 || die "curl not found; apt-get install curl"
doing_cold() { [[ "$MODE" != load ]]; }
doing_load() { [[ "$MODE" != cold ]]; }

if doing_load && ! command -v wrk >/dev/null 2>&1; then
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
BENCHCLIENT="$WORK/benchclient"
if doing_cold; then
	log "building hack/benchclient"
	go build -o "$BENCHCLIENT" ./hack/benchclient
fi
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
read -ra serve_flags <<<"$SERVE_FLAGS"
"$HAUL" serve -v "$SERVE_VERBOSITY" --database-url "$(url "$DB")" --addr "127.0.0.1:$API_PORT" --refresh=false "${serve_flags[@]}" \
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

# metrics: haul serve's /metrics (Prometheus text), or nothing.
metrics() { curl -s "$API/metrics" || true; }
# metric NAME: the value of the sample NAME (with its labels, if any) on
# /metrics as an integer; 0 if absent (a counter with labels appears only once
# counted).
metric() { metrics | awk -v m="$1" '$1 == m { v = $2 } END { printf "%.0f", v + 0 }'; }
# has_metric FAMILY: true if /metrics describes FAMILY.
has_metric() { metrics | awk -v m="$1" '$1 == "#" && $2 == "HELP" && $3 == m { f = 1 } END { exit !f }'; }

# The in-memory index of the served version, if this server builds one: the
# first request of a version that reads routes starts its build (an empty
# window, so that no answer the cold requests ask for is computed here); the
# figures wait until it holds that version.
INDEX_NOTE="none (haul serve reports no haul_index_version)"
if has_metric haul_index_version; then
	t0=$(now_ns)
	curl -s -o /dev/null "$API/api/route/reliability?start=2000-01-01&end=2000-01-01"
	version=$(metric haul_data_version)
	for _ in $(seq 1 1200); do
		[[ "$(metric haul_index_version)" != "$version" ]] || break
		sleep 0.5
	done
	if [[ "$(metric haul_index_version)" == "$version" ]]; then
		INDEX_NOTE="version $version in memory $(secs $(($(now_ns) - t0))) s after its first request (within 0.5 s), $(awk -v b="$(metric haul_index_bytes)" 'BEGIN { printf "%d", b / 1e6 }') MB by haul_index_bytes"
	else
		INDEX_NOTE="version $version not in memory 600 s after its first request"
	fi
	log "index: $INDEX_NOTE"
fi

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

# --- cold: distinct URLs, computed by the server ----------------------------

# ratio_of A B: A/B with 1 decimal, or - when A or B is - or B is 0.
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.1f", a / b }'; }
# within VALUE LIMIT: PASS if VALUE <= LIMIT, MISS if not or VALUE is -.
within() { if [[ "$1" != - ]] && awk -v v="$1" -v l="$2" 'BEGIN { exit !(v <= l) }'; then echo PASS; else echo MISS; fi; }
# ms2 MS: milliseconds with 2 decimals, or -.
ms2() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.2f", v }'; }

COLD_PASSED=0
COLD_MISSED=0
COLD_CONNS=""
COLD_CACHE=""
# run_cold: hack/benchclient's cold and warm requests, printed with the
# goals; counts the verdicts in COLD_PASSED and COLD_MISSED, sets FAILED if
# a request failed.
run_cold() {
	local out="$WORK/cold.tsv" err="$WORK/cold.err" base_n base_med base_p99
	local name count med p99 whole_n whole_med quarter_n quarter_med warm_med warm_p99 failures
	local r_p99 r_med whole_col verdicts v vs hits misses rows asked
	sql -d "$DB" -At -c "SELECT vehicle_id FROM vehicles ORDER BY vehicle_id" >"$WORK/vehicles.txt"
	log "cold: $COLD_COUNT distinct URLs per endpoint, each followed by GET /api/system/status"
	hits=""
	if has_metric haul_answer_cache_requests_total; then
		hits=$(metric 'haul_answer_cache_requests_total{result="hit"}')
		misses=$(metric 'haul_answer_cache_requests_total{result="miss"}')
	fi
	if ! "$BENCHCLIENT" -url "$API" -from "$START" -to "$END" -vehicles "$WORK/vehicles.txt" -count "$COLD_COUNT" \
		-warm "$WARM_COUNT" -seed "$SEED" -max-seconds "$COLD_SECONDS" >"$out" 2>"$err"; then
		cat "$err" >&2
		die "hack/benchclient failed"
	fi
	cat "$err" >&2 # requests that failed, endpoints stopped by COLD_SECONDS
	read -r base_n base_med base_p99 < <(awk -F'\t' '$1 == "baseline" { print $2, $3, $4 }' "$out")
	COLD_CONNS=$(awk -F'\t' '$1 == "connections" { print $2 }' "$out")
	if [[ -n "$hits" ]]; then
		hits=$(($(metric 'haul_answer_cache_requests_total{result="hit"}') - hits))
		misses=$(($(metric 'haul_answer_cache_requests_total{result="miss"}') - misses))
		read -r rows asked < <(awk -F'\t' 'NR > 1 && $1 != "baseline" && $1 != "connections" { r++; n += $2 } END { print r + 0, n + 0 }' "$out")
		COLD_CACHE="$(commas "$misses") misses and $(commas "$hits") hits for $(commas "$asked") cold requests answered and $(commas $(((WARM_COUNT + 1) * rows))) warm ones"
		((misses >= asked)) || COLD_CACHE+=" (fewer misses than cold requests: some were answered from the cache)"
	else
		COLD_CACHE="not reported by haul serve"
	fi

	echo
	echo "cold: $COLD_COUNT distinct URLs per endpoint (windows of 1 day to the whole range, none twice; seed $SEED), one after"
	echo "      another on one kept-alive connection ($COLD_CONNS opened), each followed by GET /api/system/status (the baseline);"
	echo "      warm: one URL repeated $WARM_COUNT times (the cache). Goals: p99 <= $GOAL_COLD_P99 x baseline p99, median <= $GOAL_COLD_MEDIAN x baseline p99,"
	echo "      median over whole-range windows <= $GOAL_WHOLE_QUARTER x median over 90-day windows"
	printf "  baseline /api/system/status: %s requests, median %s ms, p99 %s ms\n" "$(commas "$base_n")" \
		"$(ms2 "$base_med")" "$(ms2 "$base_p99")"
	echo "  answer cache (haul_answer_cache_requests_total): $COLD_CACHE"
	printf "  %-22s %5s %8s %8s %-14s %-14s %9s %9s %-14s %8s %8s\n" endpoint count "med ms" "p99 ms" "p99/base" \
		"med/base" "whole ms" "90-day ms" "whole/90-day" "warm med" "warm p99"
	while IFS=$'\t' read -r name count med p99 whole_n whole_med quarter_n quarter_med _ warm_med warm_p99 failures; do
		[[ "$name" != endpoint && "$name" != baseline && "$name" != connections ]] || continue
		((failures == 0)) || FAILED=1
		r_p99=$(ratio_of "$p99" "$base_p99")
		r_med=$(ratio_of "$med" "$base_p99")
		verdicts="$(within "$r_p99" "$GOAL_COLD_P99") $(within "$r_med" "$GOAL_COLD_MEDIAN")"
		if [[ "$whole_n" == - ]]; then
			whole_col="n/a (no window)"
		else
			whole_col="$(ratio_of "$whole_med" "$quarter_med")"
			v=$(within "$whole_col" "$GOAL_WHOLE_QUARTER")
			whole_col+=" $v"
			verdicts+=" $v"
		fi
		for v in $verdicts; do
			if [[ "$v" == PASS ]]; then COLD_PASSED=$((COLD_PASSED + 1)); else COLD_MISSED=$((COLD_MISSED + 1)); fi
		done
		read -r -a vs <<<"$verdicts"
		printf "  %-22s %5s %8s %8s %-14s %-14s %9s %9s %-14s %8s %8s\n" "$name" "$count" "$(ms2 "$med")" "$(ms2 "$p99")" \
			"$r_p99 ${vs[0]}" "$r_med ${vs[1]}" "$(ms2 "$whole_med")" "$(ms2 "$quarter_med")" "$whole_col" \
			"$(ms2 "$warm_med")" "$(ms2 "$warm_p99")"
		if ((count < COLD_COUNT)); then
			echo "    ($name: $count of $COLD_COUNT requests answered: failures $failures, or stopped after COLD_SECONDS=$COLD_SECONDS; whole-range $whole_n, 90-day $quarter_n)"
		fi
	done <"$out"
}

# --- load: wrk on each endpoint ---------------------------------------------

LOAD_PASSED=0
LOAD_MISSED=0
# run_load: wrk on every endpoint in turn, printed with the goals; counts the
# verdicts in LOAD_PASSED and LOAD_MISSED, sets FAILED if a request failed.
run_load() {
	local entry label path out rps p50 p99 non2xx sockerr verdict
	if ((WARMUP > 0)); then
		log "warming up: wrk on /healthz for $WARMUP s (not reported)"
		wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$API/healthz" >"$WORK/warmup.out" 2>&1 ||
			{ cat "$WORK/warmup.out" >&2; die "wrk failed to warm up"; }
	fi

	echo
	echo "load: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, one endpoint at a time; goal p99 < $GOAL_P99_MS ms and >= $(commas "$GOAL_RPS") req/s"
	printf "  %-30s %10s %9s %9s %8s %8s  %s\n" endpoint "req/s" "p50 ms" "p99 ms" non-2xx "sock err" goal
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
			[[ "$path" == /healthz ]] || LOAD_PASSED=$((LOAD_PASSED + 1))
		else
			verdict=MISS
			[[ "$path" == /healthz ]] || LOAD_MISSED=$((LOAD_MISSED + 1))
		fi
		printf "  %-30s %10s %9s %9s %8s %8s  %s\n" "$label" "$(commas "$rps")" "$p50" "$p99" "$non2xx" "$sockerr" "$verdict"
	done
}

FAILED=0
if doing_cold; then
	run_cold
fi
if doing_load; then
	run_load
fi
clock_stop

# --- summary ----------------------------------------------------------------

echo
echo "api benchmark: N=$(commas "$N") shipments, MODE=$MODE, machine: $(nproc) cores (haul serve, the clients and PostgreSQL $PG_VERSION share them)"
if doing_cold; then
	echo "cold goals          : $COLD_PASSED PASS, $COLD_MISSED MISS of $((COLD_PASSED + COLD_MISSED)) (3 per endpoint with a window, 2 for shipments/routes)"
	[[ "$COLD_CONNS" == 1 ]] || echo "cold connections    : $COLD_CONNS opened, want 1 (the server closed the kept-alive connection)"
fi
if doing_load; then
	echo "load endpoints      : $LOAD_PASSED PASS, $LOAD_MISSED MISS of $((LOAD_PASSED + LOAD_MISSED)) (healthz, the ceiling, not counted)"
fi
if [[ -r "/proc/$SERVE_PID/status" ]]; then
	echo "haul serve memory   : peak RSS $(awk '/^VmHWM:/ { printf "%d", $2 / 1024 }' "/proc/$SERVE_PID/status") MB, $(awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$SERVE_PID/status") MB at the end"
fi
echo "in-memory index     : $INDEX_NOTE"
echo "answers             : cached per data version and request (cold = computed, warm and load = served from the cache; system/status uncached)"
summary_tail "build, server, data generation, load"

if [[ "$FAILED" == 1 ]]; then
	server_log_tail 60
	die "some requests failed (non-2xx or socket errors; see above)"
fi
