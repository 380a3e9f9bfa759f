#!/usr/bin/env bash
# examples/node/run.sh -- the Node.js examples on a private server.
#
#   bash examples/node/run.sh           (as root, or as a user who can run PostgreSQL)
#
# Builds and installs duroxide (scripts/setup.sh), creates a throw-away
# PostgreSQL cluster in a temporary directory (unix socket only; run as the
# postgres OS user when started as root) with duroxide preloaded, loads
# examples/approval.sql and examples/node/fanout.sql, copies clients/node
# (with `npm ci` when it has no node_modules) and examples/node next to it,
# and runs:
#   1. approval.js  ApprovalWorkflow driven by the pg-duroxide Client:
#                   approved, timed out, rejected
#   2. fanout.js    PriceBasket: one external FetchPrice activity per item,
#                   run by a pg-duroxide Worker as HTTP calls to a price
#                   service the script starts on 127.0.0.1
# The server is stopped and the directory removed on exit, whatever happens.
# Exits non-zero if an example does not end as expected.
#
# Environment: PG_CONFIG (default PostgreSQL 15's), EXAMPLE_PORT (default
# 5498), KEEP_EXAMPLE=1 keeps the directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
PORT="${EXAMPLE_PORT:-5498}"
DB=duroxide_example
RUN_USER=postgres

export LANG=C.UTF-8
unset LC_ALL PGHOST PGPORT PGDATABASE PGUSER PGOPTIONS PGSERVICE PGDATA DATABASE_URL

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

# run a command as the server's OS user
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$RUN_USER" -- "$@"
    else
        "$@"
    fi
}

command -v node >/dev/null 2>&1 || { say "node is not installed (scripts/setup.sh installs it as root)"; }
bash "$ROOT/scripts/setup.sh"
PG_BIN="$("$PG_CONFIG" --bindir)"

DIR="$(mktemp -d "${TMPDIR:-/tmp}/duroxide-node-example.XXXXXX")"
DATA="$DIR/data"
LOG="$DIR/server.log"
STARTED=0
OK=0

finish() {
    local rc=$?
    if [ "$STARTED" = 1 ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$OK" != 1 ] && [ -s "$LOG" ]; then
        printf '\n---- server log (last 40 lines) ----\n'
        tail -n 40 "$LOG"
    fi
    if [ "${KEEP_EXAMPLE:-0}" = 1 ]; then
        say "example files kept in $DIR"
    else
        rm -rf "$DIR"
    fi
    if [ "$OK" != 1 ]; then
        printf '\nNODE EXAMPLES FAILED\n'
        [ "$rc" -ne 0 ] || rc=1
    fi
    exit "$rc"
}
trap finish EXIT

# the package and the examples, where the postgres user can read them
mkdir -p "$DIR/app/clients" "$DIR/app/examples"
tar -C "$ROOT/clients" -cf - node | tar -C "$DIR/app/clients" -xf -
tar -C "$ROOT/examples" -cf - node | tar -C "$DIR/app/examples" -xf -
if [ ! -d "$DIR/app/clients/node/node_modules/pg" ]; then
    say "npm ci in clients/node"
    (cd "$DIR/app/clients/node" && npm ci --no-audit --no-fund --loglevel=error) >"$DIR/npm.log" 2>&1 ||
        { cat "$DIR/npm.log"; exit 1; }
fi
if [ "$(id -u)" -eq 0 ]; then
    chown -R "$RUN_USER": "$DIR"
fi

step "creating a private server in $DIR (port $PORT, unix socket only)"
as_pg "$PG_BIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >"$DIR/initdb.log" 2>&1 ||
    { cat "$DIR/initdb.log"; exit 1; }
cat >>"$DATA/postgresql.conf" <<CONF

# duroxide Node.js examples
listen_addresses = ''
unix_socket_directories = '$DIR'
port = $PORT
shared_preload_libraries = 'duroxide'
duroxide.database = '$DB'
CONF
STARTED=1
as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
as_pg "$PG_BIN/createdb" -h "$DIR" -p "$PORT" -U postgres "$DB"
dpsql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d "$DB" "$@"; }
dpsql -c 'CREATE EXTENSION duroxide'
PGOPTIONS='-c client_min_messages=warning' dpsql < "$ROOT/examples/approval.sql" >/dev/null
PGOPTIONS='-c client_min_messages=warning' dpsql < "$ROOT/examples/node/fanout.sql" >/dev/null
say "loaded examples/approval.sql and examples/node/fanout.sql"
for _ in $(seq 1 300); do
    [ "$(dpsql -t -A -c 'SELECT duroxide._workers_running()')" = t ] && break
    sleep 0.1
done

# node-postgres reads the libpq variables
export PGHOST="$DIR" PGPORT="$PORT" PGDATABASE="$DB" PGUSER=postgres

step "1. ApprovalWorkflow driven from Node.js (examples/node/approval.js)"
(cd "$DIR/app" && as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE="$PGDATABASE" PGUSER="$PGUSER" \
    node examples/node/approval.js)

step "2. fan-out with JavaScript activities calling a local HTTP service (examples/node/fanout.js)"
(cd "$DIR/app" && as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE="$PGDATABASE" PGUSER="$PGUSER" \
    node examples/node/fanout.js)

OK=1
step "NODE EXAMPLES OK"
