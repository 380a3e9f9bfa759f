#!/usr/bin/env bash
# scripts/test.sh -- the test command: build, install, run all three tiers.
#
#   bash scripts/test.sh                   this PostgreSQL (15)
#   bash scripts/test.sh --all-versions    and then 17 and 18 in Debian roots
#                                          (what CI runs: .ci/run)
#
# 1. scripts/setup.sh installs the Debian packages and builds + installs
#    duroxide into PostgreSQL 15.
# 2. The source tree is copied into a fresh temporary directory owned by the
#    test user (`postgres` when run as root: PostgreSQL refuses to run as
#    root), so the checkout itself is never written by the tests.
# 3. Each tier runs as its own `make installcheck`, so a failure in one still
#    runs the others:
#       regress    pg_regress, sql/ + expected/         (ISOLATION= TAP_TESTS=)
#       isolation  test/isolation/specs/*.spec           (REGRESS= TAP_TESTS=)
#       tap        test/t/*.pl, counted per assertion    (REGRESS= ISOLATION=)
#       nopreload  test/nopreload/sql + expected, on a server WITHOUT
#                  duroxide preloaded      (make installcheck-nopreload)
#       valgrind   the regress files again, with the server under valgrind
#                  memcheck (make valgrind-check): each file counts, plus
#                  one for "no memcheck error in duroxide's code"
#       node       clients/node/test/*.test.js with `node --test` (each
#                  test counts) against a temporary server that
#                  clients/node/test/with-server.sh starts; `npm ci` first
#                  unless the copy has clients/node/node_modules already
#    Every other tier starts its own temporary instances with duroxide preloaded.
# 4. Failures are explained (regression.diffs, server and TAP logs), a
#    summary per tier is printed, and the last line is `N passed, N failed`.
#    A tier that crashed or printed no result counts its missing tests as
#    failed.  Exit status: 0 only when something ran and nothing failed.
# 5. With --all-versions (or ALL_VERSIONS=1), scripts/test-versions.sh then
#    runs this script's functional tiers on PostgreSQL 17 and 18 inside
#    Debian roots; the summary has one block per version and the last line
#    counts everything.
#
# The upgrade tests (test/t/030_upgrade.pl, 031_catalog_equal.pl) build
# duroxide 0.1.0: its source is exported from git (scripts/old-source.sh)
# into the temporary directory and named by DUROXIDE_OLD_SRC.
#
# Environment:
#   PG_MAJOR              default 15
#   PG_CONFIG             default /usr/lib/postgresql/$PG_MAJOR/bin/pg_config
#   ALL_VERSIONS=1        the same as --all-versions
#   DUROXIDE_OLD_SRC      the 0.1.0 source tree (default: exported from git)
#   TEST_USER             OS user that runs the tests when run as root (postgres)
#   TIERS                 tiers to run, default "regress isolation tap nopreload valgrind node"
#   REGRESS_TIMEOUT, ISOLATION_TIMEOUT, TAP_TIMEOUT, VALGRIND_TIMEOUT, NODE_TIMEOUT
#                         seconds each tier may take (1500, 900, 1500, 1800, 900)
#   REGRESS_ONLY, ISOLATION_ONLY, TAP_ONLY, VALGRIND_ONLY, NODE_ONLY
#                         run only these tests of a tier (space-separated
#                         names: "00_setup 21_security", "dispatch_exclusive",
#                         "test/t/010_kill_workers.pl", "worker reconnect":
#                         clients/node/test/NAME.test.js); for development
#   KEEP_TMP=1            keep the temporary directory (default: kept only
#                         when something failed and CI is not set)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
ALL_VERSIONS="${ALL_VERSIONS:-0}"
for arg in "$@"; do
    case "$arg" in
        --all-versions) ALL_VERSIONS=1 ;;
        *) echo "usage: bash scripts/test.sh [--all-versions]" >&2; exit 2 ;;
    esac
done
PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}"
TEST_USER="${TEST_USER:-postgres}"
TIERS="${TIERS:-regress isolation tap nopreload valgrind node}"
REGRESS_TIMEOUT="${REGRESS_TIMEOUT:-1500}"
ISOLATION_TIMEOUT="${ISOLATION_TIMEOUT:-900}"
TAP_TIMEOUT="${TAP_TIMEOUT:-1500}"
VALGRIND_TIMEOUT="${VALGRIND_TIMEOUT:-1800}"
NODE_TIMEOUT="${NODE_TIMEOUT:-900}"
export PG_CONFIG PG_MAJOR

