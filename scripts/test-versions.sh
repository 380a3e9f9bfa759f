#!/usr/bin/env bash
# scripts/test-versions.sh -- the test tiers on the other PostgreSQL versions
#
#   bash scripts/test-versions.sh [MAJOR ...]        (as root; default: 17 18)
#
# The machines run Debian 12, which ships only PostgreSQL 15.  For each other
# major version this script builds a Debian root with debootstrap from the
# archive this machine's apt uses (17: trixie, 18: unstable), installs that
# version's server and -dev packages and the build and test dependencies
# inside it, copies the tree in, and runs scripts/test.sh there (the same
# script, the same tiers, as the root's postgres user) with the functional
# tiers only: regress, isolation, tap, nopreload when test.sh has it, and
# node (clients/node) when the root has Node.js: the roots get Debian's
# nodejs package, and the package's node_modules comes from this machine
# (`npm ci` here, once per run), so the roots need no npm.
# /proc, /dev and /dev/shm are mounted inside the root while it is used and
# always unmounted afterwards, also on failure or interrupt; the root is
# deleted unless it is a cache.
#
# Output: each version's test.sh output, then one summary block per version
# ("PostgreSQL 17:" and its tier lines), and as the last line the totals
# "N passed, N failed".  Exit status 0 only when something ran and nothing
# failed.
#
# Environment:
#   DX_ROOT_CACHE     keep the roots in this directory and reuse them on the
#                     next run (development; CI builds fresh roots)
#   DX_MIRROR         Debian mirror (default: the first deb.debian.org or
#                     other http URI of this machine's apt sources)
#   DUROXIDE_OLD_SRC  the 0.1.0 source tree for the upgrade tests (default:
#                     exported from git, see scripts/test.sh)
#   VERSION_TIERS     tiers to run inside the roots (default: the functional
#                     tiers test.sh knows)
#   REGRESS_ONLY, ISOLATION_ONLY, TAP_ONLY, NODE_ONLY, CI: passed through to test.sh
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
VERSIONS=("$@")
[ "${#VERSIONS[@]}" -gt 0 ] || VERSIONS=(17 18)

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
MOUNTED=()
TMP_ROOTS=()
USED_ROOTS=()

say() { printf 'test-versions: %s\n' "$*"; }
banner() { printf '\n======== %s ========\n' "$*"; }

# the Debian suite that ships a PostgreSQL major version
suite_of() {
    case "$1" in
        17) echo trixie ;;
        18) echo unstable ;;
        *) return 1 ;;
    esac
}

# the mirror this machine's apt uses (only Debian's archive is reachable)
mirror() {
    if [ -n "${DX_MIRROR:-}" ]; then
        echo "$DX_MIRROR"
        return
    fi
    local m
    m="$(grep -hoE '(URIs:|deb)[[:space:]]+https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
         grep -v security | head -n1 | awk '{print $2}')"
    echo "${m:-http://deb.debian.org/debian}"
}

# unmount everything this script mounted, innermost first
unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount -l "${MOUNTED[$i]}" 2>/dev/null || true
    done
    MOUNTED=()
}

# stop the processes running inside a root (an interrupted test run leaves
# servers there): those whose root directory is the root, by pid
stop_root_processes() {
    local root="$1" p pid pids=""
    root="$(readlink -f "$root")"
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids="$pids $pid"
    done
    [ -n "$pids" ] || return 0
    say "stopping processes left in $root:$pids"
    signal_and_reap TERM $pids
}

