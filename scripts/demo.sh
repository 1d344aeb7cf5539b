#!/usr/bin/env bash
# The sandbox demo: start the local AWS, run the demo playbook against it, stop it.
# Runs itself inside a private network namespace so nothing can leave the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CATTLE_IN_NETNS:-}" != "1" ]; then
  exec scripts/in-netns bash "$0" "$@"
fi
REPO=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cattle-demo.XXXXXX")
SANDBOX_PID=

stop_sandbox() {
  if [ -n "$SANDBOX_PID" ] && kill -0 "$SANDBOX_PID" 2>/dev/null; then
    kill -TERM "$SANDBOX_PID"
    wait "$SANDBOX_PID" || true
    echo "demo: sandbox stopped"
  fi
  rm -rf "$WORK"
}
trap stop_sandbox EXIT

start_sandbox() {
  PYTHONPATH=sandbox .venv/bin/python -m cattle_sandbox.aws serve --env-file "$WORK/aws.env" >"$WORK/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  for _ in $(seq 100); do
    [ -s "$WORK/aws.env" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$WORK/sandbox.log"; echo "demo: the sandbox failed to start"; exit 1; }
    sleep 0.1
  done
  [ -s "$WORK/aws.env" ] || { echo "demo: the sandbox did not start within 10 s"; exit 1; }
  # shellcheck disable=SC1091
  . "$WORK/aws.env"
  echo "demo: sandbox AWS at $AWS_ENDPOINT_URL (region $AWS_REGION, no AWS account involved)"
}

link_collection() {
  mkdir -p "$WORK/collections/ansible_collections/cattle"
  ln -s "$REPO" "$WORK/collections/ansible_collections/cattle/immutable"
}

start_sandbox
link_collection
ANSIBLE_COLLECTIONS_PATH="$WORK/collections" ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
  .venv/bin/ansible-playbook sandbox/demo/first-image.yml
