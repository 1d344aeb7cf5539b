#!/usr/bin/env bash
# Builds the collection tarball, checks it holds no venv, cache, image or build output,
# installs it offline into a scratch path, loads a module's docs from there, and checks that
# every playbook loads as `ansible-playbook cattle.immutable.<name>` from the installed copy
# (run outside the checkout, so nothing resolves to it).
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
PLAYBOOKS=()
for playbook in playbooks/*.yml; do
  name=$(basename "$playbook" .yml)
  (cd "$WORK" && ANSIBLE_COLLECTIONS_PATH="$WORK/installed" "$VENV_BIN/ansible-playbook" --syntax-check \
    "cattle.immutable.$name" >/dev/null 2>&1) || { echo "build: cattle.immutable.$name does not load from the tarball"; exit 1; }
  PLAYBOOKS+=("$name")
done
echo "build: $(basename "$TARBALL") is ${SIZE_KB} KiB, installs offline, loads cattle.immutable.image_info" \
  "and the playbooks ${PLAYBOOKS[*]}"
