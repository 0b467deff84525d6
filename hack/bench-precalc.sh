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
BENCH_NAME=bench-precalc
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

N="${1:-${N:-5000000}}"
ROUNDS="${ROUNDS:-2}"
HIST_FROM=2021-01-01
HIST_TO=2025-12-31
HIST_DAYS=1826
FIRST_DAY=2026-01-01

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
DAY_N="${DAY_N:-$(( N / HIST_DAYS > 0 ? N / HIST_DAYS : 1 ))}"
[[ "$DAY_N" =~ ^[1-9][0-9]*$ ]] || die "DAY_N must be a positive integer, got '$DAY_N'"
# The fleet gen would make for the history (one vehicle per 1,000 logs, logs
# half the shipments, at least 20), passed to every gen: the new days' logs
# then name only vehicles the history loaded.
VEHICLES=$(( N / 2 / 1000 > 20 ? N / 2 / 1000 : 20 ))

cd_root
find_pg

# --- scratch space and cleanup ----------------------------------------------

make_scratch
data_root
DB=precalc

# --- helpers ----------------------------------------------------------------

# median of whitespace-separated integers (%.0f: mawk's %d stops at 2^31-1)
median() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.0f", a[(NR + 1) / 2]; else printf "%.0f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# ratio A B -> A/B with 4 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }

# json FILE EXPR: evaluate EXPR, in which :'j' is FILE's JSON as jsonb, on the
# server (no jq needed); prints the value as text.
json() { sql -d postgres -At -v j="$(<"$1")" <<<"SELECT $2"; }

# gen_data NAME ARGS...: run haul gen with ARGS once into $DATA_ROOT/NAME and
# print that folder; a kept folder is reused.
gen_data() {
	local dir="$DATA_ROOT/$1"
	shift
	gen_once "$dir" "generating into $dir: haul gen $*" "$@"
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

build_haul
start_pg

sql -d postgres -c "CREATE DATABASE $DB"
migrate_db "$DB"

HIST="$(gen_data "history-n$N-v$VEHICLES" --shipments "$N" --vehicles "$VEHICLES" --from "$HIST_FROM" --to "$HIST_TO" --seed 1)"
JSON_MB=$(( ($(stat -c %s "$HIST/vehicles.json") + $(stat -c %s "$HIST/vehicle_logs.json") + $(stat -c %s "$HIST/shipments.json")) / 1000000 ))

# --- history ----------------------------------------------------------------

clock_start
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
clock_stop

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
summary_tail "build, server, data generation"
