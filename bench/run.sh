#!/usr/bin/env bash
# bench/run.sh -- duroxide throughput / latency benchmark (see bench/README.md)
#
#   sudo bench/run.sh             full run (about 8 minutes on 2 cores)
#   sudo bench/run.sh --quick     short smoke run: small counts
#   sudo bench/run.sh --no-peers  without the DBOS peer
#   sudo bench/run.sh --help      all options
#
# Runs as root and uses `runuser -u postgres` for everything PostgreSQL
# (initdb, pg_ctl, psql, pgbench refuse root).  It builds the extension from
# a snapshot of this checkout into a private copy of the installed
# PostgreSQL 15 (or, with --system, installs it into the system one),
# initdb's a private cluster in a temporary directory (unix socket only,
# default settings except the duroxide ones), runs pgbench -N for a
# same-instance TPS baseline, the idle Hello latency test and the throughput
# scenarios, the same scenarios on the DBOS Transact peer (bench/peers/dbos,
# database dbos of the same instance), the replay cost and the FanSlow
# ratios, prints the summary tables, and always stops the server and
# removes the temporary directory.  The printed output and the server log are
# kept in bench/results/<timestamp>/.
#
# The benchmark is not a test: it fails only when an instance does not end
# Completed with the expected output (or the harness itself breaks), never
# because a target is missed.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"

# ---------------------------------------------------------------- options
ALL_SCENARIOS="tps,latency,hello,hellobatch,chain10,chain100,chain1000,fan100,fanslow,backlog,memory"
QUICK=0
BUILD=1
SYSTEM=0
KEEP=0
PROGRESS=0
STATEMENTS=0
REV=""
BATCH=1
SCENARIOS="$ALL_SCENARIOS"
CLIENTS=8                   # as many sessions as the pgbench -N baseline (-c 8)
TIMEOUT=600             # seconds one scenario may take before it is failed
ORCH_CONC=2
WORKER_CONC=2
HELLO_BATCH=20              # starts per transaction in the HelloBatch scenario
PEERS=1                     # run the DBOS peer (bench/peers/dbos) too
PEER_TCP=0                  # the peer connects over 127.0.0.1 instead of the unix socket
DBOS_POOL=""                # DBOS systemDatabasePoolSize ("" = the SDK's default, 10)

usage() {
    cat <<EOF
usage: $0 [options]
  --quick               short smoke run (small counts, pgbench -T 3)
  --scenarios LIST      comma-separated subset of:
                        $ALL_SCENARIOS
                        (default: all; ratios need tps)
  --clients N           starter and waiter sessions per scenario (default $CLIENTS)
  --batch K             starts per starter transaction (default $BATCH: one
                        start_orchestration per transaction)
  --hello-batch K       starts per transaction in the HelloBatch scenario
                        (default $HELLO_BATCH)
  --no-peers            do not run the DBOS peer (bench/peers/dbos)
  --peer-tcp            the peer connects over TCP (the instance then also
                        listens on 127.0.0.1) instead of the unix socket
  --dbos-pool N         the peer's systemDatabasePoolSize (default: the SDK's, 10)
  --orchestration-concurrency N   duroxide.orchestration_concurrency (default $ORCH_CONC)
  --worker-concurrency N          duroxide.worker_concurrency (default $WORKER_CONC)
  --timeout SEC         per-scenario limit before it counts as failed (default $TIMEOUT)
  --rev REV             build the extension from git revision REV of this
                        checkout (git archive) instead of the working tree
  --system              build and install into the system PostgreSQL
                        (make -C .. install) and run the system binaries,
                        instead of the private copy (see README)
  --no-build            with --system: use the installed extension as it is
  --progress            sample queue depths (1 s) and the engine processes'
                        wait events (20 ms) during each scenario; prints a
                        wait profile per scenario, keeps the samples in the
                        results directory (adds a little load)
  --statements          also preload pg_stat_statements (track = all) and
                        print each scenario's top statements by total time:
                        an SQL-level profile of the engine (adds overhead)
  --keep                keep the temporary cluster directory
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --scenarios) SCENARIOS="$2"; shift ;;
        --clients) CLIENTS="$2"; shift ;;
        --batch) BATCH="$2"; shift ;;
        --hello-batch) HELLO_BATCH="$2"; shift ;;
        --no-peers) PEERS=0 ;;
        --peer-tcp) PEER_TCP=1 ;;
        --dbos-pool) DBOS_POOL="$2"; shift ;;
        --orchestration-concurrency) ORCH_CONC="$2"; shift ;;
        --worker-concurrency) WORKER_CONC="$2"; shift ;;
        --timeout) TIMEOUT="$2"; shift ;;
        --system) SYSTEM=1 ;;
        --rev) REV="$2"; shift ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP=1 ;;
        --progress) PROGRESS=1 ;;
        --statements) STATEMENTS=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
SCENARIOS="$(echo ",$SCENARIOS," | sed 's/,hello500,/,hello,/g; s/^,//; s/,$//')"    # the old name
for s in ${SCENARIOS//,/ }; do
    case ",$ALL_SCENARIOS," in
        *",$s,"*) ;;
        *) echo "run.sh: unknown scenario $s (known: $ALL_SCENARIOS)" >&2; exit 2 ;;
    esac
