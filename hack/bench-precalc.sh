#!/usr/bin/env bash
# Aggregate refresh benchmark: what the refresh `haul listen` performs after a
# load costs against a full rebuild measured in the same run, what a full
# rebuild costs against loading the same rows, and how large the aggregates
# are against the raw tables.
#
#   base       `haul gen` of N shipments dated 2023-01-01..2025-12-31 (1,096
#              days: gen's default shape), loaded by one `haul ingest`
#              (vehicles, vehicle_logs, shipments; timed), then the first
#              `haul precalc` (timed; in effect a full build), VACUUM
#              (ANALYZE) (not timed: the state autovacuum reaches soon after a
#              load), then `haul precalc --full` ROUNDS times (timed: the full
#              rebuild the goals scale). The sizes are measured then. This
#              database is the template of every scenario.
#   scenarios  each round of each scenario on a fresh copy of the base
#              (CREATE DATABASE ... TEMPLATE, not timed): `haul ingest` of k
#              new shipments with their logs (`haul gen` with the scenario's
#              own seed and id prefix, on the base's fleet; vehicle_logs and
#              shipments only; timed), then the refresh `haul listen` performs
#              after a load (`haul precalc` without --full runs the same
#              refresh), then a full rebuild of the same data (`haul precalc
#              --full`), each timed:
#                1% spread    k = 1% of N, dated over all the base's days
#                10% spread   k = 10% of N, dated over all the base's days
#                1% new days  k = 1% of N, on 90 new days after the base's
#                10% new days k = 10% of N, on the same 90 new days
#                1 new day    k = N / 1,096 (a day of data), on the next day
#
# Goals (issue 14), each printed as PASS or MISS:
#   - each refresh <= max(1 s, 2 x k/N x the base's full rebuild);
#   - no refresh slower than the full rebuild of the same data after it;
#   - full rebuild / load of the same rows <= 0.5;
#   - aggregate tables / raw tables <= 0.5 in bytes (pg_total_relation_size:
#     heap, indexes and TOAST; partitions counted with their table). Raw:
#     vehicles, vehicle_logs, shipments; aggregates: the tables whose name is
#     LIKE ROLLUP_TABLES; every other table is printed as "other".
# The issue states them at N=10,000,000; smaller N shows the trend.
#
# Everything runs on ONE throwaway PostgreSQL cluster (fsync off; removed at
# exit). Every refresh runs with -v 1; the slowest steps of each are printed.
# It fails only if a load does not load every row or a refresh does not
# refresh.
#
#   make bench-precalc                  # N=5,000,000 shipments, ROUNDS=1
#   N=200000 make bench-precalc
#   N=2000000 ROUNDS=3 hack/bench-precalc.sh
#   hack/bench-precalc.sh 10000000
#
# Environment: N (base shipments; or the first argument; default 5000000),
# ROUNDS (full rebuilds of the base, and runs of each scenario, each on a new
# copy; medians are reported; default 1), SCENARIOS (which to run, by the
# names spread1 spread10 new1 new10 day; default all), ROLLUP_TABLES (LIKE
# pattern of the aggregate tables; default agg\_%), HAUL_BENCH_DIR (keep and
# reuse the generated data there instead of a temporary folder),
# HAUL_PG_BINDIR (PostgreSQL's binaries), HAUL_PG_ICU_LOCALE (the cluster's
# collation, an ICU locale such as en-US; C without it).
# Needs: the PostgreSQL server binaries (make setup), and disk: the base
# database twice (it and one copy) plus N x 1.2 shipments of JSON; at the
# default N about 1.7 GB of JSON and 12 GB of databases and WAL (allow 20 GB
# free in $TMPDIR or HAUL_BENCH_DIR; 40 GB at N=10,000,000).
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

