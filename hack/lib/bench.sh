# shellcheck shell=bash
# What hack/bench-*.sh share: the repository and bin/haul, a throwaway
# PostgreSQL cluster in a scratch folder removed at exit, the data folder, and
# the helpers that time and print. Sourced, not run, first thing: it sets
# `set -euo pipefail` for the script, and BENCH_NAME (the script's name, e.g.
# bench-ingest: the prefix of its messages and of its scratch folder); the
# script then calls, in this order:
#
#   cd_root; find_pg; make_scratch; data_root; build_haul; start_pg
#
# Environment: HAUL_PG_BINDIR (PostgreSQL's binaries), HAUL_BENCH_DIR (keep and
# reuse the generated data there), TMPDIR (where the scratch folder goes).
#
# It sets HAUL, PGBIN, PSQL, WORK, PGDIR, PGDATA, REJECTS, DATA_ROOT, KEEP_DATA,
# PORT and PG_VERSION for the script, which reads only some of them:
# shellcheck disable=SC2034

set -euo pipefail
BENCH_NAME="$(basename "$0" .sh)"

# The repository root: this file is hack/lib/bench.sh.
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# --- messages ---------------------------------------------------------------

# die MESSAGE: print MESSAGE to stderr and exit 1.
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
# log MESSAGE: print MESSAGE to stderr.
log() { echo "$BENCH_NAME: $*" >&2; }

# --- repository, PostgreSQL binaries, scratch folder, data folder ------------

# cd_root: change to the repository root and set HAUL (bin/haul there).
cd_root() {
	cd "$BENCH_ROOT" || exit
	HAUL="$PWD/bin/haul"
}

# find_bindir: print the first folder holding initdb, pg_ctl and postgres:
# HAUL_PG_BINDIR, pg_config --bindir, then Debian's /usr/lib/postgresql/*/bin.
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

# find_pg: set PGBIN (the server's binaries) and PSQL, or die.
find_pg() {
	PGBIN="$(find_bindir)" || die "PostgreSQL server binaries not found (run make setup, or set HAUL_PG_BINDIR)"
	PSQL="$PGBIN/psql"
	[[ -x "$PSQL" ]] || PSQL="$(command -v psql)" || die "psql not found"
}

# as_pg COMMAND...: run COMMAND as the postgres OS user when root (initdb and
# postgres refuse root), else as ourselves.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# cleanup: the EXIT trap. Runs the function BENCH_ON_EXIT names, if any, stops
# the cluster if it was started, removes the scratch folder, and exits with the
# status the script was exiting with.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "${BENCH_ON_EXIT:-}" ]]; then
		"$BENCH_ON_EXIT"
	fi
	if [[ "$PG_STARTED" == 1 ]]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}