done
want() { case ",$SCENARIOS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# counts: full / quick
if [ "$QUICK" = 1 ]; then
    N_HELLO=200; N_HELLOBATCH=200; N_BACKLOG=1000; N_CHAIN10=20; N_CHAIN100=4; N_CHAIN1000=1
    N_FAN100=10; N_LATENCY=50; N_MEMORY=2000; PGBENCH_T=3
    N_BURST=200; N_FANSLOW_REPS=1
else
    N_HELLO=5000; N_HELLOBATCH=5000; N_BACKLOG=10000; N_CHAIN10=500; N_CHAIN100=50; N_CHAIN1000=4
    N_FAN100=100; N_LATENCY=200; N_MEMORY=100000; PGBENCH_T=15
    N_BURST=200; N_FANSLOW_REPS=5
fi
SLOW_SECONDS=0.2            # one FanSlow activity (pg_sleep)

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: run as root (it uses runuser -u postgres for the PostgreSQL tools)" >&2
    exit 2
fi
if [ ! -x "$PG_CONFIG" ]; then
    echo "run.sh: $PG_CONFIG not found (install postgresql-server-dev-15, see scripts/setup.sh)" >&2
    exit 2
fi
SYS_BINDIR="$("$PG_CONFIG" --bindir)"
SYS_PKGLIBDIR="$("$PG_CONFIG" --pkglibdir)"
SYS_SHAREDIR="$("$PG_CONFIG" --sharedir)"

# ---------------------------------------------------------------- output
STAMP="$(date +%Y%m%d-%H%M%S)-$$"
RESULTS="$BENCH_DIR/results/$STAMP"
mkdir -p "$RESULTS"
exec > >(tee "$RESULTS/output.txt") 2>&1

say() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*"; }
now() { date +%s.%N; }
# awk arithmetic: calc 'printf "%.1f", 1 / 3' or calc 'exit !(1 < 2)'
# (in awk, a bare > inside print/printf redirects: parenthesise comparisons)
calc() { awk "BEGIN { $1 }"; }

# ---------------------------------------------------------------- cluster
TMP="$(mktemp -d /tmp/duroxide-bench.XXXXXX)"
chown postgres: "$TMP"
chmod 700 "$TMP"
PGDATA="$TMP/data"
LOG="$TMP/server.log"
SERVER_UP=0
BG_PIDS=()
SAMPLER_PIDS=()

# a port nobody listens on (the socket lives in $TMP anyway); BENCH_PORT
# in the environment picks it instead
PORT="${BENCH_PORT:-}"
for _ in $( [ -n "$PORT" ] || seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! ss -Hlnx 2>/dev/null | grep -q "\.s\.PGSQL\.$p\b" && ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
        PORT=$p; break
    fi
done
[ -n "$PORT" ] || { echo "run.sh: no free port found" >&2; exit 1; }

as_pg() { (cd "$TMP" && runuser -u postgres -- env PGHOST="$TMP" PGPORT="$PORT" PGUSER=postgres "$@"); }
psql_bench() { as_pg "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d bench "$@"; }
q() { psql_bench -c "$1"; }

cleanup() {
    local rc=$?
    set +e
    for pid in "${BG_PIDS[@]}" "${SAMPLER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    if [ "$SERVER_UP" = 1 ]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
            || as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1
    fi
    [ -f "$LOG" ] && cp "$LOG" "$RESULTS/server.log"
    if [ "$KEEP" = 1 ]; then
        echo "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM
trap 'echo "run.sh: line $LINENO: command failed (exit $?)" >&2' ERR

say "duroxide benchmark ($([ "$QUICK" = 1 ] && echo quick || echo full)); results in $RESULTS"

# Source identity, printed so that a result can be traced to the code
if [ -n "$REV" ]; then
    SRC_ID="$(git -C "$ROOT" rev-parse --short "$REV^{commit}")" || { echo "run.sh: no git revision $REV" >&2; exit 2; }
    SRC_ID="$SRC_ID (--rev $REV)"
else
    SRC_ID="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    SRC_DIRTY="$( (git -C "$ROOT" status --porcelain -- src Makefile duroxide.control 2>/dev/null || true) | wc -l)"
    [ "$SRC_DIRTY" = 0 ] || SRC_ID="$SRC_ID + $SRC_DIRTY uncommitted source files"
fi

[ "$SYSTEM" = 1 ] && [ "$BUILD" = 0 ] && SRC_ID="unknown (--system --no-build: the installed library as found)"
if [ "$SYSTEM" = 1 ] && [ -n "$REV" ]; then
    echo "run.sh: --rev works with the private build only (not with --system)" >&2
    exit 2
fi
if [ "$SYSTEM" = 1 ]; then
    PGBIN="$SYS_BINDIR"
    PKGLIBDIR="$SYS_PKGLIBDIR"
    if [ "$BUILD" = 1 ]; then
        say "building and installing the extension from $ROOT into the system PostgreSQL"
        if ! make -C "$ROOT" -j"$(nproc)" install PG_CONFIG="$PG_CONFIG" >"$RESULTS/build.log" 2>&1; then
            tail -n 40 "$RESULTS/build.log"
            echo "run.sh: build failed (log: $RESULTS/build.log)" >&2
            exit 1
        fi
    fi
else
    # A private PostgreSQL: a copy of the installed server (it finds its lib
    # and share directories relative to its binary) with the extension built
    # from a snapshot of this checkout installed into it.  Builds and
    # installs by others, in this tree or into the system, cannot change
    # what is measured.
    say "building the extension from $([ -n "$REV" ] && echo "revision $REV" || echo "a snapshot of the working tree") of $ROOT into a private copy of PostgreSQL"
    mkdir -p "$TMP/build" "$TMP/pg$(dirname "$SYS_BINDIR")" "$TMP/pg$(dirname "$SYS_SHAREDIR")"
    if [ -n "$REV" ]; then
        git -C "$ROOT" archive "$REV" Makefile duroxide.control src | tar -x -C "$TMP/build"
    else
        cp -a "$ROOT/Makefile" "$ROOT/duroxide.control" "$ROOT/src" "$TMP/build/"
        rm -f "$TMP/build/src/"*.o "$TMP/build/src/"*.bc "$TMP/build/"*.so
    fi
    cp -a "$(dirname "$SYS_BINDIR")/." "$TMP/pg$(dirname "$SYS_BINDIR")/"
    cp -a "$SYS_SHAREDIR" "$TMP/pg$(dirname "$SYS_SHAREDIR")/"
    if ! make -C "$TMP/build" -j"$(nproc)" install DESTDIR="$TMP/pg" PG_CONFIG="$PG_CONFIG" >"$RESULTS/build.log" 2>&1; then
        tail -n 40 "$RESULTS/build.log"
        echo "run.sh: build failed (log: $RESULTS/build.log)" >&2
        exit 1
    fi
    PGBIN="$TMP/pg$SYS_BINDIR"
    PKGLIBDIR="$TMP/pg$SYS_PKGLIBDIR"
    chown -R postgres: "$TMP/pg"
fi

say "initdb (port $PORT, socket in $TMP)"
as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-sync >"$TMP/initdb.log" 2>&1 \
    || { cat "$TMP/initdb.log"; exit 1; }
cat >>"$PGDATA/postgresql.conf" <<EOF

# ---- bench/run.sh: defaults except these
listen_addresses = '$([ "$PEERS" = 1 ] && [ "$PEER_TCP" = 1 ] && echo 127.0.0.1)'
unix_socket_directories = '$TMP'
port = $PORT
synchronous_commit = on
shared_preload_libraries = '$([ "$STATEMENTS" = 1 ] && echo 'duroxide, pg_stat_statements' || echo duroxide)'
$([ "$STATEMENTS" = 1 ] && printf '%s\n' "pg_stat_statements.track = all" "pg_stat_statements.max = 1000")
duroxide.database = 'bench'
duroxide.orchestration_concurrency = $ORCH_CONC
duroxide.worker_concurrency = $WORKER_CONC
EOF
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t 60 start >/dev/null
SERVER_UP=1

LIB_MD5="$(md5sum "$PKGLIBDIR/duroxide.so" | cut -c1-12)"
say "server $(as_pg "$PGBIN/psql" -X -qAt -d postgres -c 'SHOW server_version'), $(nproc) CPUs"
say "extension: source $SRC_ID, library $PKGLIBDIR/duroxide.so (md5 $LIB_MD5)"
# how busy the machine is without us (the benchmark wants it idle)
cpu_busy() {    # percent of all CPUs busy over the next second
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        busy = y[1] - x[1]; idle = y[2] - x[2]; t = busy + idle; p = 0; if (t > 0) p = 100 * busy / t; printf "%.0f", p }'
}
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY_START="$(cpu_busy)"
say "before the run: CPUs ${BUSY_START}% busy, load average $LOAD_START"
if [ "$BUSY_START" -gt 10 ]; then
    say "WARNING: the machine is not idle (${BUSY_START}% CPU busy without the benchmark): expect noisy numbers"
fi

as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE bench' -c 'CREATE DATABASE pgbench'
psql_bench -c 'CREATE EXTENSION duroxide'
[ "$STATEMENTS" = 1 ] && psql_bench -c 'CREATE EXTENSION pg_stat_statements'
psql_bench -f - <"$BENCH_DIR/workload.sql" >/dev/null

# the workers poll for the extension: wait for them, then one Hello round trip
say "waiting for the duroxide workers"
deadline=$(( $(date +%s) + 60 ))
while :; do
    n=$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('duroxide dispatcher', 'duroxide activity worker')")
    [ "$n" -ge $(( ORCH_CONC + WORKER_CONC )) ] && break
    if [ "$(date +%s)" -gt "$deadline" ]; then
        echo "run.sh: only $n duroxide workers after 60 s" >&2
        exit 1
    fi
    sleep 0.2
done
q "SELECT duroxide.start_orchestration('warmup', 'Hello', '\"warmup\"')" >/dev/null
st=$(q "SELECT status FROM duroxide.wait_for_orchestration('warmup', 60000)")
[ "$st" = Completed ] || { echo "run.sh: warm-up Hello ended $st" >&2; exit 1; }

# ---------------------------------------------------------------- DBOS peer
# bench/peers/dbos: DBOS Transact (its package-lock.json pins the SDK),
# installed with `npm ci` into a copy in $TMP and run as postgres, one node
# process per scenario, against database dbos of this instance.
PEER_NOTE="skipped (--no-peers)"
if [ "$PEERS" = 1 ]; then
    PEER_SRC="$BENCH_DIR/peers/dbos"
    PEER_DIR="$TMP/peer-dbos"
    node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null; then
        PEERS=0
        PEER_NOTE="skipped: Node.js >= 20 and npm are needed (found: $(node --version 2>/dev/null || echo none))"
        say "DBOS peer $PEER_NOTE"
    else
        mkdir -p "$PEER_DIR"
        cp -a "$PEER_SRC/package.json" "$PEER_SRC/package-lock.json" "$PEER_SRC/bench.js" "$PEER_DIR/"
        say "DBOS peer: npm ci in $PEER_DIR"
        if ! (cd "$PEER_DIR" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) >"$RESULTS/peer-npm.log" 2>&1; then
            tail -n 20 "$RESULTS/peer-npm.log"
            echo "run.sh: npm ci for the DBOS peer failed (log: $RESULTS/peer-npm.log; --no-peers skips the peer)" >&2
            exit 1
        fi
        chown -R postgres: "$PEER_DIR"
        DBOS_VERSION=$(node -p "require('$PEER_DIR/node_modules/@dbos-inc/dbos-sdk/package.json').version")
        if [ "$PEER_TCP" = 1 ]; then
            DBOS_URL="postgresql://postgres@127.0.0.1:$PORT/dbos?sslmode=disable"
            PEER_TRANSPORT="TCP 127.0.0.1:$PORT"
        else
            # pg takes a socket directory from the host parameter; the URL's
            # host name is required by the SDK but not used
            DBOS_URL="postgresql://postgres@localhost:$PORT/dbos?host=$TMP"
            PEER_TRANSPORT="unix socket, like the pgbench sessions"
        fi
        as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE dbos'
        PEER_NOTE="DBOS Transact $DBOS_VERSION (@dbos-inc/dbos-sdk), Node $(node --version), one process per scenario"
        PEER_NOTE="$PEER_NOTE, $CLIENTS starters, pool ${DBOS_POOL:-10}$([ -n "$DBOS_POOL" ] || echo " (SDK default)")"
        PEER_NOTE="$PEER_NOTE, $PEER_TRANSPORT, database dbos"
        # launch once (creates the dbos schema), and a warm-up like ours
        say "DBOS peer: warm-up (schema migration, 10 Hello)"
        peer_node() { as_pg node --no-deprecation "$PEER_DIR/bench.js" --url "$DBOS_URL" --starters "$CLIENTS" \
                          --timeout "$TIMEOUT" ${DBOS_POOL:+--pool "$DBOS_POOL"} "$@"; }
        peer_node --scenario Hello --count 10 --prefix d-warmup >"$TMP/peer-warmup.out" 2>"$TMP/peer-warmup.err" \
            || { cat "$TMP/peer-warmup.out" "$TMP/peer-warmup.err"; echo "run.sh: DBOS peer warm-up failed" >&2; exit 1; }
    fi
fi

# ---------------------------------------------------------------- peer runs
PEER_ROWS=()        # label|instances|seconds|orch/s|act/s|ok|note, like ROWS
PEER_LAT_MED=""; PEER_LAT_P95=""; PEER_LAT_MAX=""
# jget KEY FILE: a number (or null) from the peer's one-line JSON output
jget() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$2" | head -n 1; }
# peer_check PREFIX SCENARIO PARAM COUNT: "exist|success|right output|step rows|right step rows"
# from the DBOS tables: every workflow SUCCESS with the expected output (the
# SDK's superjson envelope {"json": value, ...}), every step recorded once
# with the expected output (Hello: its input; Chain, Fan: step k returns k,
# k = function_id + 1)
peer_check() {
    local prefix="$1" scen="$2" param="$3" count="$4"
    as_pg "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d dbos -c "
        WITH exp AS (SELECT '$prefix-' || g AS id, g,
                            CASE '$scen' WHEN 'Fan' THEN (SELECT jsonb_agg(i ORDER BY i) FROM generate_series(1, $param) i)
                                         WHEN 'Chain' THEN to_jsonb($param) ELSE to_jsonb(g) END AS want
                       FROM generate_series(1, $count) g),
             steps AS (SELECT op.*, e.g FROM dbos.operation_outputs op JOIN exp e ON op.workflow_uuid = e.id)
        SELECT count(s.workflow_uuid),
               count(*) FILTER (WHERE s.status = 'SUCCESS'),
               count(*) FILTER (WHERE s.status = 'SUCCESS' AND (coalesce(o.output, s.output)::jsonb)->'json' = exp.want),
               (SELECT count(*) FROM steps),
               (SELECT count(*) FROM steps WHERE function_name = 'Echo' AND error IS NULL
                   AND (output::jsonb)->'json' = CASE '$scen' WHEN 'Hello' THEN to_jsonb(g) ELSE to_jsonb(function_id + 1) END)
          FROM exp LEFT JOIN dbos.workflow_status s ON s.workflow_uuid = exp.id
                   LEFT JOIN dbos.workflow_output o ON o.workflow_uuid = exp.id"
}

# run_peer LABEL SCENARIO N_PARAM COUNT ACTIVITIES_PER_INSTANCE: our
# scenario LABEL as DBOS workflows; one row in PEER_ROWS
run_peer() {
    local label="$1" scen="$2" nparam="$3" count="$4" per_inst="$5"
    local prefix="d-$label" out="$TMP/peer-$label.out" rc=0 secs ops aps start_secs running right wrong errors xids cpu
    [ "$PEERS" = 1 ] || return 0
    q "CHECKPOINT" >/dev/null
    say "$label (DBOS): $count x $scen$([ "$scen" = Hello ] || echo " n=$nparam"), $CLIENTS starters in one node process"
    peer_node --scenario "$scen" --param "$nparam" --count "$count" --prefix "$prefix" >"$out" 2>"$TMP/peer-$label.err" || rc=$?
    secs=$(jget seconds "$out"); start_secs=$(jget start_seconds "$out"); running=$(jget running_at_last_start "$out")
    right=$(jget right "$out"); wrong=$(jget wrong "$out"); errors=$(jget errors "$out")
    if [ -n "$secs" ] && calc "exit !($secs > 0)"; then
        secs=$(calc "printf \"%.3f\", $secs")
        ops=$(calc "printf \"%.1f\", $count / $secs")
        aps=$(calc "printf \"%.1f\", $count * $per_inst / $secs")
    else
        secs="-"; ops=0; aps=0
    fi
    local total success dbright steps rsteps ok=1 note
    IFS='|' read -r total success dbright steps rsteps <<<"$(peer_check "$prefix" "$scen" "$nparam" "$count")"
    note="starts took $(calc "printf \"%.2f\", ${start_secs:-0}")"
    note="$note s ($(calc "printf \"%.0f\", $count / (${start_secs:-0} > 0 ? ${start_secs:-0} : 1)") starts/s)"
    note="$note, ${running:-?} running when they ended"
    xids=$(jget write_transactions "$out")
    [ -z "$xids" ] || note="$note; $(calc "printf \"%.1f\", $xids / $count") write transactions per instance"
    cpu=$(jget cpu_seconds "$out")
    if [ -n "$cpu" ] && [ "$secs" != "-" ]; then
        note="$note; node used $(calc "printf \"%.2f\", $cpu") s of CPU ($(calc "printf \"%.0f\", 100 * $cpu / $secs")% of one core)"
    fi
    if [ "$rc" != 0 ] || [ "$right" != "$count" ] || [ "$total" != "$count" ] || [ "$dbright" != "$count" ] \
        || [ "$steps" != $(( count * per_inst )) ] || [ "$rsteps" != $(( count * per_inst )) ]; then
        ok=0; FAILED=1
        note="FAILED: node exit $rc, results right/wrong/errors ${right:-?}/${wrong:-?}/${errors:-?}; rows: $total/$count exist,"
        note="$note $success SUCCESS, $dbright right output, $rsteps/$steps/$(( count * per_inst )) right/recorded/expected steps"
        say "$label (DBOS) $note"
        sed -n 's/.*"first_error":\(.*\)}$/    first error: \1/p' "$out"
        tail -n 5 "$TMP/peer-$label.err" | sed 's/^/    stderr: /'
    fi
    say "$label (DBOS): $secs s, $ops orch/s, $aps act/s; $note"
    PEER_ROWS+=("$label|$count|$secs|$ops|$aps|$ok|$note")
}