# the same locale and connection environment everywhere (CI, developers)
export LANG=C.UTF-8
unset LC_ALL LANGUAGE LC_CTYPE LC_COLLATE LC_MESSAGES
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGOPTIONS PGSERVICE \
      PGSERVICEFILE PGSSLMODE PGDATA PGTZ PGDATESTYLE PGCLIENTENCODING

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
WORK=""
OTHER_SUMMARY=()

say() { printf '%s\n' "$*"; }
banner() { printf '\n======== %s ========\n' "$*"; }

# the closing lines: one per tier, then the totals (always the last line)
finish() {
    trap - EXIT
    cleanup
    banner "summary"
    local line
    if [ "$ALL_VERSIONS" = 1 ]; then
        say "PostgreSQL $("$PG_CONFIG" --version 2>/dev/null | awk '{print $2}') (this machine):"
    fi
    for line in "${SUMMARY[@]}" "${OTHER_SUMMARY[@]}"; do
        say "$line"
    done
    if [ "$ALL_VERSIONS" = 1 ]; then
        say "wall time: $SECONDS s"
    fi
    if [ "$((TOTAL_PASSED + TOTAL_FAILED))" -eq 0 ]; then
        say "no test ran"
    fi
    say "${TOTAL_PASSED} passed, ${TOTAL_FAILED} failed"
    if [ "$TOTAL_FAILED" -ne 0 ] || [ "$TOTAL_PASSED" -eq 0 ]; then
        exit 1
    fi
    exit 0
}

# run a command as the test user, in the current directory
as_test_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$TEST_USER" -- "$@"
    else
        "$@"
    fi
}

# pids of postmasters whose data directory lies under $WORK: a postmaster
# runs in its data directory, and only its children retitle themselves
# "postgres: ..."
stray_postmasters() {
    local proc pid cwd
    [ -n "$WORK" ] && [ -d "$WORK" ] || return 0
    for proc in /proc/[0-9]*; do
        pid="${proc#/proc/}"
        cwd="$(readlink "$proc/cwd" 2>/dev/null)" || continue
        case "$cwd" in "$WORK"/*) ;; *) continue ;; esac
        case "$(readlink "$proc/exe" 2>/dev/null)" in */postgres) ;; *) continue ;; esac
        tr '\0' ' ' < "$proc/cmdline" 2>/dev/null | grep -q '^postgres:' && continue
        printf '%s\n' "$pid"
    done
}

# stop every server a tier left behind (pg_regress and TAP stop their own)
stop_strays() {
    local pids
    pids="$(stray_postmasters | sort -u)"
    [ -n "$pids" ] || return 0
    say "stopping leftover servers: $(echo $pids)"
    signal_and_reap QUIT $pids   # immediate shutdown
}