N="${1:-${N:-5000000}}"
ROUNDS="${ROUNDS:-1}"
SCENARIOS="${SCENARIOS:-spread1 spread10 new1 new10 day}"
ROLLUP_TABLES="${ROLLUP_TABLES:-agg\\_%}"
FROM=2023-01-01
TO=2025-12-31
DAYS=1096
NEW_FROM=2026-01-01
NEW_TO=2026-03-31 # 90 days
# The goals.
GOAL_FLOOR_NS=1000000000 # 1 s
GOAL_SCALE=2             # x k/N x the full rebuild
GOAL_FULL_LOAD=0.5
GOAL_SIZE=0.5

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
[[ "$ROLLUP_TABLES" =~ ^[A-Za-z0-9_%\\]+$ ]] || die "ROLLUP_TABLES must be a plain LIKE pattern, got '$ROLLUP_TABLES'"
for s in $SCENARIOS; do
	[[ "$s" =~ ^(spread1|spread10|new1|new10|day)$ ]] || die "SCENARIOS: want spread1 spread10 new1 new10 day, got '$s'"
done
# The fleet gen makes for the base (one vehicle per 1,000 logs, logs half the
# shipments, at least 20), passed to every gen: the scenarios' logs then name
# only vehicles the base loaded, with the same ids.
VEHICLES=$((N / 2 / 1000 > 20 ? N / 2 / 1000 : 20))

cd_root
find_pg

# --- scratch space and cleanup ----------------------------------------------

make_scratch
data_root
BASE=base

# --- helpers ----------------------------------------------------------------

# median of whitespace-separated integers (%.0f: mawk's %d stops at 2^31-1)
median() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.0f", a[(NR + 1) / 2]; else printf "%.0f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# ratio A B -> A/B with 2 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# verdict "A OP B": PASS if the comparison holds (awk arithmetic), else MISS.
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }
# list_secs NS...: the durations in seconds, comma-separated.
list_secs() { local ns out=""; for ns in "$@"; do out+="${out:+, }$(secs "$ns")"; done; echo "$out"; }
# mb BYTES -> megabytes with 1 decimal
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

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