# the peer's HelloLatency: sequential start -> result round trips in one process
run_peer_latency() {
    local out="$TMP/peer-latency.out" rc=0 right total success dbright steps rsteps
    [ "$PEERS" = 1 ] || return 0
    q "CHECKPOINT" >/dev/null
    say "latency (DBOS): $N_LATENCY sequential Hello start -> getResult round trips, one process"
    peer_node --scenario Latency --count "$N_LATENCY" --prefix d-lat >"$out" 2>"$TMP/peer-latency.err" || rc=$?
    right=$(jget right "$out")
    PEER_LAT_MED=$(calc "printf \"%.2f\", $(jget median_ms "$out" | sed 's/null/0/')")
    PEER_LAT_P95=$(calc "printf \"%.2f\", $(jget p95_ms "$out" | sed 's/null/0/')")
    PEER_LAT_MAX=$(calc "printf \"%.2f\", $(jget max_ms "$out" | sed 's/null/0/')")
    IFS='|' read -r total success dbright steps rsteps <<<"$(peer_check d-lat Hello 0 $(( N_LATENCY + 10 )))"
    if [ "$rc" != 0 ] || [ "$right" != $(( N_LATENCY + 10 )) ] || [ "$dbright" != $(( N_LATENCY + 10 )) ] \
        || [ "$rsteps" != $(( N_LATENCY + 10 )) ]; then
        say "LATENCY (DBOS) FAILED: node exit $rc, ${right:-?} right results, $dbright right rows, $rsteps right steps of $(( N_LATENCY + 10 ))"
        tail -n 5 "$TMP/peer-latency.err" | sed 's/^/    stderr: /'
        FAILED=1
        PEER_LAT_MED=""
        return 0
    fi
    say "latency (DBOS): median $PEER_LAT_MED ms, p95 $PEER_LAT_P95 ms, max $PEER_LAT_MAX ms"
}

