#!/usr/bin/env bash
# Builds the collection tarball and checks what is in it: every file users need (plugins,
# roles, playbooks and their tasks, the golden Packer template, meta/, docs/, awx/, LICENSE,
# README.md) is there, and nothing of the test tooling (sandbox/, benchmarks/, tests/, the
# tests' Packer template, molecule scenarios), no venv, cache, image or build output is.
# Each problem is named by its path. Then it installs the tarball offline into a scratch
# path, loads a module's docs from there, and checks that every playbook loads as
# `ansible-playbook cattle.immutable.<name>` from the installed copy (run outside the
# checkout, so nothing resolves to it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN=$PWD/.venv/bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cattle-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Files of the checkout (tracked, or new and not ignored by git) under a product path.
product_files() {
  git ls-files --cached --others --exclude-standard -- "$@" | grep -Ev '(^|/)molecule/' || true
}

# Top-level directories the tests or the build machine need, and names that never ship.
FORBIDDEN='^(sandbox|benchmarks|tests|scripts|requirements|build|packer/sandbox-smoke)(/|$)'
FORBIDDEN+='|(^|/)(\.venv|venv|\.tox|\.cache|\.ansible|\.pytest_cache|\.mypy_cache|\.ruff_cache|\.git|__pycache__|molecule)(/|$)'
FORBIDDEN+='|^changelogs/\.plugin-cache\.yaml$|\.(pyc|tar\.gz|tar\.zst|qcow2|img|raw)$'

"$VENV_BIN/ansible-galaxy" collection build --output-path "$WORK" . >/dev/null
TARBALL=$(ls "$WORK"/cattle-immutable-*.tar.gz)
SIZE_KB=$(( $(stat -c %s "$TARBALL") / 1024 ))
tar -tzf "$TARBALL" | sed 's|^\./||; s|/$||' | sort -u >"$WORK/contents"
FILE_COUNT=$(tar -tzvf "$TARBALL" | grep -cv '^d')

problems=0
while IFS= read -r path; do
  echo "build: $path is in the tarball but must not be (test tooling, a venv, a cache or build output)"
  problems=$((problems + 1))
done < <(grep -E "$FORBIDDEN" "$WORK/contents" || true)

{
  printf '%s\n' LICENSE README.md meta/runtime.yml meta/execution-environment.yml
  product_files plugins roles playbooks packer/golden meta docs awx changelogs/changelog.yaml
} | sort -u >"$WORK/expected"
# The directories themselves too: an empty listing above must still fail.
printf '%s\n' plugins/modules plugins/module_utils roles playbooks playbooks/tasks packer/golden docs awx >>"$WORK/expected"
while IFS= read -r path; do
  grep -qxF "$path" "$WORK/contents" || {
    echo "build: $path is missing from the tarball"
    problems=$((problems + 1))
  }
done <"$WORK/expected"
if [ "$problems" -gt 0 ]; then
  echo "build: $(basename "$TARBALL"): $problems problem(s) above; see build_ignore in galaxy.yml"
  exit 1
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
echo "build: $(basename "$TARBALL") is ${SIZE_KB} KiB, ${FILE_COUNT} files, holds what users need and no test" \
  "tooling, installs offline, loads cattle.immutable.image_info and the playbooks ${PLAYBOOKS[*]}"
