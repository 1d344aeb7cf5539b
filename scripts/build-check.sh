#!/usr/bin/env bash
# Builds the collection tarball, checks it holds no venv, cache, image or build output,
# installs it offline into a scratch path and loads a module's docs from there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN=$PWD/.venv/bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cattle-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"$VENV_BIN/ansible-galaxy" collection build --output-path "$WORK" . >/dev/null
TARBALL=$(ls "$WORK"/cattle-immutable-*.tar.gz)
SIZE_KB=$(( $(stat -c %s "$TARBALL") / 1024 ))
if tar -tzf "$TARBALL" | grep -E '(^|/)(\.venv|\.cache|\.git|tests/output|__pycache__)(/|$)|\.(tar\.gz|tar\.zst|qcow2|img)$'; then
  echo "build: the tarball holds files that do not belong in it (above)"; exit 1
fi
"$VENV_BIN/ansible-galaxy" collection install --offline --no-deps -p "$WORK/installed" "$TARBALL" >/dev/null 2>&1
ANSIBLE_COLLECTIONS_PATH="$WORK/installed" "$VENV_BIN/ansible-doc" cattle.immutable.image_info >/dev/null
echo "build: $(basename "$TARBALL") is ${SIZE_KB} KiB, installs offline and loads cattle.immutable.image_info"
