#!/usr/bin/env bash
# Ingest benchmark: how fast `haul ingest` loads shipments JSON into PostgreSQL,
# compared with the floor PostgreSQL itself offers for the same rows, and how
# much memory haul needs while doing it.
#
#   (a) psql: `\copy shipments FROM 'shipments.csv' CSV` of exactly the rows
#       haul stores (exported once from haul's own first load, not timed) into
#       a freshly migrated database: no parsing, validation or reference checks.
#   (k) psql key-only: the same `\copy` into a table of the same columns with
#       only shipments' primary key (no other index, no checks, no NOT NULL),
#       in a freshly migrated database: the floor for storing these rows at
#       all, which shows what shipments' other indexes and checks cost.
#   (b) haul: `haul ingest --shipments shipments.json --progress none` with the
#       default flags (all validation, dedupe and reference checks on) into a
#       freshly migrated database holding the vehicles and vehicle logs (loaded
#       by `haul ingest` first, timed separately); also with --workers 1. Peak
#       RSS from /usr/bin/time -v.
#
# (a), (k) and (b) alternate over ROUNDS rounds on ONE throwaway PostgreSQL
# cluster (fsync off; removed at exit); then, unless BIG=0, haul loads a file
# 5x larger to show its RSS does not grow with the input. It prints figures and
# the goals of issue 14 as PASS or MISS: haul / psql into shipments >= 1.0 and
# haul / psql into the key-only table >= 0.9 (medians); it asserts no timings
# (it fails only if a load does not load every row).
#
#   make bench-ingest                   # N=2,000,000 shipments, plus 5N (BIG)
#   N=500000 make bench-ingest
#   N=200000 BIG=0 hack/bench-ingest.sh
#   hack/bench-ingest.sh 500000
#
# Environment: N (shipments; or the first argument; default 2000000), ROUNDS
# (default 2), BIG (default 1; 0 skips the 5N run), WORKERS (haul variants per
# round, default "default 1": "default" passes no --workers flag, the first is
# the headline), HAUL_BENCH_DIR (keep and reuse the generated data there
# instead of a temporary folder), HAUL_PG_BINDIR (PostgreSQL's binaries),
# HAUL_PG_ICU_LOCALE (the cluster's collation, an ICU locale such as en-US;
# C without it).
# Needs: the PostgreSQL server binaries (make setup), GNU time (/usr/bin/time),
# and disk: at the default N with BIG=1, about 3.2 GB of JSON plus the 10M-row
# database and its WAL (allow 10 GB free in $TMPDIR or HAUL_BENCH_DIR).
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

N="${1:-${N:-2000000}}"
ROUNDS="${ROUNDS:-2}"
BIG="${BIG:-1}"
WORKERS="${WORKERS:-default 1}"

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
[[ "$BIG" == 0 || "$BIG" == 1 ]] || die "BIG must be 0 or 1, got '$BIG'"
for w in $WORKERS; do
	[[ "$w" == default || "$w" =~ ^[1-9][0-9]*$ ]] || die "WORKERS: want 'default' or counts, got '$w'"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) not found; apt-get install time"

cd_root
find_pg

# --- scratch space and cleanup ----------------------------------------------

make_scratch
data_root
[[ "$DATA_ROOT" != *"'"* ]] || die "the data folder must not contain a single quote: $DATA_ROOT"

# --- helpers ----------------------------------------------------------------

# mb KILOBYTES -> megabytes (integer, rounded)
mb() { awk -v kb="$1" 'BEGIN { printf "%d", kb / 1024 + 0.5 }'; }
# median and max of whitespace-separated numbers
median() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%d", a[(NR + 1) / 2]; else printf "%d", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
best() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort -n | tail -n1; }

# fresh_db NAME: drop and create NAME, then migrate it with haul.
fresh_db() {
	sql -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
	migrate_db "$1"
}
drop_db() { sql -d postgres -c "DROP DATABASE IF EXISTS $1"; }

