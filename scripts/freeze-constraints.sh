#!/usr/bin/env bash
# Refreezes every transitive pin of both ends after a change to requirements/*.txt:
# constraints.txt (the newest end, Python 3.13) and oldest-constraints.txt (Python 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh

freeze() {
  local python=$1 requirements=$2 output=$3 scratch
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/cattle-freeze.XXXXXX")
  "$python" -m venv "$scratch/venv"
  "$scratch/venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  { echo "# Every package of $(basename "$requirements")'s environment ($("$python" --version)), frozen."
    echo "# Regenerate with: make constraints"
    "$scratch/venv/bin/pip" freeze; } >"$output"
  rm -rf "$scratch"
  echo "constraints: $output ($(grep -vc '^#' "$output") packages)"
}

freeze "$(find_python 3.13 newest)" requirements/test.txt requirements/constraints.txt
freeze "$(find_python 3.11 oldest)" requirements/oldest.txt requirements/oldest-constraints.txt
