#!/usr/bin/env bash
# Aggregate refresh benchmark: what `haul precalc` costs after one new day of
# data on top of five years of history, against a full rebuild of the same
# aggregates and against loading the history in the first place.
#
#   history  `haul gen` of N shipments dated 2021-01-01..2025-12-31 (1,826
#            days), loaded by one `haul ingest` (vehicles, vehicle_logs,
#            shipments; timed), then a first `haul precalc` (timed): it
#            refreshes every day the load touched, in effect a full build.
#            Then VACUUM (ANALYZE), not timed: the state autovacuum reaches
#            long before the next day's data arrives.
#   rounds   each round loads one new day (DAY_N shipments, about N/1826,
#            dated 2026-01-01, then 2026-01-02, ...; their own seed and id
#            prefix, logs on the history's fleet; vehicle_logs and shipments
#            only, the fleet is already there), then times the incremental
#            `haul precalc` and, after it, `haul precalc --full`.
#
# Everything runs on ONE throwaway PostgreSQL cluster (fsync off; removed at
# exit). Every refresh runs with -v 1; the slowest steps of each are printed.
# The issue's goals are printed as PASS or MISS: incremental / full <= 0.05
# (medians over the rounds), and a full rebuild faster than the history's load
# (the issue states it at 10M shipments: run N=10000000 for that). It fails
# only if a load does not load every row or a refresh does not refresh.
#
#   make bench-precalc                  # N=5,000,000 shipments, ROUNDS=2
#   N=1000000 ROUNDS=1 make bench-precalc
#   hack/bench-precalc.sh 10000000
#
# Environment: N (history shipments; or the first argument; default 5000000),
# ROUNDS (new days, each with an incremental and a full refresh; default 2),
# DAY_N (shipments per new day; default N/1826), HAUL_BENCH_DIR (keep and
# reuse the generated data there instead of a temporary folder),
# HAUL_PG_BINDIR (PostgreSQL's binaries).
# Needs: the PostgreSQL server binaries (make setup), and disk: at the default
# N, about 1.5 GB of JSON plus the database (about 4 GB with its WAL; allow
# 8 GB free in $TMPDIR or HAUL_BENCH_DIR).
set -euo pipefail

N="${1:-${N:-5000000}}"
ROUNDS="${ROUNDS:-2}"
HIST_FROM=2021-01-01
HIST_TO=2025-12-31
HIST_DAYS=1826
FIRST_DAY=2026-01-01

die() { echo "bench-precalc: $*" >&2; exit 1; }
log() { echo "bench-precalc: $*" >&2; }

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
DAY_N="${DAY_N:-$(( N / HIST_DAYS > 0 ? N / HIST_DAYS : 1 ))}"
[[ "$DAY_N" =~ ^[1-9][0-9]*$ ]] || die "DAY_N must be a positive integer, got '$DAY_N'"
# The fleet gen would make for the history (one vehicle per 1,000 logs, logs
# half the shipments, at least 20), passed to every gen: the new days' logs
# then name only vehicles the history loaded.
VEHICLES=$(( N / 2 / 1000 > 20 ? N / 2 / 1000 : 20 ))

cd "$(dirname "${BASH_SOURCE[0]}")/.."
HAUL="$PWD/bin/haul"

find_bindir() {
	local dir
	for dir in "${HAUL_PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
		if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
			echo "$dir"
			return 0
		fi
	done
	return 1
}
PGBIN="$(find_bindir)" || die "PostgreSQL server binaries not found (run make setup, or set HAUL_PG_BINDIR)"
PSQL="$PGBIN/psql"
[[ -x "$PSQL" ]] || PSQL="$(command -v psql)" || die "psql not found"

# --- scratch space and cleanup ----------------------------------------------

WORK="$(mktemp -d "${TMPDIR:-/tmp}/haul-bench-precalc.XXXXXX")"
chmod 755 "$WORK" # the server may run as another user and must reach $WORK/pg
PGDIR="$WORK/pg"
PGDATA="$PGDIR/data"
PORT=""
PG_STARTED=0

as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ "$PG_STARTED" == 1 ]]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n "${HAUL_BENCH_DIR:-}" ]]; then
	mkdir -p "$HAUL_BENCH_DIR"
	DATA_ROOT="$(cd "$HAUL_BENCH_DIR" && pwd)"