cleanup() {
    local r
    for r in "${USED_ROOTS[@]}"; do
        stop_root_processes "$r"
    done
    unmount_all
    for r in "${TMP_ROOTS[@]}"; do
        # never delete through a mount that is still there
        if ! grep -q " $r/" /proc/mounts; then
            rm -rf "$r"
        else
            say "not removing $r: something is still mounted in it"
        fi
    done
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# mount $1 (type or --bind source) on root/$2
mount_in() {
    local root="$1" what="$2" where="$3"
    mkdir -p "$root$where"
    if [ "$what" = bind ]; then
        mount --bind "$where" "$root$where" || return 1
    else
        mount -t "$what" "$what" "$root$where" || return 1
    fi
    MOUNTED+=("$root$where")
}

# run a command inside the root, with a clean environment
in_root() {
    local root="$1"
    shift
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# build (or reuse) the root for a major version; prints its path
# $1 major, $2 directory to build it in, $3 log file
make_root() {
    local major="$1" root="$2" log="$3" suite
    suite="$(suite_of "$major")" || { say "no Debian suite known for PostgreSQL $major"; return 1; }
    if [ -f "$root/.duroxide-root-ready" ]; then
        say "reusing the $suite root in $root"
        return 0
    fi
    rm -rf "$root"
    mkdir -p "$root"
    say "building a $suite root for PostgreSQL $major in $root (log: $log)"
    debootstrap --variant=minbase --components=main "$suite" "$root" "$(mirror)" >>"$log" 2>&1 ||
        { say "debootstrap failed"; tail -n 40 "$log"; return 1; }
    # the unstable Release file can be past its Valid-Until: accept it, in this root only
    if [ "$suite" = unstable ]; then
        echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99duroxide-valid-until"
    fi
    # no services are started inside the root, and no default cluster is made
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod +x "$root/usr/sbin/policy-rc.d"
    mkdir -p "$root/etc/postgresql-common"
    echo 'create_main_cluster = false' > "$root/etc/postgresql-common/createcluster.conf"
    mount_in "$root" proc /proc && mount_in "$root" bind /dev && mount_in "$root" bind /dev/shm || return 1
    local pkgs=(build-essential pkg-config libjson-c-dev libipc-run-perl perl
                "postgresql-$major" "postgresql-server-dev-$major" nodejs)
    { in_root "$root" apt-get update &&
      in_root "$root" apt-get install -y --no-install-recommends "${pkgs[@]}"; } >>"$log" 2>&1 ||
        { say "installing ${pkgs[*]} failed"; tail -n 40 "$log"; unmount_all; return 1; }
    unmount_all
    touch "$root/.duroxide-root-ready"
}

# the 0.1.0 source for the upgrade tests, into $1 (see scripts/test.sh)
export_old_source() {
    local dest="$1"
    mkdir -p "$dest"
    if [ -n "${DUROXIDE_OLD_SRC:-}" ] && [ -d "$DUROXIDE_OLD_SRC" ]; then
        cp -a "$DUROXIDE_OLD_SRC/." "$dest/"
        return 0
    fi
    bash "$ROOT/scripts/old-source.sh" "$dest"
}

# clients/node's node_modules for the roots, made once per run with npm ci
# on this machine (the checkout's own when it matches package-lock.json);
# sets NODE_MODULES_DIR to its directory (empty when there is none)
NODE_MODULES_DIR=""
node_modules_for_roots() {
    local src="$ROOT/clients/node" want have tmp
    [ -f "$src/package-lock.json" ] || return 0
    [ -z "$NODE_MODULES_DIR" ] || return 0
    command -v node >/dev/null 2>&1 || return 0
    want="$(node -e 'try { console.log(require(process.argv[1]).packages["node_modules/pg"].version) } catch (e) {}' "$src/package-lock.json")"
    have="$(node -e 'try { console.log(require(process.argv[1]).version) } catch (e) {}' "$src/node_modules/pg/package.json")"
    if [ -n "$want" ] && [ "$want" = "$have" ]; then
        NODE_MODULES_DIR="$src/node_modules"
    else
        command -v npm >/dev/null 2>&1 || return 0
        tmp="$(mktemp -d "${TMPDIR:-/tmp}/duroxide-node-modules.XXXXXX")"
        TMP_ROOTS+=("$tmp")
        cp "$src/package.json" "$src/package-lock.json" "$tmp/"
        if ! (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1; then
            say "npm ci for clients/node failed:"
            tail -n 20 "$tmp/npm.log" >&2
            return 0
        fi
        NODE_MODULES_DIR="$tmp/node_modules"
    fi
}

# run the tiers for one major version; adds its summary and counts
run_version() {
    local major="$1" suite root log out passed failed line tiers
    suite="$(suite_of "$major")" || { SUMMARY+=("PostgreSQL $major: no Debian suite known"); TOTAL_FAILED=$((TOTAL_FAILED + 1)); return; }
    banner "PostgreSQL $major (Debian $suite root)"
    if [ -n "${DX_ROOT_CACHE:-}" ]; then
        mkdir -p "$DX_ROOT_CACHE"
        root="$DX_ROOT_CACHE/$suite"
    else
        root="$(mktemp -d "${TMPDIR:-/tmp}/duroxide-root-$suite.XXXXXX")"
        TMP_ROOTS+=("$root")
    fi
    USED_ROOTS+=("$root")
    log="$(mktemp "${TMPDIR:-/tmp}/duroxide-root-$suite.XXXXXX.log")"
    local t0=$SECONDS
    if ! make_root "$major" "$root" "$log"; then
        SUMMARY+=("PostgreSQL $major:" "setup      failed (building the $suite root)")
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        return
    fi
    say "root ready after $((SECONDS - t0)) s"
    rm -f "$log"

    # a fresh copy of the tree, and the 0.1.0 source
    rm -rf "$root/build"
    mkdir -p "$root/build/duroxide"
    # without build products: those of this machine are for PostgreSQL 15
    tar -C "$ROOT" --exclude=./.git --exclude='./tmp_check*' --exclude=./output_iso \
        --exclude=./results --exclude=./log --exclude='*.o' --exclude='*.bc' --exclude='*.so' \
        -cf - . | tar -C "$root/build/duroxide" -xf -
    if ! export_old_source "$root/build/duroxide-0.1.0"; then
        say "the 0.1.0 source is not available: the upgrade tests will fail"
        rm -rf "$root/build/duroxide-0.1.0"
    fi
    # clients/node's dependencies (the roots have node but no npm)
    local nm node_note=""
    if [ -d "$ROOT/clients/node" ]; then
        node_modules_for_roots
        nm="$NODE_MODULES_DIR"
        if [ ! -e "$root/usr/bin/node" ] && [ ! -L "$root/usr/bin/node" ]; then
            node_note="node tier not run: the root has no node (a root cached before nodejs was added: delete it)"
        elif [ -z "$nm" ]; then
            node_note="node tier not run: no node_modules for clients/node (npm ci failed or npm is missing here)"
        else
            rm -rf "$root/build/duroxide/clients/node/node_modules"
            cp -a "$nm" "$root/build/duroxide/clients/node/node_modules"
        fi
    fi
    chmod -R a+rX "$root/build"

    # the functional tiers that this test.sh knows
    tiers="${VERSION_TIERS:-$(for t in regress isolation tap nopreload node; do
        [ "$t" = node ] && [ -n "$node_note" ] && continue
        grep -qE "^[[:space:]]*$t\)" "$ROOT/scripts/test.sh" && printf '%s ' "$t"; done)}"
    [ -z "$node_note" ] || say "PostgreSQL $major: $node_note"

    mount_in "$root" proc /proc && mount_in "$root" bind /dev && mount_in "$root" bind /dev/shm || {
        unmount_all
        SUMMARY+=("PostgreSQL $major:" "setup      failed (mounting /proc, /dev)")
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        return
    }
    out="$(mktemp)"
    in_root "$root" CI="${CI:-}" TIERS="$tiers" \
        PG_MAJOR="$major" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" \
        DUROXIDE_OLD_SRC=/build/duroxide-0.1.0 \
        REGRESS_ONLY="${REGRESS_ONLY:-}" ISOLATION_ONLY="${ISOLATION_ONLY:-}" TAP_ONLY="${TAP_ONLY:-}" \
        NODE_ONLY="${NODE_ONLY:-}" \
        KEEP_TMP="${KEEP_TMP:-0}" \
        bash /build/duroxide/scripts/test.sh 2>&1 | tee "$out"
    stop_root_processes "$root"
    unmount_all

    # the tier lines of test.sh's summary, and its totals (its last line)
    SUMMARY+=("PostgreSQL $major (Debian $suite, $(in_root "$root" /usr/lib/postgresql/"$major"/bin/postgres --version 2>/dev/null | awk '{print $3}')):")
    [ -z "$node_note" ] || SUMMARY+=("($node_note)")
    while IFS= read -r line; do
        SUMMARY+=("$line")
    done < <(awk '/^======== summary ========$/ { s = 1; next } s' "$out" | sed '$d')
    line="$(tail -n 1 "$out")"
    if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed="${BASH_REMATCH[1]}" failed="${BASH_REMATCH[2]}"
        [ "$passed" -eq 0 ] && failed=$((failed + 1))
    else
        SUMMARY+=("test.sh ended without a result line")
        passed=0 failed=1
    fi
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    rm -f "$out"
    say "PostgreSQL $major took $((SECONDS - t0)) s"
}

if [ "$(id -u)" -ne 0 ]; then
    say "must run as root (debootstrap, chroot, mount)"
    echo "0 passed, 1 failed"
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap; } \
        >/tmp/duroxide-debootstrap-install.log 2>&1 ||
        { tail -n 30 /tmp/duroxide-debootstrap-install.log; echo "0 passed, 1 failed"; exit 1; }
fi

for v in "${VERSIONS[@]}"; do
    run_version "$v"
done

cleanup
trap - EXIT
banner "summary (other versions)"
for line in "${SUMMARY[@]}"; do
    printf '%s\n' "$line"
done
echo "${TOTAL_PASSED} passed, ${TOTAL_FAILED} failed"
[ "$TOTAL_FAILED" -eq 0 ] && [ "$TOTAL_PASSED" -gt 0 ]