# ---------------------------------------------------------------- memory
# "pid name VmRSS RssAnon" (kB) of every duroxide worker
worker_mem() {
    local pid name
    q "SELECT pid, replace(application_name, ' ', '_') FROM pg_stat_activity
        WHERE backend_type IN ('duroxide dispatcher', 'duroxide activity worker') ORDER BY application_name" |
    while IFS='|' read -r pid name; do
        [ -r "/proc/$pid/status" ] || continue
        awk -v pid="$pid" -v name="$name" '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 }
            END { printf "%s %s %s %s\n", pid, name, r, a }' "/proc/$pid/status"
    done
}
# rows: label orchestrations-completed-so-far then one column per process
MEM_LOG="$TMP/mem.txt"
: >"$MEM_LOG"
mem_sample() {
    local label="$1" total
    total=$(q "SELECT count(*) FROM duroxide.instances WHERE status <> 'Running'")
    worker_mem | while read -r pid name rss anon; do
        echo "$label $total $pid $name $rss $anon" >>"$MEM_LOG"
    done
}

# ---------------------------------------------------------------- results
# one row per scenario: name|instances|seconds|orch/s|act/s|ok|note
ROWS=()
declare -A CAP      # label -> "start seconds|starts/s|drain orch/s|start-bound 0/1|running at last start"
FAILED=0
TPS=""

# ---------------------------------------------------------------- pgbench baseline
if want tps; then
    say "pgbench -i -s 10 (database pgbench)"
    as_pg "$PGBIN/pgbench" -i -s 10 -q pgbench >"$TMP/pgbench-init.log" 2>&1 \
        || { cat "$TMP/pgbench-init.log"; exit 1; }
    q "CHECKPOINT" >/dev/null
    say "pgbench -N -c 8 -j 2 -T $PGBENCH_T"
    as_pg "$PGBIN/pgbench" -n -N -c 8 -j 2 -T "$PGBENCH_T" pgbench >"$TMP/pgbench.log" 2>&1 \
        || { cat "$TMP/pgbench.log"; exit 1; }
    TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$TMP/pgbench.log")
    [ -n "$TPS" ] || { cat "$TMP/pgbench.log"; echo "run.sh: no TPS in pgbench output" >&2; exit 1; }
    say "pgbench TPS = $TPS"
fi

# ---------------------------------------------------------------- latency
LAT_MED=""; LAT_P95=""
if want latency; then
    q "CHECKPOINT" >/dev/null
    cat >"$TMP/latency.sql" <<'EOF'
