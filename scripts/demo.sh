#!/usr/bin/env bash
# The sandbox demo: the whole flow of cattle.immutable against the local sandbox (no AWS
# account): build the golden image with Packer in a booted build-instance stand-in, promote
# it dev -> staging -> prod, deploy it, build and deploy a second version blue-green, retire
# the old fleet, then stop everything. The steps are in sandbox/demo/run_demo.py.
# Runs itself inside a private network namespace so nothing can leave the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CATTLE_IN_NETNS:-}" != "1" ]; then
  exec scripts/in-netns bash "$0" "$@"
fi
# Python's own buffering would hold back the progress lines.
exec env PYTHONUNBUFFERED=1 .venv/bin/python sandbox/demo/run_demo.py "$@"