# ingest DB NAME WANT_SHIPMENTS ARGS...: time haul ingest ARGS into DB; sets
# LAST_NS and LAST_ROWS (records loaded, every dataset).
ingest() {
	local db=$1 name=$2 want=$3 out="$WORK/$2.json" t0 t1 status got
	shift 3
	checkpoint
	t0=$(now_ns)
	if ! "$HAUL" ingest --database-url "$(url "$db")" --rejects-dir "$REJECTS" --progress none --output json \
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

# precalc DB NAME [--full]: time haul precalc (with -v 1: its step timings go
# to $WORK/NAME.err); sets LAST_NS, LAST_PATH (full or incremental, as the
# refresh reports it), LAST_DAYS (days it says it refreshed, or ?) and
# LAST_STEPS (the three slowest steps, "name seconds, ...").
precalc() {
	local db=$1 name=$2 out="$WORK/$2.json" err="$WORK/$2.err" t0 t1
	shift 2
	checkpoint
	t0=$(now_ns)
	if ! "$HAUL" precalc -v 1 --database-url "$(url "$db")" --output json "$@" >"$out" 2>"$err"; then
		cat "$out" "$err" >&2
		die "haul precalc ($name) failed"
	fi
	t1=$(now_ns)
	[[ "$(json "$out" ":'j'::jsonb->>'refreshed'")" == true ]] ||
		{ cat "$out" >&2; die "haul precalc ($name) refreshed nothing"; }
	LAST_NS=$((t1 - t0))
	LAST_PATH=incremental
	[[ "$(json "$out" ":'j'::jsonb->>'full'")" != true ]] || LAST_PATH=full
	LAST_DAYS=$(json "$out" "coalesce(:'j'::jsonb->>'days', '?')")
	# slog text lines: ... msg="refresh step done" ... step="stage raw rows" seconds=1.234
	LAST_STEPS=$(sed -nE '/msg="refresh step done"/ s/.* step=("[^"]*"|[^ ]*) .*seconds=([0-9.e+-]+).*/\2 \1/p' "$err" |
		tr -d '"' | sort -rg | head -n 3 | awk '{ s = $1; $1 = ""; sub(/^ /, ""); printf "%s%s %.2f s", (NR > 1 ? ", " : ""), $0, s }')
	LAST_STEPS=${LAST_STEPS:-none logged}
}

# copy_base DB: DB as a fresh copy of the base database (file copy where the
# server has it: no WAL for the whole database).
copy_base() {
	local strategy=""
	((${PG_VERSION%%.*} < 15)) || strategy="STRATEGY FILE_COPY"
	sql -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1 TEMPLATE $BASE $strategy"
}

# table_sizes DB: one "class table bytes" line per table (partitions counted
# with their table; bytes: heap, indexes and TOAST), class raw, aggregates
# (named LIKE ROLLUP_TABLES) or other.
table_sizes() {
	sql -d "$1" -At -F ' ' -v pattern="$ROLLUP_TABLES" <<'EOF'
WITH t AS (
	SELECT coalesce(pg_partition_root(c.oid), c.oid)::regclass::text AS root, pg_total_relation_size(c.oid) AS bytes
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relkind IN ('r', 'm') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
)
SELECT CASE WHEN root IN ('vehicles', 'vehicle_logs', 'shipments') THEN 'raw'
		WHEN root LIKE :'pattern' THEN 'aggregates' ELSE 'other' END, root, sum(bytes)
FROM t GROUP BY root ORDER BY 1, 2
EOF
}

# --- build, server, data ----------------------------------------------------

build_haul
start_pg

sql -d postgres -c "CREATE DATABASE $BASE"
migrate_db "$BASE"

HIST="$(gen_data "base-n$N-v$VEHICLES" --shipments "$N" --vehicles "$VEHICLES" --from "$FROM" --to "$TO" --seed 1)"
JSON_MB=$((($(stat -c %s "$HIST/vehicles.json") + $(stat -c %s "$HIST/vehicle_logs.json") + $(stat -c %s "$HIST/shipments.json")) / 1000000))

# --- base -------------------------------------------------------------------

clock_start
echo "precalc benchmark: N=$(commas "$N") shipments over $FROM..$TO ($JSON_MB MB JSON, $(commas "$VEHICLES") vehicles); ROUNDS=$ROUNDS; scenarios: $SCENARIOS"

log "loading the base"
ingest "$BASE" base "$N" --vehicles "$HIST/vehicles.json" --vehicle-logs "$HIST/vehicle_logs.json" --shipments "$HIST/shipments.json"
LOAD_NS=$LAST_NS
LOAD_ROWS=$LAST_ROWS
printf "%-40s: %8s s  (%s shipments/s, %s records/s; %s records)\n" "base load      haul ingest" "$(secs "$LOAD_NS")" \
	"$(commas "$(rate "$N" "$LOAD_NS")")" "$(commas "$(rate "$LOAD_ROWS" "$LOAD_NS")")" "$(commas "$LOAD_ROWS")"

log "first refresh"
precalc "$BASE" first
FIRST_NS=$LAST_NS
printf "%-40s: %8s s  (%s, %s days; slowest steps: %s)\n" "base build     haul precalc" "$(secs "$FIRST_NS")" \
	"$LAST_PATH" "$LAST_DAYS" "$LAST_STEPS"

log "VACUUM (ANALYZE), not timed"
sql -d "$BASE" -c "VACUUM (ANALYZE)"

FULL_NS=()
for ((round = 1; round <= ROUNDS; round++)); do
	log "full rebuild of the base, round $round of $ROUNDS"
	precalc "$BASE" "full$round" --full
	FULL_NS+=("$LAST_NS")
	printf "%-40s: %8s s  (%s days; slowest steps: %s)\n" "base rebuild   haul precalc --full #$round" "$(secs "$LAST_NS")" \
		"$LAST_DAYS" "$LAST_STEPS"
done
FULL_MED=$(median "${FULL_NS[*]}")

declare -A SIZE=([raw]=0 [aggregates]=0 [other]=0) TABLES=([raw]=0 [aggregates]=0 [other]=0)
echo "aggregate tables after the full rebuild (LIKE '$ROLLUP_TABLES'):"
while read -r class table bytes; do
	SIZE[$class]=$((SIZE[$class] + bytes))
	TABLES[$class]=$((TABLES[$class] + 1))
	if [[ "$class" == aggregates ]]; then
		printf "  %-22s %15s rows %10s MB\n" "$table" "$(commas "$(sql -d "$BASE" -At -c "SELECT count(*) FROM $table")")" "$(mb "$bytes")"
	fi
done < <(table_sizes "$BASE")

# --- scenarios --------------------------------------------------------------

# scenario NAME: sets SC_LABEL, SC_K and SC_GEN (haul gen's arguments: its
# dates, and a seed and id prefix of its own).
scenario() {
	local pct=0 from=$FROM to=$TO seed
	case $1 in
	spread1) pct=1 seed=2 SC_LABEL="1% over all days" ;;
	spread10) pct=10 seed=3 SC_LABEL="10% over all days" ;;
	new1) pct=1 from=$NEW_FROM to=$NEW_TO seed=4 SC_LABEL="1% on 90 new days" ;;
	new10) pct=10 from=$NEW_FROM to=$NEW_TO seed=5 SC_LABEL="10% on 90 new days" ;;
	day) from=$NEW_FROM to=$NEW_FROM seed=6 SC_LABEL="1 new day" ;;
	esac
	if ((pct > 0)); then SC_K=$((N * pct / 100)); else SC_K=$((N / DAYS)); fi
	((SC_K > 0)) || SC_K=1
	SC_GEN=(--from "$from" --to "$to" --seed "$seed" --id-prefix "${1^^}")
}

