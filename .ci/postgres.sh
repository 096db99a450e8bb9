#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for the tests and prints its URL.
# Usage: .ci/postgres.sh start [port] | stop
# Needs Debian's postgresql package; PostgreSQL will not run as root, so it runs as user postgres.
set -euo pipefail
PORT="${2:-55432}"
DIR="${GF_PG_DIR:-/tmp/gridflex-pg-$PORT}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$BIN/initdb" ] || { echo "postgres.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }
RUN=()
if [ "$(id -u)" = 0 ]; then RUN=(runuser -u postgres --); fi
case "${1:-start}" in
  start)
    if [ -f "$DIR/postmaster.pid" ] && "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
      echo "postgres://postgres@127.0.0.1:$PORT/postgres"; exit 0
    fi
    rm -rf "$DIR"; mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
    "${RUN[@]}" "$BIN/initdb" -D "$DIR" -A trust -U postgres --no-sync -E UTF8 >/dev/null
    "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=on -c max_connections=200" start >/dev/null
    echo "postgres://postgres@127.0.0.1:$PORT/postgres"
    ;;
  stop)
    "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