SELECT duroxide.start_orchestration('lat-' || nextval('bench.start_seq'), 'Hello', '"lat"'::jsonb);
SELECT status FROM duroxide.wait_for_orchestration('lat-' || currval('bench.start_seq'), 60000);
EOF
    chown postgres: "$TMP/latency.sql"
    q "SELECT setval('bench.start_seq', 1, false)" >/dev/null
    # ten unmeasured round trips (another session), then the measured ones
    as_pg "$PGBIN/pgbench" -n -c 1 -t 10 -f "$TMP/latency.sql" bench >"$TMP/latency-warm.log" 2>&1 \
        || { cat "$TMP/latency-warm.log"; exit 1; }
    sleep 1
    say "latency: $N_LATENCY sequential Hello start -> wait_for_orchestration round trips, one session"
    as_pg "$PGBIN/pgbench" -n -c 1 -t "$N_LATENCY" -f "$TMP/latency.sql" -l --log-prefix="$TMP/log-lat" bench \
        >"$TMP/latency.log" 2>&1 || { cat "$TMP/latency.log"; exit 1; }
    # field 3: transaction latency in microseconds
    cat "$TMP"/log-lat.* | awk '{print $3}' | sort -n >"$TMP/lat.sorted"
    read -r LAT_N LAT_MED LAT_P95 LAT_MAX < <(awk '{ v[NR] = $1 } END {
        m = int((NR + 1) / 2); p = int(NR * 0.95 + 0.999999); if (p < 1) p = 1;
        printf "%d %.2f %.2f %.2f\n", NR, v[m] / 1000, v[p] / 1000, v[NR] / 1000 }' "$TMP/lat.sorted")
    ok=$(q "SELECT count(*) FROM duroxide.instances WHERE instance_id LIKE 'lat-%'
              AND status = 'Completed' AND output = '\"lat\"'")
    if [ "$LAT_N" -ne "$N_LATENCY" ] || [ "$ok" -ne $(( N_LATENCY + 10 )) ]; then
        say "LATENCY FAILED: $LAT_N round trips logged, $ok of $(( N_LATENCY + 10 )) instances Completed with the right output"
        FAILED=1
    fi
    say "latency: median $LAT_MED ms, p95 $LAT_P95 ms, max $LAT_MAX ms"
    run_peer_latency
fi

# ---------------------------------------------------------------- progress samplers
# --progress: two psql sessions running \watch during a scenario
progress_start() {
    local label="$1"
    [ "$PROGRESS" = 1 ] || return 0
    printf '%s\n' "SELECT to_char(clock_timestamp(), 'HH24:MI:SS.MS'),
        (SELECT count(*) FROM duroxide.instances WHERE status = 'Running') AS running,
        (SELECT count(*) FROM duroxide.orchestrator_queue) AS orch_q,
        (SELECT count(*) FROM duroxide.worker_queue) AS work_q,
        (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker') AS autovac
        \\watch 1" |
        as_pg "$PGBIN/psql" -X -q -A -t -P pager=off -P title= -d bench >"$RESULTS/progress-$label.txt" 2>/dev/null &
    SAMPLER_PIDS+=($!)
    printf '%s\n' "SELECT to_char(clock_timestamp(), 'HH24:MI:SS.MS'), backend_type,
            CASE WHEN wait_event = 'Extension' THEN 'idle (latch wait)'
                 ELSE coalesce(wait_event_type || ':' || wait_event, CASE WHEN state = 'active' THEN 'CPU' ELSE state END) END
          FROM pg_stat_activity WHERE backend_type IN ('duroxide dispatcher', 'duroxide activity worker')
        \\watch 0.02" |
        as_pg "$PGBIN/psql" -X -q -A -t -P pager=off -P title= -d bench >"$RESULTS/waits-$label.txt" 2>/dev/null &
    SAMPLER_PIDS+=($!)
}
progress_stop() {
    local label="$1" pid
    [ "$PROGRESS" = 1 ] || return 0
    for pid in "${SAMPLER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    SAMPLER_PIDS=()
    echo "    $label wait profile (share of 20 ms samples per process kind, >= 1%; CPU = running, no wait event):"
    awk -F'|' 'NF == 3 { n[$2]++; c[$2 "|" $3]++ }
        END { for (k in c) { split(k, a, "|"); printf "%s|%s|%.1f\n", a[1], a[2], 100 * c[k] / n[a[1]] } }' \
        "$RESULTS/waits-$label.txt" | sort -t'|' -k1,1 -k3,3nr |
        awk -F'|' '$3 >= 1 { printf "      %-26s %-36s %5.1f%%\n", $1, $2, $3 }'
}

# ---------------------------------------------------------------- throughput
# run_scenario LABEL ORCHESTRATION N_PARAM COUNT ACTIVITIES_PER_INSTANCE [BATCH]
#   COUNT instances are started by $CLIENTS pgbench sessions (BATCH starts
#   per transaction, default $BATCH: one) while $CLIENTS other sessions await them in
#   id order with duroxide.wait_for_orchestration (bench.wait).  seconds =
#   from the start of the first start transaction to the return of the last
#   wait, both taken from pgbench's per-transaction logs (client clock).
run_scenario() {
    local label="$1" orch="$2" nparam="$3" count="$4" per_inst="$5" batch="${6:-$BATCH}"
    local prefix="b-$label" clients per_start per_wait jobs input t_end t_begin t_started t_backlog secs ops aps
    local rc_s=0 rc_w=0 wait_pid start_pid backlog xid0 xid1

    clients=$(( count < CLIENTS ? count : CLIENTS ))
    per_start=$(( (count + clients * batch - 1) / (clients * batch) ))
    per_wait=$(( (count + clients - 1) / clients ))
    jobs=$(( clients < 2 ? clients : 2 ))
    if [ "$orch" = Hello ]; then input="to_jsonb(n)"; else input="'{\"n\": $nparam}'::jsonb"; fi

    if [ "$batch" = 1 ]; then
        cat >"$TMP/$label-start.sql" <<EOF
SELECT duroxide.start_orchestration('$prefix-' || n, '$orch', $input) FROM nextval('bench.start_seq') n WHERE n <= $count;
EOF
    else
        cat >"$TMP/$label-start.sql" <<EOF
SELECT count(duroxide.start_orchestration('$prefix-' || n, '$orch', $input))
  FROM (SELECT nextval('bench.start_seq') AS n FROM generate_series(1, $batch)) s WHERE n <= $count;
EOF
    fi
    cat >"$TMP/$label-wait.sql" <<EOF
SELECT bench.wait('$prefix-' || w, ${TIMEOUT}000) FROM nextval('bench.wait_seq') w WHERE w <= $count;
EOF
    chown postgres: "$TMP/$label-start.sql" "$TMP/$label-wait.sql"
    q "SELECT setval('bench.start_seq', 1, false), setval('bench.wait_seq', 1, false)" >/dev/null
    q "CHECKPOINT" >/dev/null
    [ "${NO_ROW:-0}" = 1 ] || mem_sample "$label:before"

    # transaction ids assigned meanwhile = write transactions (each
    # txid_current() call takes one itself)
    xid0=$(q "SELECT txid_current()")
    say "$label: $count x $orch$([ "$orch" = Hello ] || echo " n=$nparam"), $clients starter + $clients waiter sessions$([ "$batch" = 1 ] || echo ", $batch starts per transaction")"
    as_pg "$PGBIN/pgbench" -n -c "$clients" -j "$jobs" -t "$per_wait" -f "$TMP/$label-wait.sql" \
        -l --log-prefix="$TMP/log-$label-wait" bench >"$TMP/$label-wait.log" 2>&1 &
    wait_pid=$!
    BG_PIDS+=("$wait_pid")
    progress_start "$label"
    [ "$STATEMENTS" = 1 ] && q "SELECT pg_stat_statements_reset()" >/dev/null
    # in the background so that a signal interrupts the wait at once
    as_pg "$PGBIN/pgbench" -n -c "$clients" -j "$jobs" -t "$per_start" -f "$TMP/$label-start.sql" \
        -l --log-prefix="$TMP/log-$label-start" bench >"$TMP/$label-start.log" 2>&1 &
    start_pid=$!
    BG_PIDS+=("$start_pid")
    wait "$start_pid" || rc_s=$?
    t_backlog=$(now)
    backlog=$(q "SELECT count(*) FROM duroxide.instances WHERE status = 'Running'")
    if [ "$rc_s" != 0 ]; then
        grep -m 4 -iE 'error|abort' "$TMP/$label-start.log" | sed 's/^/    starters: /'
        kill "$wait_pid" 2>/dev/null || true
    fi
    wait "$wait_pid" || rc_w=$?
    xid1=$(q "SELECT txid_current()")
    progress_stop "$label"
    if [ "$STATEMENTS" = 1 ]; then
        echo "    $label top statements by total time (all sessions; nested statements included, so times overlap):"
        q "SELECT format('      %8s ms %8s calls %8s ms/call  %s', round(total_exec_time), calls,
                         round((total_exec_time / greatest(calls, 1))::numeric, 3),
                         left(regexp_replace(query, '\s+', ' ', 'g'), 110))
             FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bench')
            ORDER BY total_exec_time DESC LIMIT 15"
    fi
    [ "${NO_ROW:-0}" = 1 ] || mem_sample "$label:after"

    # first start began: min(end - latency); last start / last wait returned: max(end)
    t_begin=$(cat "$TMP/log-$label-start".* | awk 'NR == 1 || $5 + $6 / 1e6 - $3 / 1e6 < m { m = $5 + $6 / 1e6 - $3 / 1e6 }
                                                   END { printf "%.6f", m }')
    t_started=$(cat "$TMP/log-$label-start".* | awk '{ t = $5 + $6 / 1e6; if (t > m) m = t } END { printf "%.6f", m }')
    t_end=$(cat "$TMP/log-$label-wait".* 2>/dev/null | awk '{ t = $5 + $6 / 1e6; if (t > m) m = t } END { printf "%.6f", m }')
    secs=$(calc "printf \"%.3f\", $t_end - $t_begin")
    if calc "exit !($secs > 0)"; then
        ops=$(calc "printf \"%.1f\", $count / $secs")
        aps=$(calc "printf \"%.1f\", $count * $per_inst / $secs")
    else
        secs="-"; ops=0; aps=0
    fi

    # every instance Completed with the right output, every activity recorded
    local res total completed right acts
    res=$(q "WITH ids AS (SELECT '$prefix-' || g AS id FROM generate_series(1, $count) g)
             SELECT count(i.instance_id), count(*) FILTER (WHERE i.status = 'Completed'),
                    count(*) FILTER (WHERE i.status = 'Completed' AND i.output = bench.expected(i.orchestration_name, i.input)),
                    (SELECT count(*) FROM duroxide.history h JOIN ids ON h.instance_id = ids.id
                      WHERE h.event_type = 'ActivityCompleted')
               FROM ids LEFT JOIN duroxide.instances i ON i.instance_id = ids.id")
    IFS='|' read -r total completed right acts <<<"$res"

    local ok=1 note start_secs start_rate="" drain="" bound=0
    start_secs=$(calc "printf \"%.2f\", $t_started - $t_begin")
    note="starts took $start_secs s"
    if calc "exit !($start_secs >= 0.05)"; then
        start_rate=$(calc "printf \"%.0f\", $count / $start_secs")
        note="$note ($start_rate starts/s)"
    fi
    note="$note, $backlog running when they ended"
    if [ "$backlog" -ge 50 ] && calc "exit !($t_end > $t_backlog + 0.01)"; then
        drain=$(calc "printf \"%.0f\", $backlog / ($t_end - $t_backlog)")
        note="$note, then drained at $drain orch/s"
    fi
    note="$note; $(calc "printf \"%.1f\", ($xid1 - $xid0 - 1) / $count") write transactions per instance"
    if [ "$secs" != "-" ] && calc "exit !($t_end - $t_started <= 0.05 || $t_end - $t_started <= 0.1 * $secs)"; then
        bound=1
        note="$note; START-BOUND (the engine kept up with the starters)"
    fi
    CAP[$label]="$start_secs|$start_rate|$drain|$bound|$backlog"
    if [ "$rc_s" != 0 ] || [ "$rc_w" != 0 ] || [ "$total" != "$count" ] || [ "$right" != "$count" ] \
        || [ "$acts" != $(( count * per_inst )) ]; then
        ok=0; FAILED=1
        note="FAILED: $total/$count exist, $completed Completed, $right right output, $acts/$(( count * per_inst )) activities (starters rc $rc_s, waiters rc $rc_w)"
        say "$label $note"
        [ "$rc_w" = 0 ] || grep -m 4 -iE 'error|abort' "$TMP/$label-wait.log" | sed 's/^/    waiters: /'
        q "WITH ids AS (SELECT '$prefix-' || g AS id FROM generate_series(1, $count) g)
           SELECT coalesce(i.status, 'missing'), count(*), min(i.error)
             FROM ids LEFT JOIN duroxide.instances i ON i.instance_id = ids.id GROUP BY 1" | sed 's/^/    /'
    fi
    say "$label: $secs s, $ops orch/s, $aps act/s; $note"
    [ "${NO_ROW:-0}" = 1 ] || ROWS+=("$label|$count|$secs|$ops|$aps|$ok|$note")
}

# ---------------------------------------------------------------- replay cost
# A chain's turn k replays the k - 1 calls recorded before it, so a turn costs
# a + b*k and ChainN's time per activity is a + b*(N+1)/2.  b, in µs of this
# run's wall time per replayed durable call, two ways (README, "Replay cost"):
#   two-point: b = 2 * (p1000 - p100) / (1000 - 100), p = the rows' seconds
#              per activity;
#   fit:       least squares of y = a + b*k over every turn of Chain1000,
#              y = the interval between the history timestamps (transaction
#              start) of activity k's and k+1's ActivityScheduled, divided by
#              the number of Chain1000 instances running during it.
REPLAY_TWO=""; REPLAY_FIT=""; REPLAY_DECILES=""
replay_fit() {      # replay_fit LABEL [deciles]: "b|a|r2|cycles" over LABEL's instances,
                    # or with "deciles" the mean y of each tenth of the k range
    q "WITH ev AS (SELECT instance_id, created_at,
                          row_number() OVER (PARTITION BY instance_id ORDER BY event_id) AS k
                     FROM duroxide.history
                    WHERE instance_id LIKE 'b-$1-%' AND event_type = 'ActivityScheduled'),
            cyc AS (SELECT instance_id, k, created_at AS t0,
                           lead(created_at) OVER (PARTITION BY instance_id ORDER BY k) AS t1 FROM ev),
            life AS (SELECT instance_id, min(created_at) AS b, max(created_at) AS e
                       FROM duroxide.history WHERE instance_id LIKE 'b-$1-%' GROUP BY instance_id),
            y AS (SELECT c.k, extract(epoch FROM c.t1 - c.t0) * 1e6
                              / greatest(1, (SELECT count(*) FROM life WHERE life.b <= c.t0 AND life.e >= c.t1)) AS us
                    FROM cyc c WHERE c.t1 IS NOT NULL)
       $(if [ "${2:-}" = deciles ]; then
             echo "SELECT string_agg(m::text, ' ' ORDER BY d) FROM (SELECT width_bucket(k, 1, (SELECT max(k) + 1 FROM y), 10) AS d,
                                                                         round(avg(us)) AS m FROM y GROUP BY 1) t"
         else
             echo "SELECT round(regr_slope(us, k)::numeric, 3), round(regr_intercept(us, k)::numeric, 1),
                          round(regr_r2(us, k)::numeric, 3), count(*) FROM y"
         fi)"
}
replay_cost() {
    local p100 p1000 a100 a1000
    a100=$(row_field Chain100 5); a1000=$(row_field Chain1000 5)
    if [ -n "$a100" ] && [ -n "$a1000" ] && calc "exit !($a100 > 0 && $a1000 > 0)"; then
        p100=$(calc "printf \"%.2f\", 1e6 / $a100")
        p1000=$(calc "printf \"%.2f\", 1e6 / $a1000")
        REPLAY_TWO="$(calc "printf \"%.3f\", 2 * ($p1000 - $p100) / 900")|$p100|$p1000"
    fi
    [ -z "$a1000" ] || REPLAY_FIT="$(replay_fit Chain1000)"
    [ -z "$a1000" ] || REPLAY_DECILES="$(replay_fit Chain1000 deciles)"
    return 0
}

