#!/usr/bin/env bash
# The sandbox demo: the whole flow of cattle.immutable against the local sandbox (no AWS
# account): one load balancer per stage, then playbooks/pipeline.yml for version 1.0.0
# (Packer builds the golden image in a booted build-instance stand-in; promote and deploy
# dev, staging, prod; cleanup) and again for 2.0.0 (blue-green in every stage, the old
# fleets retired), then stop everything. The steps are in sandbox/demo/run_demo.py.
# Runs itself inside a private network namespace so nothing can leave the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CATTLE_IN_NETNS:-}" != "1" ]; then
  exec scripts/in-netns bash "$0" "$@"
fi
# Python's own buffering would hold back the progress lines.
exec env PYTHONUNBUFFERED=1 .venv/bin/python sandbox/demo/run_demo.py "$@"
