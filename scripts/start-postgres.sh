#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the replay tests and prints its URL on stdout
# (the only thing printed there; notices go to stderr).
#
#   export VSR_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
#
# Idempotent: installs the Debian package when missing (root or passwordless sudo), reuses a
# cluster already running from a previous call (state in $VSR_PG_DIR, default /tmp/vsr-pg),
# otherwise runs initdb there and starts it on port $VSR_PG_PORT (default 55432, or the next free
# one). Stop it with: scripts/start-postgres.sh --stop
set -euo pipefail

dir="${VSR_PG_DIR:-/tmp/vsr-pg}"
port="${VSR_PG_PORT:-55432}"
db="${VSR_PG_DB:-vsr_test}"
log() { echo "start-postgres: $*" >&2; }

find_bin() {
  local d
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
    dirname "$(command -v postgres)"
    return 0
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

bin=$(find_bin || true)
if [ -z "$bin" ]; then
  log "PostgreSQL not found; installing the Debian package"
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  else
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  bin=$(find_bin) || { log "could not install PostgreSQL"; exit 1; }
fi

# PostgreSQL refuses to run as root: run the server as the `postgres` user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres >&2
    chown -R postgres "$dir"
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else
    "$@"
  fi
}

if [ "${1:-}" = "--stop" ]; then
  [ -f "$dir/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
  exit 0
fi

mkdir -p "$dir"
if [ -f "$dir/port" ] && [ -f "$dir/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  port=$(cat "$dir/port")
else
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    mkdir -p "$dir/data"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
      || as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >&2
  fi
  # Pick the first free port from $port. A port nobody listens on can still be taken (it lies
  # in the ephemeral range, so a client socket or one in TIME_WAIT may hold it): on a failed
  # start, move on to the next port a few times.
  started=0
  for _ in 1 2 3 4 5; do
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    echo "$port" >"$dir/port"
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2; then
      started=1
      break
    fi
    log "could not start on port $port; trying the next one"
    port=$((port + 1))
  done
  [ "$started" = 1 ] || { log "PostgreSQL did not start (see $dir/server.log)"; exit 1; }
fi

tool() { if [ -x "$bin/$1" ]; then echo "$bin/$1"; else command -v "$1"; fi; }
if ! as_pg "$(tool psql)" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
  as_pg "$(tool createdb)" -h 127.0.0.1 -p "$port" -U postgres "$db" >&2
fi
echo "postgres://postgres@127.0.0.1:$port/$db"