# ---------------------------------------------------------------- FanSlow
# After a burst of $N_BURST Hello instances (started and awaited as in the
# Hello scenario), one FanSlow instance: N activities of $SLOW_SECONDS s
# (pg_sleep); its start -> wait_for_orchestration round trip (one pgbench
# transaction, client clock, as in the latency test) against the ideal
# ceil(N / W) x $SLOW_SECONDS s, W = duroxide.worker_concurrency.
FANSLOW=()          # "N|ideal|median|min|max|runs|ok|the runs' seconds"
run_fanslow() {
    local n rep id secs list ideal ok res
    for n in 4 16; do
        list=""; ok=1
        ideal=$(calc "printf \"%.3f\", int(($n + $WORKER_CONC - 1) / $WORKER_CONC) * $SLOW_SECONDS")
        for rep in $(seq 1 "$N_FANSLOW_REPS"); do
            NO_ROW=1 run_scenario "FanSlowBurst$n-$rep" Hello 0 "$N_BURST" 1 1
            id="b-FanSlow$n-$rep"
            printf '%s\n' "SELECT duroxide.start_orchestration('$id', 'FanSlow', '{\"n\": $n, \"s\": $SLOW_SECONDS}'::jsonb);" \
                          "SELECT status FROM duroxide.wait_for_orchestration('$id', ${TIMEOUT}000);" >"$TMP/fanslow-$n-$rep.sql"
            chown postgres: "$TMP/fanslow-$n-$rep.sql"
            if ! as_pg "$PGBIN/pgbench" -n -c 1 -t 1 -f "$TMP/fanslow-$n-$rep.sql" -l --log-prefix="$TMP/log-fanslow-$n-$rep" bench \
                    >"$TMP/fanslow-$n-$rep.log" 2>&1; then
                grep -m 4 -iE 'error|abort' "$TMP/fanslow-$n-$rep.log" | sed 's/^/    /'
            fi
            secs=$(cat "$TMP/log-fanslow-$n-$rep".* 2>/dev/null | awk '{ printf "%.3f", $3 / 1e6 }')
            res=$(q "SELECT i.status = 'Completed' AND i.output = bench.expected('FanSlow', i.input)
                            AND (SELECT count(*) FROM duroxide.history h WHERE h.instance_id = i.instance_id
                                   AND h.event_type = 'ActivityCompleted') = $n
                       FROM duroxide.instances i WHERE i.instance_id = '$id'")
            if [ "$res" != t ] || [ -z "$secs" ]; then
                ok=0; FAILED=1
                say "FanSlow N=$n run $rep FAILED: $(q "SELECT coalesce(max(status || ' ' || coalesce(error, output::text)), 'missing')
                                                         FROM duroxide.instances WHERE instance_id = '$id'")"
            fi
            say "FanSlow N=$n run $rep: ${secs:-?} s (ideal $ideal s on $WORKER_CONC activity workers)"
            list="$list ${secs:-0}"
        done
        FANSLOW+=("$n|$ideal|$(printf '%s\n' $list | sort -n | awk '{ v[NR] = $1 } END {
                    printf "%.3f|%.3f|%.3f|%d", v[int((NR + 1) / 2)], v[1], v[NR], NR }')|$ok|${list# }")
    done
}

want hello      && run_scenario Hello        Hello 0    "$N_HELLO"      1
want hello      && run_peer     Hello        Hello 0    "$N_HELLO"      1
want hellobatch && run_scenario HelloBatch   Hello 0    "$N_HELLOBATCH" 1 "$HELLO_BATCH"
want chain10    && run_scenario Chain10      Chain 10   "$N_CHAIN10"    10
want chain10    && run_peer     Chain10      Chain 10   "$N_CHAIN10"    10
want chain100   && run_scenario Chain100     Chain 100  "$N_CHAIN100"   100
want chain100   && run_peer     Chain100     Chain 100  "$N_CHAIN100"   100
want chain1000  && run_scenario Chain1000    Chain 1000 "$N_CHAIN1000"  1000
want chain1000  && run_peer     Chain1000    Chain 1000 "$N_CHAIN1000"  1000
want fan100     && run_scenario Fan100       Fan   100  "$N_FAN100"     100
want fan100     && run_peer     Fan100       Fan   100  "$N_FAN100"     100
want fanslow    && run_fanslow
want backlog    && run_scenario HelloBacklog Hello 0    "$N_BACKLOG"    1
want memory     && run_scenario Memory       Hello 0    "$N_MEMORY"     1

# ---------------------------------------------------------------- report
row_field() {   # row_field LABEL FIELD#: empty (status 0) when there is no such row
    local r
    for r in "${ROWS[@]}"; do
        if [ "${r%%|*}" = "$1" ]; then echo "$r" | cut -d'|' -f"$2"; return 0; fi
    done
    return 0
}
ratio() { if [ -n "$TPS" ]; then calc "printf \"%.3f\", $1 / $TPS"; else echo "-"; fi; }
yesno() { if calc "exit !($1)"; then echo yes; else echo NO; fi; }

# dispatcher private memory growth (kB) during the memory scenario: the largest
MEM_GROWTH=""
if want memory && [ -s "$MEM_LOG" ]; then
    MEM_GROWTH=$(awk -v l=Memory '$4 ~ /dispatcher/ { split($1, a, ":"); if (a[1] != l) next;
                   if (a[2] == "before") b[$4] = $6; else if ($4 in b) { g = $6 - b[$4]; if (!seen || g > m) m = g; seen = 1 } }
                   END { if (seen) print m }' "$MEM_LOG")
fi

echo
echo "=== duroxide benchmark: $(nproc) CPUs, orchestration_concurrency=$ORCH_CONC, worker_concurrency=$WORKER_CONC," \
     "synchronous_commit=on, $CLIENTS starter + $CLIENTS waiter sessions, $BATCH start(s) per transaction"
echo "extension: source $SRC_ID, library md5 $LIB_MD5; CPUs ${BUSY_START}% busy before the run" \
     "(load average $LOAD_START; at the end $(cut -d' ' -f1-3 /proc/loadavg))"
[ -n "$TPS" ] && echo "pgbench -N -c 8 -j 2 -T $PGBENCH_T: $(calc "printf \"%.0f\", $TPS") TPS (same instance)"
[ -n "$LAT_MED" ] && echo "Hello latency (idle, $LAT_N round trips): median $LAT_MED ms, p95 $LAT_P95 ms, max $LAT_MAX ms"
echo
FMT='%-13s %9s %9s %9s %9s %8s %8s  %-36s %s\n'
printf "$FMT" scenario instances seconds orch/s act/s orch/TPS act/TPS target met?
printf "$FMT" ------------- --------- --------- --------- --------- -------- -------- ------------------------------------ ----
for r in "${ROWS[@]}"; do
    IFS='|' read -r label count secs ops aps ok note <<<"$r"
    target="-"; met="-"
    case "$label" in
        Hello)
            target="orch/s >= 0.41 x TPS"
            [ -n "$TPS" ] && met=$(yesno "$ops >= 0.41 * $TPS") ;;
        Chain10)
            target="orch/s >= 0.079 x TPS"
            [ -n "$TPS" ] && met=$(yesno "$ops >= 0.079 * $TPS") ;;
        Fan100)
            target="act/s >= 1.5 x TPS"
            [ -n "$TPS" ] && met=$(yesno "$aps >= 1.5 * $TPS") ;;
        Chain1000)
            target="act/s >= 0.25 x Chain10 act/s"
            c10=$(row_field Chain10 5)
            [ -n "$c10" ] && met=$(yesno "$aps >= 0.25 * $c10") ;;
        HelloBacklog)
            target="orch/s >= 0.8 x Hello orch/s"
            h=$(row_field Hello 4)
            [ -n "$h" ] && met=$(yesno "$ops >= 0.8 * $h") ;;
        Memory)
            if [ -n "$MEM_GROWTH" ]; then
                target="dispatcher RssAnon +${MEM_GROWTH} kB <= 1024 kB"
                met=$(yesno "$MEM_GROWTH <= 1024")
            fi ;;
    esac
    [ "$ok" = 1 ] || met="FAILED"
    printf "$FMT" "$label" "$count" "$secs" "$ops" "$aps" "$(ratio "$ops")" "$(ratio "$aps")" "$target" "$met"
