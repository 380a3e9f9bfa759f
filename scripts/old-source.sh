#!/usr/bin/env bash
# scripts/old-source.sh DEST -- the source of duroxide 0.1.0, for the upgrade tests
#
# Exports the released 0.1.0 tree from git (tag v0.1.0; a fresh clone without
# tags falls back to the commit, and a shallow clone fetches it) into DEST,
# then applies the version shims of src/compat.h to it, so that 0.1.0 builds
# on the PostgreSQL versions that came after it (17 removed
# PGPROC.pgprocno, 18 pg_attribute_noreturn()).  Nothing else is changed:
# the SQL and the engine are 0.1.0's.
set -euo pipefail
dest="${1:?usage: old-source.sh DEST}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OLD_TAG=v0.1.0
OLD_COMMIT=ceeafd68c56f09568c9c6c3b3c1da82a66643a47

git_() { git -c safe.directory="$ROOT" -C "$ROOT" "$@"; }

if ! git_ rev-parse --git-dir >/dev/null 2>&1; then
    echo "old-source.sh: $ROOT is not a git checkout" >&2
    exit 1
fi
rev=""
for r in "$OLD_TAG^{commit}" "$OLD_COMMIT^{commit}"; do
    if git_ rev-parse -q --verify "$r" >/dev/null 2>&1; then
        rev="$(git_ rev-parse "$r")"
        break
    fi
done
if [ -z "$rev" ]; then
    # a shallow or partial clone: ask the remote for the commit
    git_ fetch -q origin "$OLD_COMMIT" >/dev/null 2>&1 || git_ fetch -q --unshallow >/dev/null 2>&1 || true
    git_ rev-parse -q --verify "$OLD_COMMIT^{commit}" >/dev/null 2>&1 && rev="$OLD_COMMIT"
fi
if [ -z "$rev" ]; then
    echo "old-source.sh: neither tag $OLD_TAG nor commit $OLD_COMMIT is in this clone" >&2
    exit 1
fi
mkdir -p "$dest"
git_ archive --format=tar "$rev" | tar -C "$dest" -xf -

# the version shims, and nothing else
cp "$ROOT/src/compat.h" "$dest/src/compat.h"
for f in shmem.c replay.c; do
    sed -i -e 's/MyProc->pgprocno/DxMyProcNumber()/g' \
           -e 's/^static void pg_attribute_noreturn()$/DX_NORETURN static void/' \
           -e '0,/^#include "postgres.h"$/s//#include "postgres.h"\n#include "compat.h"/' \
        "$dest/src/$f"
done
echo "$rev" > "$dest/.duroxide-commit"
