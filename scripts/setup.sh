#!/usr/bin/env bash
# scripts/setup.sh -- install what duroxide needs and build + install it.
#
# Idempotent.  As root on Debian 12: installs the Debian packages that are
# missing (PostgreSQL 15 server and headers, json-c, the TAP test modules,
# valgrind, a C toolchain; Node.js and npm for clients/node when `node` or
# `npm` is not on the PATH), then runs `make` and `make install` against PostgreSQL 15.
# apt output goes to a log file and is shown only when apt fails.
#
# Run as another user, it skips the package step (it cannot install) and
# only builds; `make install` then needs write access to PostgreSQL's
# directories.
#
# Environment:
#   PG_MAJOR    PostgreSQL major version whose packages are installed (15;
#               scripts/test-versions.sh sets 17 or 18 inside its Debian roots)
#   PG_CONFIG   pg_config to build against (default PG_MAJOR's)
#   SETUP_LOG   where apt output goes (default /tmp/duroxide-setup.log)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}"
SETUP_LOG="${SETUP_LOG:-/tmp/duroxide-setup.log}"

# postgresql-15 ships the contrib modules and pgbench on Debian 12
# (postgresql-contrib-15 is only a virtual package there); perl brings prove;
# on 15 (the machine's own version) valgrind runs the server under memcheck
# (the `valgrind` test tier), with libc6-dbg (recommended by valgrind) so
# that C library frames have names.
PACKAGES=(build-essential pkg-config perl "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
          libjson-c-dev libipc-run-perl)
if [ "$PG_MAJOR" = 15 ]; then
    PACKAGES+=(valgrind libc6-dbg)
fi

say() { printf 'setup: %s\n' "$*"; }

# show the apt log and fail
apt_failed() {
    say "apt-get failed; last lines of $SETUP_LOG:"
    tail -n 60 "$SETUP_LOG" >&2 || true
    exit 1
}

# true when a package is installed (not just known or half-configured)
installed() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

if [ "$(id -u)" -eq 0 ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    # the node test tier (clients/node): node, and npm unless node_modules
    # is there already (scripts/test-versions.sh brings it into its roots).
    # By command, not package: a machine may have Node.js from elsewhere
    # (its nodejs package then brings npm itself).
    if [ -d "$ROOT/clients/node" ]; then
        command -v node >/dev/null 2>&1 || missing+=(nodejs)
        if ! command -v npm >/dev/null 2>&1 && [ ! -d "$ROOT/clients/node/node_modules" ]; then
            missing+=(npm)
        fi
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${missing[*]} (log: $SETUP_LOG)"
        export DEBIAN_FRONTEND=noninteractive
        : > "$SETUP_LOG"
        apt-get update >>"$SETUP_LOG" 2>&1 || apt_failed
        # a real postgresql-contrib-15 package (on distributions that have one)
        if apt-cache show "postgresql-contrib-$PG_MAJOR" 2>/dev/null | grep -q "^Package: postgresql-contrib-$PG_MAJOR\$"; then
            installed "postgresql-contrib-$PG_MAJOR" || missing+=("postgresql-contrib-$PG_MAJOR")
        fi
        apt-get install -y --no-install-recommends "${missing[@]}" >>"$SETUP_LOG" 2>&1 || apt_failed
    fi
else
    say "not root: skipping the package step"
fi

if [ ! -x "$PG_CONFIG" ]; then
    say "$PG_CONFIG not found: install postgresql-server-dev-$PG_MAJOR (run this script as root)"
    exit 1
fi

cd "$ROOT"
# build quietly; show the compiler output only when the build fails
build_log="$(mktemp)"
trap 'rm -f "$build_log"' EXIT
if ! make -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >"$build_log" 2>&1; then
    say "make failed:"
    cat "$build_log" >&2
    exit 1
fi
if ! make install PG_CONFIG="$PG_CONFIG" >"$build_log" 2>&1; then
    say "make install failed:"
    cat "$build_log" >&2
    exit 1
fi
say "duroxide built and installed into $("$PG_CONFIG" --pkglibdir)"