done
if [ -n "$LAT_MED" ]; then
    printf "$FMT" "HelloLatency" "$LAT_N" "-" "-" "-" "-" "-" "median $LAT_MED ms <= 5 ms" "$(yesno "$LAT_MED <= 5")"
    printf "$FMT" "" "" "" "" "" "" "" "p95 $LAT_P95 ms <= 20 ms" "$(yesno "$LAT_P95 <= 20")"
fi
if [ -n "$TPS" ]; then
    echo
    echo "targets at this TPS: Hello >= $(calc "printf \"%.0f\", 0.41 * $TPS") orch/s," \
         "Chain10 >= $(calc "printf \"%.0f\", 0.079 * $TPS") orch/s, Fan100 >= $(calc "printf \"%.0f\", 1.5 * $TPS") act/s" \
         "(reference hardware: 2300, 440, 8300)"
fi
for r in "${ROWS[@]}"; do
    IFS='|' read -r label count secs ops aps ok note <<<"$r"
    echo "  $label: $note"
done

# Hello: the starters' commit rate vs what the engine does with cheap starts
if [ -n "$(row_field Hello 4)" ] || [ -n "$(row_field HelloBatch 4)" ]; then
    echo
    echo "engine capacity vs the starters (Hello):"
    for l in Hello HelloBatch HelloBacklog; do
        r_ops=$(row_field "$l" 4)
        [ -n "$r_ops" ] || continue
        IFS='|' read -r c_secs c_rate c_drain c_bound c_backlog <<<"${CAP[$l]}"
        line="$(printf '  %-13s %8s orch/s (%s x TPS); starts: %s s' "$l" "$r_ops" "$(ratio "$r_ops")" "$c_secs")"
        [ -z "$c_rate" ] || line="$line, $c_rate starts/s ($(ratio "$c_rate") x TPS)"
        line="$line; $c_backlog still running at the last start"
        [ -z "$c_drain" ] || line="$line, then drained at $c_drain orch/s ($(ratio "$c_drain") x TPS)"
        [ "$c_bound" = 0 ] || line="$line; START-BOUND: a lower bound of the engine"
        echo "$line"
    done
    [ -z "$(row_field HelloBatch 4)" ] || echo "  (HelloBatch: $HELLO_BATCH starts per starter transaction; Hello: one)"
fi