# make_scratch: create the scratch folder WORK ($TMPDIR/haul-BENCH_NAME.*)
# with the cluster's folder PGDIR in it, and arm the traps that remove both
# at exit, Ctrl-C (130) and SIGTERM (143).
make_scratch() {
	WORK="$(mktemp -d "${TMPDIR:-/tmp}/haul-$BENCH_NAME.XXXXXX")"
	chmod 755 "$WORK" # the server may run as another user and must reach $WORK/pg
	PGDIR="$WORK/pg"
	PGDATA="$PGDIR/data"
	PORT=""
	PG_STARTED=0
	REJECTS="$WORK/rejects"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# data_root: set DATA_ROOT, where generated data goes: HAUL_BENCH_DIR if set
# (KEEP_DATA=1: kept and reused), else the scratch folder (KEEP_DATA=0).
data_root() {
	if [[ -n "${HAUL_BENCH_DIR:-}" ]]; then
		mkdir -p "$HAUL_BENCH_DIR"
		DATA_ROOT="$(cd "$HAUL_BENCH_DIR" && pwd)"
		KEEP_DATA=1
	else
		DATA_ROOT="$WORK/data"
		KEEP_DATA=0
	fi
}

# --- build and server -------------------------------------------------------

# build_haul: make build (bin/haul), its output to stderr.
build_haul() {
	log "building bin/haul"
	make --no-print-directory build >&2
}

# port_in_use PORT: true if something answers on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# random_port: print a port to try, in 20000..59999.
random_port() { echo $((20000 + RANDOM % 40000)); }

# free_port: print a TCP port on 127.0.0.1 nothing answers on.
free_port() {
	local candidate
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		candidate=$(random_port)
		if ! port_in_use "$candidate"; then
			echo "$candidate"
			return 0
		fi
	done
	return 1
}

# start_pg: initdb a cluster in PGDIR and start it on a free port of
# 127.0.0.1 (fsync off: throwaway), trying up to ten ports; sets PORT,
# PG_STARTED and PG_VERSION, or dies. The cluster's collation is C, or the
# ICU locale HAUL_PG_ICU_LOCALE names (e.g. en-US: a linguistic one, as
# the postgres image's en_US.utf8).
start_pg() {
	local candidate locale=(--locale=C)
	[[ -z "${HAUL_PG_ICU_LOCALE:-}" ]] || locale+=(--locale-provider=icu "--icu-locale=$HAUL_PG_ICU_LOCALE")
	log "starting PostgreSQL from $PGBIN (collation ${HAUL_PG_ICU_LOCALE:-C})"
	mkdir -p "$PGDIR"
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' OS user (make setup)"
		chown postgres: "$PGDIR"
	fi
	as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync -E UTF8 "${locale[@]}" >"$PGDIR/initdb.log" 2>&1 ||
		{ cat "$PGDIR/initdb.log" >&2; die "initdb failed"; }
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		candidate=$(random_port)
		# Something answers there: taken.
		if port_in_use "$candidate"; then
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
}

# --- databases --------------------------------------------------------------

# url DB: the connection URL of database DB on the cluster.
url() { echo "postgres://postgres@127.0.0.1:$PORT/$1?sslmode=disable"; }
# sql PSQL_ARGS...: psql on the cluster as postgres, stopping at the first error.
sql() { PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
# Flush what earlier steps left dirty so it is not charged to the next timing.
checkpoint() { sql -d postgres -c CHECKPOINT; }

# migrate_db DB: migrate DB with haul migrate, or die with its output.
migrate_db() {
	"$HAUL" migrate --database-url "$(url "$1")" >"$WORK/migrate.out" 2>&1 ||
		{ cat "$WORK/migrate.out" >&2; die "haul migrate failed"; }
}

# --- data -------------------------------------------------------------------

# gen_once DIR MESSAGE GEN_ARGS...: run haul gen GEN_ARGS into DIR (logging
# MESSAGE and the time it took) unless a kept DIR is complete; print DIR.
gen_once() {
	local dir=$1 message=$2 t0 t1
	shift 2
	if [[ -f "$dir/.complete" ]]; then
		log "reusing $dir"
	else
		rm -rf "$dir"
		log "$message"
		t0=$(now_ns)
		"$HAUL" gen --out "$dir" "$@" >&2
		t1=$(now_ns)
		log "generated in $(secs $((t1 - t0))) s"
		touch "$dir/.complete"
	fi
	echo "$dir"
}

# gen_shipments COUNT [GEN_ARGS...]: generate COUNT shipments (with their logs
# and vehicles) once into $DATA_ROOT/nCOUNT and print that folder.
gen_shipments() {
	local count=$1 dir="$DATA_ROOT/n$1"
	shift
	gen_once "$dir" "generating $(commas "$count") shipments into $dir" --shipments "$count" "$@"
}

# report_field FILE DATASET COLUMN: a count from haul ingest's text report
# (columns: dataset status read loaded duplicates rejected).
report_field() { awk -v ds="$2" -v col="$3" '$1 == ds { print $col }' "$1"; }

# --- figures ----------------------------------------------------------------

now_ns() { date +%s%N; }
# rate ROWS NANOSECONDS -> rows per second (integer)
rate() { awk -v r="$1" -v ns="$2" 'BEGIN { printf "%d", r / (ns / 1e9) }'; }
# secs NANOSECONDS -> seconds with 2 decimals
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
# 1234567 -> 1,234,567
commas() { printf "%s" "$1" | sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta'; }

# loadavg: the 1, 5 and 15 minute load averages, or ? without /proc/loadavg.
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'; }

# clock_start: start measuring; sets T_START and LOAD_START.
clock_start() {
	T_START=$(now_ns)
	LOAD_START="$(loadavg)"
}
# clock_stop: stop measuring; sets T_END.
clock_stop() { T_END=$(now_ns); }

# summary_tail INCLUDED: the summary's last two rows: the load average at
# clock_start and now, and the time measured and in all (INCLUDED: what the
# time in all adds to the measuring, e.g. "build, server, data generation").
summary_tail() {
	echo "load average        : $LOAD_START at the start, $(loadavg) at the end (1, 5, 15 min; other work skews the figures)"
	echo "took                : $(( (T_END - T_START) / 1000000000 )) s measuring, $SECONDS s in all ($1 included)"
}