# ingest_refs DB DIR: load vehicles and vehicle_logs (timed separately).
ingest_refs() {
	local db=$1 dir=$2 t0 t1 out="$WORK/refs.out" logs
	t0=$(now_ns)
	if ! "$HAUL" ingest --database-url "$(url "$db")" --rejects-dir "$REJECTS" --progress none \
		--vehicles "$dir/vehicles.json" --vehicle-logs "$dir/vehicle_logs.json" >"$out" 2>"$WORK/refs.err"; then
		cat "$out" "$WORK/refs.err" >&2
		die "haul ingest of vehicles and vehicle_logs failed"
	fi
	t1=$(now_ns)
	logs=$(report_field "$out" vehicle_logs 4)
	REFS_NS=$((t1 - t0))
	REFS_ROWS=$(($(report_field "$out" vehicles 4) + logs))
	log "  refs: vehicles + $(commas "$logs") vehicle_logs loaded in $(secs "$REFS_NS") s"
}

# haul_load DB DIR COUNT WORKERS: time haul ingest of DIR/shipments.json into
# DB (vehicles and logs already there); sets LAST_NS, LAST_RSS_KB and LAST_CPU
# (haul's user + system CPU seconds; the rest of the wall time is PostgreSQL).
haul_load() {
	local db=$1 dir=$2 count=$3 workers=$4 out="$WORK/haul.out" tv="$WORK/haul.time" t0 t1 loaded
	local args=(ingest --database-url "$(url "$db")" --rejects-dir "$REJECTS" --progress none
		--shipments "$dir/shipments.json")
	[[ "$workers" == default ]] || args+=(--workers "$workers")
	checkpoint
	t0=$(now_ns)
	if ! /usr/bin/time -v -o "$tv" "$HAUL" "${args[@]}" >"$out" 2>"$WORK/haul.err"; then
		cat "$out" "$WORK/haul.err" "$tv" >&2
		die "haul ingest of shipments failed"
	fi
	t1=$(now_ns)
	loaded=$(report_field "$out" shipments 4)
	if [[ "$loaded" != "$count" ]]; then
		cat "$out" "$WORK/haul.err" >&2
		die "haul ingest loaded '$loaded' shipments, want $count"
	fi
	LAST_NS=$((t1 - t0))
	LAST_RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tv")
	LAST_CPU=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.1f", s }' "$tv")
}

# The columns of the CSV, in its order: every column haul's load fills.
CSV_COLUMNS="shipment_id, origin, destination, weight, cost, delivery_time, log_id, trip_date, vehicle_id"
KEY_ONLY=shipments_key_only

# psql_load DB TABLE CSV COUNT: time psql \copy of CSV into DB's TABLE; sets
# LAST_NS.
psql_load() {
	local db=$1 table=$2 csv=$3 count=$4 t0 t1 got
	checkpoint
	t0=$(now_ns)
	sql -d "$db" -c "\\copy $table ($CSV_COLUMNS) FROM '$csv' CSV"
	t1=$(now_ns)
	got=$(sql -d "$db" -At -c "SELECT count(*) FROM $table")
	[[ "$got" == "$count" ]] || die "psql \\copy loaded '$got' rows into $table, want $count"
	LAST_NS=$((t1 - t0))
}

# make_key_only DB: create the key-only table in DB: shipments' CSV columns
# and types, and its primary key, nothing else.
make_key_only() {
	local pk
	pk=$(sql -d "$1" -At -c "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'shipments'::regclass AND contype = 'p'")
	[[ -n "$pk" ]] || die "shipments has no primary key"
	sql -d "$1" -c "CREATE TABLE $KEY_ONLY AS SELECT $CSV_COLUMNS FROM shipments WITH NO DATA" \
		-c "ALTER TABLE $KEY_ONLY ADD $pk"
}

# --- build, server, data ----------------------------------------------------

build_haul
start_pg