replay_cost
if [ -n "$REPLAY_TWO$REPLAY_FIT" ]; then
    echo
    echo "replay cost, µs of this run's wall time per replayed durable call (turn k of a chain costs a + b*k):"
    if [ -n "$REPLAY_TWO" ]; then
        IFS='|' read -r b p100 p1000 <<<"$REPLAY_TWO"
        echo "  two-point: Chain100 $p100 µs/activity, Chain1000 $p1000 µs/activity -> b = 2 x ($p1000 - $p100) / 900 = $b µs" \
             "(target <= 1 µs: $(yesno "$b <= 1"))"
    fi
    if [ -n "$REPLAY_FIT" ]; then
        IFS='|' read -r b a r2 ncyc <<<"$REPLAY_FIT"
        if [ -n "$b" ]; then
            echo "  fit over Chain1000's $ncyc turns (history timestamps / instances running): b = $b µs, a = $a µs, r2 = $r2" \
                 "(target <= 1 µs: $(yesno "$b <= 1")); predicts $(calc "printf \"%.1f\", $a + $b * 1001 / 2") µs/activity," \
                 "the row measured $(calc "printf \"%.1f\", 1e6 / $(row_field Chain1000 5)")"
        fi
        [ -z "$REPLAY_DECILES" ] || echo "  Chain1000's y (µs per activity) by tenth of k (k = 1-100, ..., 901-1000): $REPLAY_DECILES"
    fi
fi

if [ "${#FANSLOW[@]}" -gt 0 ]; then
    echo
    echo "FanSlow: N activities of $SLOW_SECONDS s right after $N_BURST Hello instances, W = $WORKER_CONC activity workers," \
         "start -> completion vs ceil(N/W) x $SLOW_SECONDS s:"
    for r in "${FANSLOW[@]}"; do
        IFS='|' read -r n ideal med mn mx runs ok list <<<"$r"
        printf '  N=%-3s ideal %6.3f s  measured median %6.3f s  ratio %5.2f  target <= 1.2: %-6s (%d runs: %s s)\n' \
            "$n" "$ideal" "$med" "$(calc "printf \"%.2f\", $med / $ideal")" \
            "$([ "$ok" = 1 ] && yesno "$med <= 1.2 * $ideal" || echo FAILED)" "$runs" "$list"
    done
fi

if [ "${#PEER_ROWS[@]}" -gt 0 ] || [ -n "$PEER_LAT_MED" ] || [ -n "$PEER_NOTE" ]; then
    echo
    echo "=== peer: $PEER_NOTE"
    [ "$BATCH" = 1 ] || echo "    (ours with --batch $BATCH starts per transaction; DBOS starts one workflow per call)"
    if [ "${#PEER_ROWS[@]}" -gt 0 ] || [ -n "$PEER_LAT_MED" ]; then
        PFMT='%-13s %9s %9s %9s %9s %8s %8s %9s  %-22s %s\n'
        printf "$PFMT" scenario instances seconds orch/s act/s orch/TPS act/TPS ours/DBOS target met?
        printf "$PFMT" ------------- --------- --------- --------- --------- -------- -------- --------- ---------------------- ----
    fi
    for r in "${PEER_ROWS[@]}"; do
        IFS='|' read -r label count secs ops aps ok note <<<"$r"
        # the ratio of act/s (more digits than orch/s; same activities per instance)
        ours=$(row_field "$label" 5); vs="-"; target="-"; met="-"
        case "$label" in
            Hello) want_r=3 ;; Chain10) want_r=6 ;; Fan100) want_r=15 ;; *) want_r="" ;;
        esac
        if [ -n "$ours" ] && calc "exit !($aps > 0)"; then
            vs=$(calc "printf \"%.2f\", $ours / $aps")
            [ -z "$want_r" ] || { target="ours/DBOS >= $want_r"; met=$(yesno "$vs >= $want_r"); }
        fi
        [ "$ok" = 1 ] || met="FAILED"
        printf "$PFMT" "$label" "$count" "$secs" "$ops" "$aps" "$(ratio "$ops")" "$(ratio "$aps")" "$vs" "$target" "$met"
    done
    if [ -n "$PEER_LAT_MED" ]; then
        vs="-"; [ -z "$LAT_MED" ] || vs=$(calc "printf \"%.2f\", $PEER_LAT_MED / $LAT_MED")
        printf "$PFMT" HelloLatency "$N_LATENCY" - - - - - "$vs" "median $PEER_LAT_MED ms" "-"
        vs="-"; [ -z "$LAT_P95" ] || vs=$(calc "printf \"%.2f\", $PEER_LAT_P95 / $LAT_P95")
        printf "$PFMT" "" "" "" "" "" "" "" "$vs" "p95 $PEER_LAT_P95 ms" "-"
        echo "  (HelloLatency ours/DBOS = DBOS latency / our latency: above 1, ours is faster)"
    fi
    for r in "${PEER_ROWS[@]}"; do
        IFS='|' read -r label count secs ops aps ok note <<<"$r"
        echo "  $label (DBOS): $note"
    done
fi

# dispatcher / worker resident size (kB) at the start and end of each scenario
if [ -s "$MEM_LOG" ]; then
    echo
    echo "duroxide worker memory, kB (VmRSS includes touched shared buffers; RssAnon is private memory):"
    awk '{ key = $4; if (!(key in first)) { first[key] = $0; order[++n] = key } last[key] = $0 }
         END { printf "  %-28s %22s %22s %16s\n", "process", "first sample RSS/anon", "last sample RSS/anon", "orchestrations";
               for (i = 1; i <= n; i++) { split(first[order[i]], f, " "); split(last[order[i]], l, " ");
                 printf "  %-28s %11d/%-10d %11d/%-10d %7d -> %d\n", order[i], f[5], f[6], l[5], l[6], f[2], l[2] } }' "$MEM_LOG"
    echo "  per scenario (dispatchers, RssAnon kB before -> after):"
    awk '$4 ~ /dispatcher/ { split($1, a, ":"); k = a[1] " " $4;
           if (a[2] == "before") b[k] = $6; else { printf "    %-14s %-24s %8d -> %-8d (%+6d) after %d orchestrations\n", a[1], $4, b[k], $6, $6 - b[k], $2 } }' "$MEM_LOG"
    cp "$MEM_LOG" "$RESULTS/memory.txt"
fi

if [ "$(md5sum "$PKGLIBDIR/duroxide.so" | cut -c1-12)" != "$LIB_MD5" ]; then
    echo
    echo "WARNING: $PKGLIBDIR/duroxide.so was replaced during the run (another install?): results are suspect"
fi

# server log problems
echo
nproblems=$(grep -cE '(WARNING|ERROR|FATAL|PANIC):' "$LOG" || true)
echo "server log: $nproblems WARNING/ERROR/FATAL/PANIC lines (full log: $RESULTS/server.log)"
if [ "$nproblems" -gt 0 ]; then
    echo "  grouped (quoted names and numbers replaced by ...):"
    grep -E '(WARNING|ERROR|FATAL|PANIC):' "$LOG" | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' |
        sed -E 's/"[^"]*"/"..."/g; s/[0-9]+/.../g' | sort | uniq -c | sort -rn | head -n 20 | sed 's/^/  /'
    echo "  first lines, with their context:"
    grep -E -A2 '(WARNING|ERROR|FATAL|PANIC):' "$LOG" | head -n 15 | sed 's/^/    /'
fi
# process statistics of this run
echo "checkpoints: $(q "SELECT checkpoints_timed || ' timed, ' || checkpoints_req || ' requested' FROM pg_stat_bgwriter")"
echo "queues left (orchestrator|worker|timer, should be 0|0|0): $(q "SELECT * FROM duroxide.get_queue_depths()")"
echo "duroxide tables at the end (live/dead tuples, updates of which HOT, autovacuum runs):"
q "SELECT format('  %-20s %8s live %8s dead %9s upd (%s HOT) %3s autovacuums', relname, n_live_tup, n_dead_tup,
                 n_tup_upd, n_tup_hot_upd, autovacuum_count)
     FROM pg_stat_user_tables WHERE schemaname = 'duroxide' AND n_tup_ins > 10 ORDER BY relname"

if [ "$FAILED" != 0 ]; then
    echo
    echo "BENCHMARK FAILED: some instances did not complete with the expected output (see above)"
    exit 1
fi
