#!/usr/bin/env bash
# scripts/private-pg.sh DIR -- a private copy of the installed PostgreSQL
#
# Copies the server binaries, libraries, PGXS and share directory of the
# PostgreSQL that PG_CONFIG names (default 15's) into DIR, and prints the
# copy's pg_config.  PostgreSQL finds its directories relative to its
# binary, so
#
#   PG_CONFIG=$(bash scripts/private-pg.sh /tmp/pg-mine) bash scripts/test.sh
#
# builds, installs and tests duroxide without touching the system
# installation: a `make install` never replaces the library under servers
# that others are running.  Idempotent (an existing copy is reused).
set -euo pipefail
dir="${1:?usage: private-pg.sh DIR}"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
bindir="$("$PG_CONFIG" --bindir)"
libroot="$(dirname "$bindir")"          # e.g. /usr/lib/postgresql/15
sharedir="$("$PG_CONFIG" --sharedir)"   # e.g. /usr/share/postgresql/15
incdir="$("$PG_CONFIG" --includedir)"   # e.g. /usr/include/postgresql
if [ ! -x "$dir$bindir/pg_config" ]; then
    mkdir -p "$dir$(dirname "$libroot")" "$dir$(dirname "$sharedir")" "$dir$(dirname "$incdir")"
    cp -a "$libroot" "$dir$(dirname "$libroot")/"
    cp -a "$sharedir" "$dir$(dirname "$sharedir")/"
    cp -a "$incdir" "$dir$(dirname "$incdir")/"   # a copy: make install writes headers there
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir$libroot" "$dir$sharedir" 2>/dev/null || true
fi
echo "$dir$bindir/pg_config"