else
	DATA_ROOT="$WORK/data"
fi
REJECTS="$WORK/rejects"
DB=precalc

# --- helpers ----------------------------------------------------------------

now_ns() { date +%s%N; }

# rate ROWS NANOSECONDS -> rows per second (integer)
rate() { awk -v r="$1" -v ns="$2" 'BEGIN { printf "%d", r / (ns / 1e9) }'; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
# 1234567 -> 1,234,567
commas() { printf "%s" "$1" | sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta'; }
# median of whitespace-separated integers (%.0f: mawk's %d stops at 2^31-1)
median() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.0f", a[(NR + 1) / 2]; else printf "%.0f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# ratio A B -> A/B with 4 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }

url() { echo "postgres://postgres@127.0.0.1:$PORT/$1?sslmode=disable"; }
sql() { PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
# Flush what earlier steps left dirty so it is not charged to the next timing.
checkpoint() { sql -d postgres -c CHECKPOINT; }

# json FILE EXPR: evaluate EXPR, in which :'j' is FILE's JSON as jsonb, on the
# server (no jq needed); prints the value as text.
json() { sql -d postgres -At -v j="$(<"$1")" <<<"SELECT $2"; }

# gen_data NAME ARGS...: run haul gen with ARGS once into $DATA_ROOT/NAME and
# print that folder; a kept folder is reused.
gen_data() {
	local dir="$DATA_ROOT/$1" t0 t1
	shift
	if [[ -f "$dir/.complete" ]]; then
		log "reusing $dir"
	else
		rm -rf "$dir"
		log "generating into $dir: haul gen $*"
		t0=$(now_ns)
		"$HAUL" gen --out "$dir" "$@" >&2
		t1=$(now_ns)
		log "generated in $(secs $((t1 - t0))) s"
		touch "$dir/.complete"
	fi
	echo "$dir"
}

# loaded REPORT DATASET: rows of DATASET haul ingest's JSON report says it loaded.
loaded() { json "$1" "(SELECT d->>'loaded' FROM jsonb_array_elements(:'j'::jsonb->'datasets') d WHERE d->>'dataset' = '$2')"; }

# ingest NAME WANT_SHIPMENTS ARGS...: time haul ingest ARGS into the database;
# sets LAST_NS and LAST_ROWS (records loaded, every dataset).
ingest() {
	local name=$1 want=$2 out="$WORK/$1.json" t0 t1 status got
	shift 2
	checkpoint
	t0=$(now_ns)
	if ! "$HAUL" ingest --database-url "$(url "$DB")" --rejects-dir "$REJECTS" --progress none --output json \
		"$@" >"$out" 2>"$WORK/$name.err"; then
		cat "$out" "$WORK/$name.err" >&2
		die "haul ingest ($name) failed"
	fi
	t1=$(now_ns)
	status=$(json "$out" ":'j'::jsonb->>'status'")
	got=$(loaded "$out" shipments)
	if [[ "$status" != succeeded || "$got" != "$want" ]]; then
		cat "$out" "$WORK/$name.err" >&2
		die "haul ingest ($name): status '$status', loaded '$got' shipments, want succeeded and $want"
	fi
	LAST_NS=$((t1 - t0))
	LAST_ROWS=$(json "$out" "(SELECT sum((d->>'loaded')::bigint) FROM jsonb_array_elements(:'j'::jsonb->'datasets') d)")
}

# precalc NAME [--full]: time haul precalc (with -v 1: its step timings go to
# $WORK/NAME.err); sets LAST_NS, LAST_DAYS and LAST_STEPS (the three slowest
# steps, "name seconds, ...").
precalc() {
	local name=$1 out="$WORK/$1.json" err="$WORK/$1.err" t0 t1
	shift
	checkpoint
	t0=$(now_ns)
	if ! "$HAUL" precalc -v 1 --database-url "$(url "$DB")" --output json "$@" >"$out" 2>"$err"; then
		cat "$out" "$err" >&2
		die "haul precalc ($name) failed"
	fi
	t1=$(now_ns)
	[[ "$(json "$out" ":'j'::jsonb->>'refreshed'")" == true ]] ||
		{ cat "$out" >&2; die "haul precalc ($name) refreshed nothing"; }
	LAST_NS=$((t1 - t0))
	LAST_DAYS=$(json "$out" ":'j'::jsonb->>'days'")
	# slog text lines: ... msg="refresh step done" ... step="stage raw rows" seconds=1.234
	LAST_STEPS=$(sed -nE '/msg="refresh step done"/ s/.* step=("[^"]*"|[^ ]*) .*seconds=([0-9.e+-]+).*/\2 \1/p' "$err" |
		tr -d '"' | sort -rg | head -n 3 | awk '{ s = $1; $1 = ""; sub(/^ /, ""); printf "%s%s %.2f s", (NR > 1 ? ", " : ""), $0, s }')
}

# --- build, server, data ----------------------------------------------------

log "building bin/haul"
make --no-print-directory build >&2

log "starting PostgreSQL from $PGBIN"
mkdir -p "$PGDIR"
if [[ $(id -u) -eq 0 ]]; then
	id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' OS user (make setup)"
	chown postgres: "$PGDIR"
fi
as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$PGDIR/initdb.log" 2>&1 ||
	{ cat "$PGDIR/initdb.log" >&2; die "initdb failed"; }
for _ in 1 2 3 4 5 6 7 8 9 10; do
	candidate=$((20000 + RANDOM % 40000))
	# Something answers there: taken.
	if (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
		continue
	fi
	if as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDIR/server.log" -w -t 60 start -o "-c port=$candidate \
-c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR -c fsync=off -c synchronous_commit=off \
-c full_page_writes=off -c max_wal_size=4GB -c shared_buffers=256MB" >/dev/null; then
		PORT=$candidate
		PG_STARTED=1
		break
	fi
	PG_STARTED=1 # a failed start may leave a server behind; cleanup stops it
	tail -n 5 "$PGDIR/server.log" >&2 || true
done
[[ -n "$PORT" ]] || die "could not start PostgreSQL (see above)"
PG_VERSION="$("$PGBIN/postgres" --version | awk '{ print $3 }')"
log "PostgreSQL $PG_VERSION on 127.0.0.1:$PORT"

sql -d postgres -c "CREATE DATABASE $DB"
"$HAUL" migrate --database-url "$(url "$DB")" >"$WORK/migrate.out" 2>&1 ||
	{ cat "$WORK/migrate.out" >&2; die "haul migrate failed"; }

HIST="$(gen_data "history-n$N-v$VEHICLES" --shipments "$N" --vehicles "$VEHICLES" --from "$HIST_FROM" --to "$HIST_TO" --seed 1)"
JSON_MB=$(( ($(stat -c %s "$HIST/vehicles.json") + $(stat -c %s "$HIST/vehicle_logs.json") + $(stat -c %s "$HIST/shipments.json")) / 1000000 ))

# --- history ----------------------------------------------------------------

T_START=$(now_ns)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo "precalc benchmark: N=$(commas "$N") shipments over $HIST_FROM..$HIST_TO ($JSON_MB MB JSON, $(commas "$VEHICLES") vehicles); $ROUNDS new day(s) of $(commas "$DAY_N") shipments"

log "loading the history"
ingest history "$N" --vehicles "$HIST/vehicles.json" --vehicle-logs "$HIST/vehicle_logs.json" --shipments "$HIST/shipments.json"
LOAD_NS=$LAST_NS
LOAD_ROWS=$LAST_ROWS
printf "%-36s: %8s s  (%s shipments/s, %s records/s; %s records)\n" "history load  haul ingest" "$(secs "$LOAD_NS")" \
	"$(commas "$(rate "$N" "$LOAD_NS")")" "$(commas "$(rate "$LOAD_ROWS" "$LOAD_NS")")" "$(commas "$LOAD_ROWS")"

log "first refresh"
precalc first
FIRST_NS=$LAST_NS
FIRST_DAYS=$LAST_DAYS
printf "%-36s: %8s s  (%s days; slowest steps: %s)\n" "first build   haul precalc" "$(secs "$FIRST_NS")" "$FIRST_DAYS" "$LAST_STEPS"

log "VACUUM (ANALYZE), not timed"
t0=$(now_ns)
sql -d "$DB" -c "VACUUM (ANALYZE)"
log "vacuumed in $(secs $(($(now_ns) - t0))) s"

# --- rounds -----------------------------------------------------------------

INC_NS=()
FULL_NS=()
INC_DAYS=()
for ((round = 1; round <= ROUNDS; round++)); do
	day=$(date -u -d "$FIRST_DAY + $((round - 1)) days" +%F)
	log "round $round of $ROUNDS: $day"
	DAY="$(gen_data "day$round-$day-n$DAY_N-v$VEHICLES" --shipments "$DAY_N" --vehicles "$VEHICLES" \
		--from "$day" --to "$day" --seed $((round + 1)) --id-prefix "D$round")"
	ingest "day$round" "$DAY_N" --vehicle-logs "$DAY/vehicle_logs.json" --shipments "$DAY/shipments.json"
	printf "round %d  %-27s: %8s s  (%s records)\n" "$round" "haul ingest of $day" "$(secs "$LAST_NS")" "$(commas "$LAST_ROWS")"

	precalc "inc$round"
	INC_NS+=("$LAST_NS")
	INC_DAYS+=("$LAST_DAYS")
	printf "round %d  %-27s: %8s s  (%s days; slowest steps: %s)\n" "$round" "haul precalc" "$(secs "$LAST_NS")" \
		"$LAST_DAYS" "$LAST_STEPS"

	precalc "full$round" --full
	FULL_NS+=("$LAST_NS")
	printf "round %d  %-27s: %8s s  (%s days; slowest steps: %s)\n" "$round" "haul precalc --full" "$(secs "$LAST_NS")" \
		"$LAST_DAYS" "$LAST_STEPS"
done
T_END=$(now_ns)

# --- summary ----------------------------------------------------------------

inc_med=$(median "${INC_NS[*]}")
full_med=$(median "${FULL_NS[*]}")
inc_full=$(ratio "$inc_med" "$full_med")
full_load=$(ratio "$full_med" "$LOAD_NS")
# verdict "A OP B": PASS if the comparison holds (awk arithmetic), else MISS.
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }
inc_verdict=$(verdict "$inc_full <= 0.05")
full_verdict=$(verdict "$full_med < $LOAD_NS")
list_secs() { local ns out=""; for ns in "$@"; do out+="${out:+, }$(secs "$ns")"; done; echo "$out"; }

echo
echo "precalc benchmark: N=$(commas "$N") shipments, $HIST_DAYS days of history, $ROUNDS new day(s) of $(commas "$DAY_N") shipments, machine: $(nproc) cores, PostgreSQL $PG_VERSION"
printf "history load        : %8s s  (haul ingest of %s records: %s shipments/s)\n" "$(secs "$LOAD_NS")" \
	"$(commas "$LOAD_ROWS")" "$(commas "$(rate "$N" "$LOAD_NS")")"
printf "first build         : %8s s  (haul precalc after the load, %s days)\n" "$(secs "$FIRST_NS")" "$FIRST_DAYS"
printf "incremental refresh : %8s s  (median; rounds: %s s; days refreshed: %s)\n" "$(secs "$inc_med")" \
	"$(list_secs "${INC_NS[@]}")" "${INC_DAYS[*]}"
printf "full rebuild        : %8s s  (median; rounds: %s s)\n" "$(secs "$full_med")" "$(list_secs "${FULL_NS[@]}")"
printf "incremental / full  : %8s    %s (goal <= 0.05)\n" "$inc_full" "$inc_verdict"
printf "full / load         : %8s    %s (goal < 1: a full rebuild takes less time than the load; the issue says at 10M)\n" \
	"$full_load" "$full_verdict"
echo "aggregate rows      :"
# Every agg_* table the migrations made, whatever they are at this commit.
for table in $(sql -d "$DB" -At -c "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'agg\\_%' ORDER BY tablename"); do
	printf "  %-18s %15s\n" "$table" "$(commas "$(sql -d "$DB" -At -c "SELECT count(*) FROM \"$table\"")")"
done
echo "database size       : $(sql -d "$DB" -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))") (pg_database_size: raw tables, aggregates, indexes and the dead rows refreshes leave)"
echo "load average        : $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') at the end (1, 5, 15 min; other work skews the figures)"
echo "took                : $(( (T_END - T_START) / 1000000000 )) s measuring, $SECONDS s in all (build, server, data generation included)"
