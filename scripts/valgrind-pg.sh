#!/usr/bin/env bash
# scripts/valgrind-pg.sh DIR LOGDIR SUPP -- a PostgreSQL copy whose server runs under valgrind
#
# Copies the PostgreSQL installation that PG_CONFIG names (with duroxide as
# installed there) into DIR with scripts/private-pg.sh, and replaces the
# copy's `postgres` binary by a wrapper that runs the real one (renamed
# postgres.bin) under valgrind memcheck.  Prints the copy's pg_config, so
#
#   make installcheck PG_CONFIG=$(bash scripts/valgrind-pg.sh DIR LOGDIR SUPP)
#
# runs pg_regress with a postmaster under valgrind.  Every process the
# postmaster forks (backends, background workers, duroxide's engine
# processes) stays under valgrind; --trace-children=yes follows exec'd ones
# too.  Each process writes its own log, LOGDIR/<pid>.log; errors are framed
# by VALGRINDERROR-BEGIN/-END markers and followed by a ready-made
# suppression (scripts/valgrind-report.sh reads them).  SUPP is the
# suppression file (test/valgrind.supp).
#
# initdb's bootstrap and single-user runs (--boot, --single) and the
# queries pg_ctl and initdb make of the binary (-V, -C, --describe-config)
# run the real binary directly: they are PostgreSQL's own code, and under
# valgrind they would only make initdb slower.
#
# Environment:
#   PG_CONFIG       the installation to copy (default PostgreSQL 15's)
#   VALGRIND_OPTS   extra valgrind options, appended (e.g. --read-var-info=yes)
set -euo pipefail
dir="${1:?usage: valgrind-pg.sh DIR LOGDIR SUPP}"
logdir="${2:?usage: valgrind-pg.sh DIR LOGDIR SUPP}"
supp="${3:?usage: valgrind-pg.sh DIR LOGDIR SUPP}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

valgrind="$(command -v valgrind || true)"
if [ -z "$valgrind" ]; then
    echo "valgrind-pg.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 1
fi
[ -r "$supp" ] || { echo "valgrind-pg.sh: no suppression file $supp" >&2; exit 1; }
mkdir -p "$dir" "$logdir"
dir="$(cd "$dir" && pwd)"
logdir="$(cd "$logdir" && pwd)"
supp="$(cd "$(dirname "$supp")" && pwd)/$(basename "$supp")"

pg_config="$(bash "$ROOT/scripts/private-pg.sh" "$dir")"
bindir="$("$pg_config" --bindir)"
if [ ! -x "$bindir/postgres.bin" ]; then
    mv "$bindir/postgres" "$bindir/postgres.bin"
fi

# the wrapper: options are fixed here, so that the server started by
# pg_regress, pg_ctl or a TAP test runs the same way
cat > "$bindir/postgres.new" <<EOF
#!/bin/sh
# postgres under valgrind memcheck (written by scripts/valgrind-pg.sh)
real='$bindir/postgres.bin'
for arg in "\$@"; do
    case "\$arg" in
        --boot|--single|-V|--version|-C|--describe-config|--check) exec "\$real" "\$@" ;;
    esac
done
exec '$valgrind' --tool=memcheck --quiet \\
    --trace-children=yes --leak-check=no --track-origins=yes --num-callers=40 \\
    --error-limit=no --fullpath-after= --gen-suppressions=all \\
    --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \\
    --suppressions='$supp' \\
    --log-file='$logdir/%p.log' ${VALGRIND_OPTS:-} \\
    "\$real" "\$@"
EOF
chmod 755 "$bindir/postgres.new"
mv "$bindir/postgres.new" "$bindir/postgres"
echo "$pg_config"
