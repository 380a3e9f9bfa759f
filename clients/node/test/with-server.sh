#!/usr/bin/env bash
# clients/node/test/with-server.sh -- run a command against a temporary
# PostgreSQL server with duroxide preloaded.
#
#   bash test/with-server.sh node --test test/        (from clients/node)
#
# initdb in a fresh directory (under $NODE_TEST_TMP, default $TMPDIR or
# /tmp), the settings of test/duroxide_test.conf of the repository
# (shared_preload_libraries = 'duroxide', duroxide.database =
# 'contrib_regression', ...), a unix socket in that directory only (no TCP),
# on a free port; creates the database contrib_regression with the
# extension, exports DUROXIDE_TEST_HOST / _PORT / _DB / _USER, runs the
# command, and stops the server and removes the directory whatever happens
# (NODE_TEST_KEEP=1 keeps it).  Exit status: the command's.
#
# PostgreSQL refuses to run as root: run it as the postgres OS user (as root
# it re-runs itself with runuser -u postgres).
#
# Environment:
#   PG_CONFIG        the PostgreSQL whose binaries are used (default: 15's)
#   NODE_TEST_PORT   first port to try (default 55410)
#   NODE_TEST_TMP    where the server directory goes
#   NODE_TEST_KEEP=1 keep the directory
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
if [ "$(id -u)" -eq 0 ]; then
    exec runuser -u postgres -- env HOME=/tmp bash "${BASH_SOURCE[0]}" "$@"
fi
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
BIN="$("$PG_CONFIG" --bindir)"
CONF="$ROOT/test/duroxide_test.conf"
DB=contrib_regression

DIR="$(mktemp -d "${NODE_TEST_TMP:-${TMPDIR:-/tmp}}/duroxide-node.XXXXXX")"
DATA="$DIR/data"
LOG="$DIR/server.log"
STARTED=0

say() { printf 'with-server: %s\n' "$*" >&2; }

# stop the server (fast, then immediate) and remove the directory
stop_server() {
    if [ "$STARTED" = 1 ]; then
        "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            "$BIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
        STARTED=0
    fi
    if [ "${NODE_TEST_KEEP:-0}" = 1 ]; then
        say "server directory kept in $DIR"
    else
        rm -rf "$DIR"
    fi
}
trap stop_server EXIT
trap 'say interrupted; exit 130' INT TERM

if ! "$BIN/initdb" -D "$DATA" -A trust -U postgres --no-sync -E UTF8 --locale=C >"$DIR/initdb.log" 2>&1; then
    say "initdb failed:"; cat "$DIR/initdb.log" >&2; exit 1
fi
{
    cat "$CONF"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$DIR'"
    echo "fsync = off"
    echo "max_connections = 100"
    echo "log_line_prefix = '%m [%p] %a '"
} >> "$DATA/postgresql.conf"

# a port whose socket file is free in $DIR (always, it is new) and not in use
# on the loopback interface either, so that a mistake cannot reach another server
port="${NODE_TEST_PORT:-55410}"
for _ in $(seq 1 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    port=$((port + 1))
done
echo "port = $port" >> "$DATA/postgresql.conf"

if ! "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1; then
    say "the server did not start:"; tail -n 40 "$LOG" >&2; exit 1
fi
STARTED=1
if ! "$BIN/psql" -X -q -h "$DIR" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE $DB" >/dev/null ||
   ! "$BIN/psql" -X -q -h "$DIR" -p "$port" -U postgres -d "$DB" -v ON_ERROR_STOP=1 \
        -c "CREATE EXTENSION duroxide" >/dev/null; then
    say "creating the database failed"; tail -n 40 "$LOG" >&2; exit 1
fi
say "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') with duroxide on $DIR port $port"

export DUROXIDE_TEST_HOST="$DIR" DUROXIDE_TEST_PORT="$port" DUROXIDE_TEST_DB="$DB" DUROXIDE_TEST_USER=postgres
export DUROXIDE_TEST_LOG="$LOG"
"$@"
rc=$?
if [ "$rc" -ne 0 ]; then
    say "the command exited $rc; last lines of the server log:"
    grep -E '(ERROR|FATAL|PANIC|WARNING):' "$LOG" | tail -n 30 >&2
fi
exit "$rc"