declare -A REFRESH_MED=() REBUILD_MED=() LOAD_MED=() PATHS=() KS=() LABELS=()
for name in $SCENARIOS; do
	scenario "$name"
	KS[$name]=$SC_K
	LABELS[$name]=$SC_LABEL
	data="$(gen_data "$name-n$SC_K-v$VEHICLES" --shipments "$SC_K" --vehicles "$VEHICLES" "${SC_GEN[@]}")"
	loads=() refreshes=() rebuilds=() paths=""
	for ((round = 1; round <= ROUNDS; round++)); do
		db="s_${name}_r$round"
		log "$SC_LABEL: $(commas "$SC_K") shipments, round $round of $ROUNDS"
		copy_base "$db"
		ingest "$db" "$name-load$round" "$SC_K" --vehicle-logs "$data/vehicle_logs.json" --shipments "$data/shipments.json"
		loads+=("$LAST_NS")
		printf "%-14s r%d  %-21s: %8s s  (%s records)\n" "$name" "$round" "haul ingest" "$(secs "$LAST_NS")" "$(commas "$LAST_ROWS")"
		precalc "$db" "$name-refresh$round"
		refreshes+=("$LAST_NS")
		paths+="${paths:+ }$LAST_PATH"
		printf "%-14s r%d  %-21s: %8s s  (%s, %s days; slowest steps: %s)\n" "$name" "$round" "haul precalc" \
			"$(secs "$LAST_NS")" "$LAST_PATH" "$LAST_DAYS" "$LAST_STEPS"
		precalc "$db" "$name-rebuild$round" --full
		rebuilds+=("$LAST_NS")
		printf "%-14s r%d  %-21s: %8s s  (%s days; slowest steps: %s)\n" "$name" "$round" "haul precalc --full" \
			"$(secs "$LAST_NS")" "$LAST_DAYS" "$LAST_STEPS"
		sql -d postgres -c "DROP DATABASE $db"
	done
	LOAD_MED[$name]=$(median "${loads[*]}")
	REFRESH_MED[$name]=$(median "${refreshes[*]}")
	REBUILD_MED[$name]=$(median "${rebuilds[*]}")
	PATHS[$name]=$paths
done
clock_stop