DIR="$(gen_shipments "$N")"
JSON_MB=$(( $(stat -c %s "$DIR/shipments.json") / 1000000 ))
CSV="$DIR/shipments.csv"

# --- rounds -----------------------------------------------------------------

read -ra VARIANTS <<<"$WORKERS"
declare -A HAUL_RATES=() HAUL_RSS=()
PSQL_RATES=()
KEY_ONLY_RATES=()
REFS_RATES=()

label() { if [[ "$1" == default ]]; then echo "default flags"; else echo "--workers $1"; fi; }
DEFAULT_WORKERS=$("$HAUL" ingest --help | sed -nE 's/.*--workers int.*\(default ([0-9]+)\).*/\1/p')

run_haul() {
	local round=$1 w db
	for w in "${VARIANTS[@]}"; do
		db="haul_r${round}_w$w"
		fresh_db "$db"
		ingest_refs "$db" "$DIR"
		REFS_RATES+=("$(rate "$REFS_ROWS" "$REFS_NS")")
		haul_load "$db" "$DIR" "$N" "$w"
		HAUL_RATES[$w]+=" $(rate "$N" "$LAST_NS")"
		HAUL_RSS[$w]+=" $LAST_RSS_KB"
		printf "round %d  haul ingest JSON  %-14s: %9s rows/s  (%6s s, haul CPU %5s s)  peak RSS %s MB\n" "$round" \
			"$(label "$w")" "$(commas "$(rate "$N" "$LAST_NS")")" "$(secs "$LAST_NS")" "$LAST_CPU" "$(mb "$LAST_RSS_KB")"
		if [[ ! -f "$CSV" ]]; then
			log "  exporting the loaded shipments to $CSV (not timed)"
			sql -d "$db" -c "\\copy (SELECT $CSV_COLUMNS FROM shipments) TO '$CSV' CSV"
		fi
		drop_db "$db"
	done
}

run_psql() {
	local round=$1 db="copy_r$1"
	# Vehicles and logs are not loaded: COPY checks no references.
	fresh_db "$db"
	psql_load "$db" shipments "$CSV" "$N"
	PSQL_RATES+=("$(rate "$N" "$LAST_NS")")
	printf "round %d  psql \\\\copy CSV    %-14s: %9s rows/s  (%6s s)\n" "$round" "shipments" \
		"$(commas "$(rate "$N" "$LAST_NS")")" "$(secs "$LAST_NS")"
	drop_db "$db"
	db="key_only_r$round"
	fresh_db "$db"
	make_key_only "$db"
	psql_load "$db" "$KEY_ONLY" "$CSV" "$N"
	KEY_ONLY_RATES+=("$(rate "$N" "$LAST_NS")")
	printf "round %d  psql \\\\copy CSV    %-14s: %9s rows/s  (%6s s)\n" "$round" "key-only table" \
		"$(commas "$(rate "$N" "$LAST_NS")")" "$(secs "$LAST_NS")"
	drop_db "$db"
}

clock_start
echo "ingest benchmark: N=$(commas "$N") shipments, $JSON_MB MB JSON; $ROUNDS rounds; haul default --workers $DEFAULT_WORKERS"
# A stale CSV from a kept folder is fine: gen writes the same bytes for the
# same N, and haul stores the same rows.
for ((round = 1; round <= ROUNDS; round++)); do
	log "round $round of $ROUNDS"
	if ((round % 2 == 1)) || [[ ! -f "$CSV" ]]; then
		run_haul "$round"
		run_psql "$round"
	else
		run_psql "$round"
		run_haul "$round"
	fi
done
CSV_MB=$(( $(stat -c %s "$CSV") / 1000000 ))
[[ "$KEEP_DATA" == 1 ]] || rm -f "$CSV"

# --- 5N: does RSS grow with the file? ---------------------------------------