cleanup() {
    stop_strays
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${KEEP_TMP:-0}" = 1 ] || { [ "$TOTAL_FAILED" -ne 0 ] && [ -z "${CI:-}" ]; }; then
            say "test files kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# print the tail of a file under a heading, if it exists and is not empty
show_file() {
    local file="$1" lines="$2"
    [ -s "$file" ] || return 0
    local n
    n="$(wc -l < "$file")"
    printf '\n---- %s (%s lines%s) ----\n' "${file#"$WORK"/}" "$n" \
        "$([ "$n" -gt "$lines" ] && echo ", last $lines shown")"
    tail -n "$lines" "$file"
}

# print the head of a diff file
show_diffs() {
    local file="$1" lines=600
    [ -s "$file" ] || return 0
    local n
    n="$(wc -l < "$file")"
    printf '\n---- %s (%s lines%s) ----\n' "${file#"$WORK"/}" "$n" \
        "$([ "$n" -gt "$lines" ] && echo ", first $lines shown")"
    head -n "$lines" "$file"
}

# record a tier's counts
record() {
    local tier="$1" passed="$2" failed="$3" note="$4"
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    SUMMARY+=("$(printf '%-10s %4d ok, %4d not ok%s' "$tier" "$passed" "$failed" "${note:+  ($note)}")")
}

# count pg_regress / pg_isolation_regress results in a log.
# $1 log, rest: the test names that should have run.  Prints "passed failed".
# PG15 lines: "test NAME ... ok|FAILED|failed (ignored)" (parallel groups
# indent by 5 spaces instead of "test "); PG16+ TAP lines are accepted too.
# A test that should have run and has no result line counts as failed.
count_regress() {
    local log="$1"
    shift
    awk -v expected="$*" '
        BEGIN { n = split(expected, e, " "); for (i = 1; i <= n; i++) want[e[i]] = 1 }
        /^(test |     )[ ]*[^ ]+[ ]+\.\.\. / {
            line = $0
            sub(/^(test |     )[ ]*/, "", line)
            name = line; sub(/[ ].*$/, "", name)
            res = line; sub(/^[^ ]+[ ]+\.\.\. /, "", res)
            if (res ~ /^ok/) status[name] = "ok"
            else if (res ~ /^(FAILED|failed)/) status[name] = "failed"
            next
        }
        /^(not )?ok [0-9]+[ ]+[-+] [^ ]+/ {
            name = $0; sub(/^(not )?ok [0-9]+[ ]+[-+] /, "", name); sub(/[ ].*$/, "", name)
            status[name] = ($0 ~ /^not /) ? "failed" : "ok"
        }
        END {
            p = 0; f = 0
            for (t in status) { if (status[t] == "ok") p++; else f++ }
            for (t in want) if (!(t in status)) { f++; print "no result for test " t > "/dev/stderr" }
            print p, f
        }' "$log"
}

# count TAP assertions from the raw TAP that prove spooled per test file.
# $1 spool dir, $2 prove log, rest: the test files that should have run.
# A file that did not run, has no or a broken plan, or exited non-zero with
# no failed assertion counts one failure more.  Prints "passed failed" and
# then the names of the failing files (without directory and .pl).
count_tap() {
    perl - "$@" <<'PERL'
use strict;
use warnings;
use TAP::Parser;

my ($spool, $log, @tests) = @ARGV;
my %wstat;
if (open my $fh, '<', $log) {
    while (<$fh>) {
        $wstat{$1} = $2 if /^(\S+\.pl)\s+\(Wstat: (\d+)/;
    }
}
my ($passed, $failed) = (0, 0);
my @bad;
for my $t (@tests) {
    my $file = "$spool/$t";
    (my $base = $t) =~ s{^.*/|\.pl$}{}g;
    unless (-f $file) {
        print STDERR "$t: did not run\n";
        $failed++;
        push @bad, $base;
        next;
    }
    open my $in, '<', $file or die "$file: $!";
    my $tap = do { local $/; <$in> };
    close $in;
    my ($p, $f, @errors) = (0, 0);
    if ($tap =~ /\S/) {
        my $parser = eval {
            my $tp = TAP::Parser->new({ tap => $tap });
            $tp->run;
            $tp;
        };
        if ($parser) {
            $p = scalar(my @p = $parser->passed);
            $f = scalar(my @f = $parser->failed);
            @errors = $parser->parse_errors;
        } else {
            @errors = ("unreadable TAP: $@");
        }
    } else {
        @errors = ("no TAP output");
    }
    if (@errors) {
        print STDERR "$t: $_\n" for @errors;
        $f++;
    }
    if (($wstat{$t} // 0) != 0 && $f == 0) {
        print STDERR "$t: exited with wait status $wstat{$t}\n";
        $f++;
    }
    print STDERR "$t: $p ok, $f not ok\n";
    $passed += $p;
    $failed += $f;
    push @bad, $base if $f;
}
print "$passed $failed\n@bad\n";
PERL
}

# run one tier: make installcheck (or $MAKE_TARGET) with the other tiers
# switched off; $1 tier, $2 timeout (s), rest: make variable overrides
run_make() {
    local tier="$1" limit="$2"
    shift 2
    local log="$WORK/.test_$tier.log"
    banner "$tier"
    (
        cd "$WORK" &&
        as_test_user env PERL_TEST_HARNESS_DUMP_TAP="$WORK/.tap_spool" \
            timeout --kill-after=30 "$limit" \
            make "${MAKE_TARGET:-installcheck}" PG_CONFIG="$PG_CONFIG" "$@"
    ) 2>&1 | tee "$log"
    local rc="${PIPESTATUS[0]}"
    stop_strays
    TIER_LOG="$log"
    TIER_RC="$rc"
    TIER_NOTE=""
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        TIER_NOTE="timed out after ${limit}s"
    elif [ "$rc" -ne 0 ]; then
        TIER_NOTE="make exited $rc"
    fi
}

# names of the files matching a glob, with a prefix/suffix stripped
list_tests() {
    local dir="$1" ext="$2" f
    for f in "$WORK/$dir"/*."$ext"; do
        [ -e "$f" ] || continue
        f="${f##*/}"
        printf '%s\n' "${f%."$ext"}"
    done
}

# count a pg_regress-style tier (pg_regress, pg_isolation_regress), explain
# its failures and record it.  $1 tier, $2 the directory of its
# regression.diffs ("" for the top), $3 its temporary instance, rest: the
# tests that should have run.
record_regress() {
    local tier="$1" outdir="$2" tmpdir="$3" p f counts
    shift 3
    counts="$(count_regress "$TIER_LOG" "$@")"
    read -r p f <<< "$counts"
    p="${p:-0}" f="${f:-1}"
    if [ "$TIER_RC" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        show_diffs "$WORK/${outdir:+$outdir/}regression.diffs"
        show_file "$WORK/$tmpdir/log/postmaster.log" 100
        show_file "$WORK/$tmpdir/log/initdb.log" 30
    fi
    record "$tier" "$p" "$f" "$TIER_NOTE"
}

tier_regress() {
    local tests
    tests="${REGRESS_ONLY:-$(list_tests sql sql | tr '\n' ' ')}"
    if [ -z "$tests" ]; then
        record regress 0 0 "no tests"
        return
    fi
    run_make regress "$REGRESS_TIMEOUT" ISOLATION= TAP_TESTS= ${REGRESS_ONLY:+REGRESS="$REGRESS_ONLY"}
    record_regress regress "" tmp_check $tests
}

tier_isolation() {
    local tests
    tests="${ISOLATION_ONLY:-$(list_tests test/isolation/specs spec | tr '\n' ' ')}"
    if [ -z "$tests" ]; then
        record isolation 0 0 "no tests"
        return
    fi
    run_make isolation "$ISOLATION_TIMEOUT" REGRESS= TAP_TESTS= ${ISOLATION_ONLY:+ISOLATION="$ISOLATION_ONLY"}
    record_regress isolation output_iso tmp_check_iso $tests
}

tier_tap() {
    local tests=() t p f counts log bad
    if [ -n "${TAP_ONLY:-}" ]; then
        read -r -a tests <<< "$TAP_ONLY"
    else
        for t in "$WORK"/test/t/*.pl; do
            [ -e "$t" ] && tests+=("test/t/${t##*/}")
        done
    fi
    if [ "${#tests[@]}" -eq 0 ]; then
        record tap 0 0 "no tests"
        return
    fi
    rm -rf "$WORK/.tap_spool"
    run_make tap "$TAP_TIMEOUT" REGRESS= ISOLATION= ${TAP_ONLY:+PROVE_TESTS="$TAP_ONLY"}
    counts="$(count_tap "$WORK/.tap_spool" "$TIER_LOG" "${tests[@]}")"
    p="$(sed -n 1p <<< "$counts" | cut -d' ' -f1)"
    f="$(sed -n 1p <<< "$counts" | cut -d' ' -f2)"
    bad="$(sed -n 2p <<< "$counts")"
    if [ -z "$p" ] || [ -z "$f" ]; then   # the counting itself failed
        p=0 f="${#tests[@]}"
        bad="$(for t in "${tests[@]}"; do t="${t##*/}"; echo "${t%.pl}"; done)"
    fi
    if [ "$TIER_RC" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        bad="$(for t in "${tests[@]}"; do t="${t##*/}"; echo "${t%.pl}"; done)"
    fi
    # for each failing file: its TAP log (regress_log_NAME) and its servers' logs (NAME_NODE.log)
    for t in $bad; do
        for log in "$WORK/tmp_check/log/regress_log_$t" "$WORK/tmp_check/log/${t}"_*.log; do
            [ -e "$log" ] || continue
            show_file "$log" 80
        done
    done
    record tap "$p" "$f" "assertions${TIER_NOTE:+; $TIER_NOTE}"
}

tier_nopreload() {
    local tests
    tests="$(list_tests test/nopreload/sql sql | tr '\n' ' ')"
    if [ -z "$tests" ]; then
        record nopreload 0 0 "no tests"
        return
    fi
    MAKE_TARGET=installcheck-nopreload run_make nopreload "$REGRESS_TIMEOUT"
    record_regress nopreload output_nopreload tmp_check_nopreload $tests
}

# the regress files with the server under valgrind memcheck (make
# valgrind-check: scripts/valgrind-pg.sh, scripts/valgrind-report.sh,
# test/valgrind.supp).  Counts each file as the regress tier does, plus one
# test "memcheck" that fails on any error with a frame in duroxide's code
# (the report is in the tier's output) or a process valgrind stopped.
tier_valgrind() {
    local tests p f counts log verdict start
    tests="${VALGRIND_ONLY:-$(list_tests sql sql | tr '\n' ' ')}"
    if [ -z "$tests" ]; then
        record valgrind 0 0 "no tests"
        return
    fi
    log="$WORK/.test_valgrind.log"
    banner "valgrind"
    start="$(date +%s)"
    (
        cd "$WORK" &&
        as_test_user timeout --kill-after=30 "$VALGRIND_TIMEOUT" \
            make valgrind-check PG_CONFIG="$PG_CONFIG" ${VALGRIND_ONLY:+REGRESS="$VALGRIND_ONLY"}
    ) 2>&1 | tee "$log"
    local rc="${PIPESTATUS[0]}"
    stop_strays
    TIER_NOTE="$(( $(date +%s) - start )) s"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        TIER_NOTE="$TIER_NOTE; timed out after ${VALGRIND_TIMEOUT}s"
    elif [ "$rc" -ne 0 ]; then
        TIER_NOTE="$TIER_NOTE; make exited $rc"
    fi
    counts="$(count_regress "$log" $tests)"
    read -r p f <<< "$counts"
    p="${p:-0}" f="${f:-1}"
    # the memcheck verdict: the report's last line, with no duroxide error
    # and no process stopped by valgrind
    verdict="$(grep '^valgrind: [0-9]* duroxide errors' "$log" | tail -n 1)"
    if [ -n "$verdict" ] && [[ "$verdict" == "valgrind: 0 duroxide errors"* ]] &&
       [[ "$verdict" != *"stopped by valgrind"* ]]; then
        p=$((p + 1))
    else
        f=$((f + 1))
        say "memcheck: ${verdict:-no report (the run did not finish)}"
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        show_diffs "$WORK/output_vg/regression.diffs"
        show_file "$WORK/output_vg/log/postmaster.log" 100
        show_file "$WORK/output_vg/log/initdb.log" 30
    fi
    record valgrind "$p" "$f" "$TIER_NOTE"
}

# the Node.js package's tests (clients/node): `node --test` with the TAP
# reporter against a temporary server of their own
# (clients/node/test/with-server.sh: initdb, test/duroxide_test.conf, a
# unix socket in a directory under $WORK, stopped whatever happens); each
# test counts, a cancelled one as failed.  node_modules: the copy's own if
# it holds the pg of package-lock.json (a developer's `npm ci`), otherwise
# `npm ci` from the registry (npm's cache makes later runs offline).
tier_node() {
    local dir="$WORK/clients/node" log="$WORK/.test_node.log" tests=() t p f c rc want have
    banner "node"
    if [ ! -d "$dir" ]; then
        record node 0 0 "no clients/node"
        return
    fi
    if ! command -v node >/dev/null 2>&1; then
        say "node is not installed (scripts/setup.sh installs it)"
        record node 0 1 "no node"
        return
    fi
    if [ -n "${NODE_ONLY:-}" ]; then
        for t in $NODE_ONLY; do tests+=("test/$t.test.js"); done
    else
        for t in "$dir"/test/*.test.js; do
            [ -e "$t" ] && tests+=("test/${t##*/}")
        done
    fi
    if [ "${#tests[@]}" -eq 0 ]; then
        record node 0 0 "no tests"
        return
    fi
    want="$(node -e 'try { const l = require(process.argv[1]); console.log(l.packages["node_modules/pg"].version) } catch (e) {}' "$dir/package-lock.json")"
    have="$(node -e 'try { console.log(require(process.argv[1]).version) } catch (e) {}' "$dir/node_modules/pg/package.json")"
    if [ -z "$want" ] || [ "$want" != "$have" ]; then
        rm -rf "$dir/node_modules"
        say "npm ci in clients/node (node $(node --version), npm $(npm --version 2>/dev/null || echo missing))"
        if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/.npm_ci.log" 2>&1; then
            show_file "$WORK/.npm_ci.log" 40
            record node 0 1 "npm ci failed"
            return
        fi
        [ "$(id -u)" -ne 0 ] || chown -R "$TEST_USER": "$dir/node_modules"
    else
        say "using the node_modules of the copy (pg $have)"
    fi
    mkdir -p "$WORK/tmp_check_node"
    [ "$(id -u)" -ne 0 ] || chown "$TEST_USER": "$WORK/tmp_check_node"
    (
        cd "$dir" &&
        as_test_user env HOME="$WORK/tmp_check_node" NODE_TEST_TMP="$WORK/tmp_check_node" PG_CONFIG="$PG_CONFIG" \
            timeout --kill-after=30 "$NODE_TIMEOUT" \
            bash test/with-server.sh node --test --test-reporter=tap "${tests[@]}"
    ) 2>&1 | tee "$log"
    rc="${PIPESTATUS[0]}"
    stop_strays
    # the runner's closing counts: "# pass N", "# fail N", "# cancelled N"
    p="$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)"
    f="$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)"
    c="$(sed -n 's/^# cancelled \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)"
    TIER_NOTE=""
    if [ -z "$p" ] || [ -z "$f" ]; then
        p=0 f="${#tests[@]}"
        TIER_NOTE="no summary from node --test"
    fi
    f=$((f + ${c:-0}))
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        TIER_NOTE="timed out after ${NODE_TIMEOUT}s"
    elif [ "$rc" -ne 0 ]; then
        TIER_NOTE="${TIER_NOTE:+$TIER_NOTE; }exited $rc"
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record node "$p" "$f" "$TIER_NOTE"
}

# ---------------------------------------------------------------------------

banner "setup"
if ! bash "$ROOT/scripts/setup.sh"; then
    say "setup failed: nothing was tested"
    TOTAL_FAILED=1
    SUMMARY+=("setup      failed")
    finish
fi

if [ "$(id -u)" -eq 0 ] && ! id "$TEST_USER" >/dev/null 2>&1; then
    say "user $TEST_USER does not exist (it comes with the postgresql-15 package)"
    TOTAL_FAILED=1
    finish
fi

# a private copy of the tree that the test user may write in
WORK="$(mktemp -d "${TMPDIR:-/tmp}/duroxide-test.XXXXXX")"
tar -C "$ROOT" \
    --exclude=./.git --exclude=./demo_data --exclude='./tmp_check*' \
    --exclude=./output_iso --exclude=./output_nopreload --exclude=./results --exclude=./log \
    --exclude=./tmp_valgrind --exclude=./output_vg \
    --exclude=./regression.diffs --exclude=./regression.out \
    -cf - . | tar -C "$WORK" -xf -
# the 0.1.0 source for the upgrade tests
if [ -z "${DUROXIDE_OLD_SRC:-}" ]; then
    if bash "$ROOT/scripts/old-source.sh" "$WORK/.old-0.1.0" 2>"$WORK/.old-0.1.0.err"; then
        export DUROXIDE_OLD_SRC="$WORK/.old-0.1.0"
    else
        say "the 0.1.0 source is not available ($(cat "$WORK/.old-0.1.0.err")): the upgrade tests will fail"
    fi
fi
if [ "$(id -u)" -eq 0 ]; then
    chown -R "$TEST_USER": "$WORK"
fi
say "testing a copy of the tree in $WORK as $( [ "$(id -u)" -eq 0 ] && echo "$TEST_USER" || id -un )"

for tier in $TIERS; do
    case "$tier" in
        regress) tier_regress ;;
        isolation) tier_isolation ;;
        tap) tier_tap ;;
        nopreload) tier_nopreload ;;
        valgrind) tier_valgrind ;;
        node) tier_node ;;
        *) say "unknown tier $tier"; TOTAL_FAILED=$((TOTAL_FAILED + 1)) ;;
    esac
done

# the other PostgreSQL versions, in Debian roots (scripts/test-versions.sh)
if [ "$ALL_VERSIONS" = 1 ]; then
    stop_strays
    banner "other PostgreSQL versions"
    versions_out="$(mktemp)"
    bash "$ROOT/scripts/test-versions.sh" 2>&1 | tee "$versions_out"
    while IFS= read -r line; do
        OTHER_SUMMARY+=("$line")
    done < <(awk '/^======== summary \(other versions\) ========$/ { s = 1; next } s' "$versions_out" | sed '$d')
    line="$(tail -n 1 "$versions_out")"
    if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        TOTAL_PASSED=$((TOTAL_PASSED + BASH_REMATCH[1]))
        TOTAL_FAILED=$((TOTAL_FAILED + BASH_REMATCH[2]))
    else
        OTHER_SUMMARY+=("other versions: scripts/test-versions.sh ended without a result line")
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
    fi
    rm -f "$versions_out"
fi

finish