# --- summary ----------------------------------------------------------------

echo
echo "precalc benchmark: N=$(commas "$N") shipments, $DAYS days, ROUNDS=$ROUNDS (medians), machine: $(nproc) cores, PostgreSQL $PG_VERSION"
printf "base load           : %8s s  (haul ingest of %s records: %s shipments/s)\n" "$(secs "$LOAD_NS")" \
	"$(commas "$LOAD_ROWS")" "$(commas "$(rate "$N" "$LOAD_NS")")"
printf "first build         : %8s s  (haul precalc after the load)\n" "$(secs "$FIRST_NS")"
printf "full rebuild        : %8s s  (haul precalc --full of the base; rounds: %s s)\n" "$(secs "$FULL_MED")" \
	"$(list_secs "${FULL_NS[@]}")"
echo
echo "refresh after a load of k shipments (haul precalc, the refresh haul listen runs) on a copy of the base;"
echo "goal: refresh <= max(1 s, $GOAL_SCALE x k/N x full rebuild of the base), and not slower than the full rebuild of the same data"
printf "  %-20s %10s %8s %10s %9s %-6s %10s %-14s %s\n" scenario k "load s" "refresh s" "goal s" "" "rebuild s" "refresh/rebuild" path
SLOWER=""
RPASS=0
RMISS=0
for name in $SCENARIOS; do
	k=${KS[$name]}
	goal=$(awk -v k="$k" -v n="$N" -v f="$FULL_MED" -v s="$GOAL_SCALE" -v floor="$GOAL_FLOOR_NS" \
		'BEGIN { g = s * k / n * f; printf "%.0f", (g > floor ? g : floor) }')
	v_goal=$(verdict "${REFRESH_MED[$name]} <= $goal")
	v_full=$(verdict "${REFRESH_MED[$name]} <= ${REBUILD_MED[$name]}")
	for v in "$v_goal" "$v_full"; do
		if [[ "$v" == PASS ]]; then RPASS=$((RPASS + 1)); else RMISS=$((RMISS + 1)); fi
	done
	[[ "$v_full" == PASS ]] || SLOWER+="${SLOWER:+, }${LABELS[$name]}"
	printf "  %-20s %10s %8s %10s %9s %-6s %10s %-14s %s\n" "${LABELS[$name]}" "$(commas "$k")" \
		"$(secs "${LOAD_MED[$name]}")" "$(secs "${REFRESH_MED[$name]}")" "$(secs "$goal")" "$v_goal" \
		"$(secs "${REBUILD_MED[$name]}")" "$(ratio "${REFRESH_MED[$name]}" "${REBUILD_MED[$name]}") $v_full" "${PATHS[$name]}"
done
echo
raw=${SIZE[raw]}
agg=${SIZE[aggregates]}
full_load=$(ratio "$FULL_MED" "$LOAD_NS")
printf "refresh goals       : %d PASS, %d MISS of %d (2 per scenario)\n" "$RPASS" "$RMISS" $((RPASS + RMISS))
echo "slower than a full rebuild: ${SLOWER:-none}"
printf "full rebuild / load : %8s    %s (goal <= %s)\n" "$full_load" "$(verdict "$full_load <= $GOAL_FULL_LOAD")" "$GOAL_FULL_LOAD"
if ((raw > 0)); then
	size_ratio=$(ratio "$agg" "$raw")
	printf "aggregates / raw    : %8s    %s (goal <= %s; %s MB in %s tables / %s MB in %s tables, after the full rebuild)\n" \
		"$size_ratio" "$(verdict "$size_ratio <= $GOAL_SIZE")" "$GOAL_SIZE" "$(mb "$agg")" "${TABLES[aggregates]}" \
		"$(mb "$raw")" "${TABLES[raw]}"
fi
echo "other tables        : $(mb "${SIZE[other]}") MB in ${TABLES[other]} tables (bookkeeping, and any aggregates not LIKE '$ROLLUP_TABLES')"
summary_tail "build, server, data generation, database copies"