HEAD="${VARIANTS[0]}"
BIG_RSS_KB=""
if [[ "$BIG" == 1 ]]; then
	BIG_N=$((N * 5))
	log "5N: $(commas "$BIG_N") shipments"
	BIG_DIR="$(gen_shipments "$BIG_N")"
	BIG_JSON_MB=$(( $(stat -c %s "$BIG_DIR/shipments.json") / 1000000 ))
	fresh_db haul_big
	ingest_refs haul_big "$BIG_DIR"
	haul_load haul_big "$BIG_DIR" "$BIG_N" "$HEAD"
	BIG_RSS_KB=$LAST_RSS_KB
	BIG_RATE=$(rate "$BIG_N" "$LAST_NS")
	printf "5N       haul ingest JSON  %-14s: %9s rows/s  (%6s s, haul CPU %5s s)  peak RSS %s MB  (%s shipments, %s MB JSON)\n" \
		"$(label "$HEAD")" "$(commas "$BIG_RATE")" "$(secs "$LAST_NS")" "$LAST_CPU" "$(mb "$BIG_RSS_KB")" "$(commas "$BIG_N")" "$BIG_JSON_MB"
	drop_db haul_big
	[[ "$KEEP_DATA" == 1 ]] || rm -rf "$BIG_DIR"
fi
clock_stop

# --- summary ----------------------------------------------------------------

psql_med=$(median "${PSQL_RATES[*]}")
key_only_med=$(median "${KEY_ONLY_RATES[*]}")
haul_med=$(median "${HAUL_RATES[$HEAD]}")
rss_n_kb=$(best "${HAUL_RSS[$HEAD]}")
# share A B -> B/A with 2 decimals
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
# at_least VALUE GOAL -> PASS or MISS
at_least() { if awk -v v="$1" -v g="$2" 'BEGIN { exit !(v >= g) }'; then echo PASS; else echo MISS; fi; }
ratio=$(share "$psql_med" "$haul_med")
ratio_key_only=$(share "$key_only_med" "$haul_med")
head_label="$(label "$HEAD")"
[[ "$HEAD" != default ]] || head_label="default flags (--workers $DEFAULT_WORKERS)"

echo
echo "ingest benchmark: N=$(commas "$N") shipments ($JSON_MB MB JSON, $CSV_MB MB CSV), $ROUNDS rounds, machine: $(nproc) cores, PostgreSQL $PG_VERSION"
printf "psql \\\\copy CSV      : %s rows/s (median), best %s, into shipments\n" "$(commas "$psql_med")" \
	"$(commas "$(best "${PSQL_RATES[*]}")")"
printf "psql \\\\copy CSV      : %s rows/s (median), best %s, into a key-only table\n" "$(commas "$key_only_med")" \
	"$(commas "$(best "${KEY_ONLY_RATES[*]}")")"
for w in "${VARIANTS[@]}"; do
	l="$(label "$w")"
	[[ "$w" != default ]] || l="default flags (--workers $DEFAULT_WORKERS)"
	printf "haul ingest JSON    : %s rows/s (median), best %s, %s\n" "$(commas "$(median "${HAUL_RATES[$w]}")")" \
		"$(commas "$(best "${HAUL_RATES[$w]}")")" "$l"
done
echo "ratio haul/psql     : $ratio $(at_least "$ratio" 1.0) (goal >= 1.0; into shipments; medians, haul with $head_label)"
echo "ratio haul/key-only : $ratio_key_only $(at_least "$ratio_key_only" 0.9) (goal >= 0.9; psql into the key-only table)"
if [[ -n "$BIG_RSS_KB" ]]; then
	echo "haul peak RSS       : $(mb "$rss_n_kb") MB at N, $(mb "$BIG_RSS_KB") MB at 5N ($(commas "$BIG_RATE") rows/s at 5N)"
else
	echo "haul peak RSS       : $(mb "$rss_n_kb") MB at N (5N skipped, BIG=0)"
fi
echo "refs (haul ingest)  : vehicles + vehicle_logs $(commas "$(median "${REFS_RATES[*]}")") rows/s (median, not in the figures above)"
summary_tail "build, server, data generation"
