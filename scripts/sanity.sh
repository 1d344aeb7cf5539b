#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/<ns>/<name>, with the
# collections it imports beside it: lay out a copy in a temporary tree and run it there.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# The end to check (README, "Tested with"): .venv, the newest, unless CATTLE_VENV names another.
VENV_BIN=$REPO/${CATTLE_VENV:-.venv}/bin
PYTHON_VERSION=$("$VENV_BIN/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
SITE=$("$VENV_BIN/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

install_pip_bootstrap_standin() {
  local pip_version cache
  # The pip version ansible-test bootstraps its venvs with (get_venv_packages' default).
  pip_version=$(grep -oP "^\s+pip='\K[0-9.]+" "$SITE/ansible_test/_internal/python_requirements.py")
  cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  if [ ! -f "$cache" ]; then
    mkdir -p "$(dirname "$cache")"
    cp scripts/get_pip_standin.py "$cache"
  fi
}

lay_out_collection() {
  local root=$1 dest=$1/ansible_collections/cattle/immutable
  mkdir -p "$dest" "$root/ansible_collections/amazon"
  git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents -P {} "$dest/" 2>/dev/null || true
  cp -a "$SITE/ansible_collections/amazon/aws" "$root/ansible_collections/amazon/aws"
  # ansible-test lists files with git when there is a repository: give it one.
  (cd "$dest" && git init -q && git add -A)
  echo "$dest"
}

install_pip_bootstrap_standin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cattle-sanity.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DEST=$(lay_out_collection "$WORK")
cd "$DEST"
PATH="$VENV_BIN:$PATH" ansible-test sanity --venv --python "$PYTHON_VERSION" --color no "$@"
