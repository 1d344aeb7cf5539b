#!/usr/bin/env bash
# Runs `molecule test` for every role scenario (roles/*/molecule/*/) and the harness's own
# scenario, MOLECULE_JOBS at a time, and prints one line per scenario. Exits non-zero if any
# failed. Arguments narrow the run: ROLE or ROLE/SCENARIO (e.g. image_validate/default).
# Called by `make molecule`, inside scripts/in-netns: one private network namespace for the
# whole run, which the stand-ins' holders and ansible-playbook share.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo_root=$PWD
log_dir="$repo_root/.cache/molecule-logs"
base_config="$repo_root/.config/molecule/config.yml"
mkdir -p "$log_dir"
export PATH="$repo_root/.venv/bin:$PATH" NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

scenarios=()
for molecule_yml in tests/molecule/harness/molecule/*/molecule.yml roles/*/molecule/*/molecule.yml; do
  [ -e "$molecule_yml" ] || continue
  scenario_dir=$(dirname "$molecule_yml")
  project=$(dirname "$(dirname "$scenario_dir")")
  label="$(basename "$project")/$(basename "$scenario_dir")"
  if [ $# -gt 0 ]; then
    wanted=no
    for filter in "$@"; do
      [ "$filter" = "$label" ] || [ "$filter" = "$(basename "$project")" ] && wanted=yes
    done
    [ "$wanted" = yes ] || continue
  fi
  scenarios+=("$project|$(basename "$scenario_dir")|$label")
done
[ ${#scenarios[@]} -gt 0 ] || { echo "molecule: no scenario matches: $*"; exit 1; }

# One scenario, its output in its own log; prints its result line. Several run at once
# (MOLECULE_JOBS, default 2): each boots its own stand-in and has its own ephemeral dir.
run_scenario() {
  local project=$1 scenario=$2 label=$3 log start
  log="$log_dir/${label//\//-}.log"
  start=$SECONDS
  # The base config named, not looked up: molecule looks for it only in a git checkout's root.
  if (cd "$project" && molecule --base-config "$base_config" test -s "$scenario") >"$log" 2>&1; then
    echo "molecule: $label passed in $((SECONDS - start)) s"
  else
    echo "molecule: $label FAILED after $((SECONDS - start)) s (log: ${log#"$repo_root/"}); its last lines:"
    tail -n 40 "$log" | sed 's/^/    /'
    return 1
  fi
}

jobs_max=${MOLECULE_JOBS:-2}
failed=0
running=0
for entry in "${scenarios[@]}"; do
  IFS='|' read -r project scenario label <<<"$entry"
  if [ "$running" -ge "$jobs_max" ]; then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
  run_scenario "$project" "$scenario" "$label" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
echo "molecule: $((${#scenarios[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
