#!/usr/bin/env bash
# scripts/demo.sh -- the demo: two example workflows on a private server.
#
#   bash scripts/demo.sh [DIAGRAM_FILE]
#
# Builds and installs duroxide (scripts/setup.sh), creates a throw-away
# PostgreSQL 15 cluster in a temporary directory (unix socket only, in that
# directory; run as the `postgres` OS user when started as root) with
# duroxide preloaded, and runs:
#   1. examples/hello.sql     HelloWorkflow('hello-1', {"name": "World"})
#                             -> "Hello, World!"
#   2. examples/approval.sql  ApprovalWorkflow, approved by an event raised
#                             from another session -> decision "approved";
#                             and one nobody approves -> "timed_out"
#   3. duroxide.history_diagram('approval-1'): the approved run as an SVG
#      timeline, written to DIAGRAM_FILE (the first argument; default a new
#      file in $TMPDIR or /tmp), whose path the demo prints.  The README's
#      picture, docs/img/approval.svg, is this file:
#        bash scripts/demo.sh docs/img/approval.svg
# The server is stopped and the directory removed on exit, whatever happens.
# Exits non-zero if any output is not the expected one.
#
# Environment: DEMO_PORT (default 5499), KEEP_DEMO=1 keeps the directory,
# PG_CONFIG (default PostgreSQL 15's) the installation to build into and run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
export PG_CONFIG
PG_BIN="$("$PG_CONFIG" --bindir)"
# where the diagram goes: made absolute now, before anything changes directory
DIAGRAM_FILE="${1:-}"
if [ -n "$DIAGRAM_FILE" ]; then
    case "$DIAGRAM_FILE" in /*) ;; *) DIAGRAM_FILE="$PWD/$DIAGRAM_FILE" ;; esac
    [ -d "$(dirname "$DIAGRAM_FILE")" ] || { echo "no directory for $DIAGRAM_FILE"; exit 1; }
fi
PORT="${DEMO_PORT:-5499}"
DB=duroxide_demo
RUN_USER=postgres

export LANG=C.UTF-8
unset LC_ALL PGHOST PGPORT PGDATABASE PGUSER PGOPTIONS PGSERVICE PGDATA

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

bash "$ROOT/scripts/setup.sh"

DEMO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/duroxide-demo.XXXXXX")"
DATA="$DEMO_DIR/data"
LOG="$DEMO_DIR/server.log"
STARTED=0
OK=0
if [ "$(id -u)" -eq 0 ]; then
    chown "$RUN_USER": "$DEMO_DIR"
fi

# always stop the server and clean up; show the server log if the demo failed
finish() {
    local rc=$?
    if [ "$STARTED" = 1 ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$OK" != 1 ] && [ -s "$LOG" ]; then
        printf '\n---- server log (last 60 lines) ----\n'
        tail -n 60 "$LOG"
    fi
    if [ "${KEEP_DEMO:-0}" = 1 ]; then
        say "demo files kept in $DEMO_DIR"
    else
        rm -rf "$DEMO_DIR"
    fi
    if [ "$OK" != 1 ]; then
        printf '\nDEMO FAILED\n'
        [ "$rc" -ne 0 ] || rc=1
    fi
    exit "$rc"
}
trap finish EXIT

# psql on the demo database: quiet, stop at the first error
dpsql() {
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO_DIR" -p "$PORT" -U postgres -d "$DB" "$@"
}

# a single value
value() {
    dpsql -t -A -c "$1"
}

# show a statement, then run it (its result is not shown)
run() {
    printf '  sql> %s\n' "$(tr -s ' \n' ' ' <<< "$1" | sed 's/ $//')"
    dpsql -o /dev/null -c "$1"
}

# fail with a message
fail() {
    say "unexpected: $*"
    exit 1
}

step "creating a private server in $DEMO_DIR (port $PORT, unix socket only)"
as_pg "$PG_BIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >"$DEMO_DIR/initdb.log" 2>&1 ||
    { cat "$DEMO_DIR/initdb.log"; exit 1; }
cat >>"$DATA/postgresql.conf" <<EOF

# duroxide demo
listen_addresses = ''
unix_socket_directories = '$DEMO_DIR'
port = $PORT
shared_preload_libraries = 'duroxide'
duroxide.database = '$DB'
EOF
STARTED=1
as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
as_pg "$PG_BIN/createdb" -h "$DEMO_DIR" -p "$PORT" -U postgres "$DB"
dpsql -c 'CREATE EXTENSION duroxide'
# fed on stdin: the checkout need not be readable by the postgres user
PGOPTIONS='-c client_min_messages=warning' dpsql < "$ROOT/examples/hello.sql" >/dev/null
PGOPTIONS='-c client_min_messages=warning' dpsql < "$ROOT/examples/approval.sql" >/dev/null
say "loaded examples/hello.sql and examples/approval.sql"

# the workers start with the server and wait for CREATE EXTENSION; wait
# (at most 30 s) until they are attached, so that the first start does
# not warn that no worker runs yet
for _ in $(seq 1 300); do
    [ "$(value 'SELECT duroxide._workers_running()')" = t ] && break
    sleep 0.1
done
[ "$(value 'SELECT duroxide._workers_running()')" = t ] || fail "the duroxide workers did not start"
say "the duroxide workers run"

# ---------------------------------------------------------------------------
step "1. HelloWorkflow"
run "SELECT duroxide.start_orchestration('hello-1', 'HelloWorkflow', '{\"name\": \"World\"}')"
hello="$(value "SELECT output #>> '{}' FROM duroxide.wait_for_orchestration('hello-1', 30000)")"
dpsql -c "SELECT instance_id, status, output FROM duroxide.get_orchestration_status('hello-1')"
[ "$hello" = "Hello, World!" ] || fail "hello-1 output is '$hello', not 'Hello, World!'"
say "hello-1 says: $hello"

# ---------------------------------------------------------------------------
step "2. ApprovalWorkflow, approved from another session"
run "SELECT duroxide.start_orchestration('approval-1', 'ApprovalWorkflow',
            '{\"requester\": \"alice\", \"item\": \"new laptop\", \"timeout_ms\": 60000}')"

# wait until the workflow has recorded the request and waits for a decision
# (it says so in its custom status)
state=""
for _ in $(seq 1 300); do
    state="$(value "SELECT custom_status->>'state' FROM duroxide.get_orchestration_status('approval-1')")"
    [ "$state" = awaiting_approval ] && break
    sleep 0.1
done
[ "$state" = awaiting_approval ] || fail "approval-1 never reached awaiting_approval (state '$state')"
dpsql -c "SELECT instance_id, status, custom_status FROM duroxide.get_orchestration_status('approval-1')"

say "bob approves, in his own session:"
run "SELECT duroxide.raise_event('approval-1', 'approval', '{\"approved\": true, \"by\": \"bob\"}')"

approval="$(value "SELECT output FROM duroxide.wait_for_orchestration('approval-1', 30000)")"
say "approval-1 output: $approval"
[ "$(value "SELECT '$approval'::jsonb->>'decision'")" = approved ] ||
    fail "approval-1 decision is not approved: $approval"
[ "$(value "SELECT '$approval'::jsonb->>'by'")" = bob ] ||
    fail "approval-1 was not approved by bob: $approval"

# ---------------------------------------------------------------------------
step "3. approval-1 as a picture: duroxide.history_diagram"
[ "$(value "SELECT xml_is_well_formed_document(duroxide.history_diagram('approval-1'))")" = t ] ||
    fail "the diagram of approval-1 is not a well-formed XML document"
[ -n "$DIAGRAM_FILE" ] || DIAGRAM_FILE="$(mktemp --suffix=.svg "${TMPDIR:-/tmp}/duroxide-approval-1.XXXXXX")"
printf '%s\n' "$(value "SELECT duroxide.history_diagram('approval-1')")" > "$DIAGRAM_FILE"
say "approval-1 as a Mermaid gantt chart (duroxide.history_diagram('approval-1', 'mermaid')):"
value "SELECT duroxide.history_diagram('approval-1', 'mermaid')" | sed '/^$/d; s/^/  /'
say "the SVG timeline of approval-1 is in $DIAGRAM_FILE"

# ---------------------------------------------------------------------------
step "4. ApprovalWorkflow, nobody answers within 2 seconds"
run "SELECT duroxide.start_orchestration('approval-2', 'ApprovalWorkflow',
            '{\"requester\": \"carol\", \"item\": \"standing desk\", \"timeout_ms\": 2000}')"
timed_out="$(value "SELECT output FROM duroxide.wait_for_orchestration('approval-2', 30000)")"
say "approval-2 output: $timed_out"
[ "$(value "SELECT '$timed_out'::jsonb->>'decision'")" = timed_out ] ||
    fail "approval-2 decision is not timed_out: $timed_out"

step "the requests table, written only by activities"
dpsql -c "SELECT id, instance_id, requester, item, status, decided_by FROM duroxide_examples.requests ORDER BY id"
[ "$(value "SELECT string_agg(instance_id || '=' || status, ',' ORDER BY id) FROM duroxide_examples.requests")" = \
  "approval-1=approved,approval-2=timed_out" ] || fail "the requests table does not hold the decisions"

OK=1
step "DEMO OK: hello-1 said \"$hello\", approval-1 was approved by bob (diagram: $DIAGRAM_FILE), approval-2 timed out"
