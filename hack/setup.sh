#!/usr/bin/env bash
# Installs what Haul's demo and tests need from the machine and is not a Go
# module: the PostgreSQL server binaries (Debian's packages). Idempotent: it
# does nothing when they are present.
set -euo pipefail

have_server() {
	local dir
	for dir in "${HAUL_PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
		[[ -n "$dir" && -x "$dir/initdb" && -x "$dir/postgres" ]] && return 0
	done
	return 1
}

if have_server && id postgres >/dev/null 2>&1; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "hack/setup.sh: PostgreSQL server binaries not found and no apt-get here; install PostgreSQL (initdb, postgres) or set HAUL_PG_BINDIR" >&2
	exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
	sudo=sudo
fi
echo "hack/setup.sh: installing PostgreSQL from Debian packages" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# postgresql-common would create and start a system cluster; Haul starts its
# own throwaway clusters, so skip that.
$sudo mkdir -p /etc/postgresql-common
echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
$sudo apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql >/dev/null
have_server || { echo "hack/setup.sh: PostgreSQL installed but initdb/postgres still not found" >&2; exit 1; }
