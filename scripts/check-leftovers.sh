#!/usr/bin/env bash
# After the tests: nothing of the sandbox may be left running or mounted.
set -euo pipefail
problems=()
for pattern in 'systemd-nspawn' 'cattle_sandbox' 'packer build' 'moto_server' 'sshd: admin'; do
  if pids=$(pgrep -f -- "$pattern" | grep -vx "$$" || true) && [ -n "$pids" ]; then
    problems+=("process matching '$pattern': ${pids//$'\n'/ }")
  fi
done
if ip netns list 2>/dev/null | grep -q '^cattle-'; then
  problems+=("network namespaces: $(ip netns list | grep '^cattle-' | tr '\n' ' ')")
fi
if grep -E 'cattle' /proc/self/mountinfo >/dev/null; then
  problems+=("mounts: $(grep -E 'cattle' /proc/self/mountinfo | awk '{print $5}' | tr '\n' ' ')")
fi
if ip -o link show 2>/dev/null | grep -q 'cattle'; then
  problems+=("links: $(ip -o link show | grep cattle | awk -F': ' '{print $2}' | tr '\n' ' ')")
fi
if [ ${#problems[@]} -gt 0 ]; then
  printf 'leftovers after the tests:\n'; printf '  %s\n' "${problems[@]}"; exit 1
fi
echo "leftovers: none (no sandbox process, namespace, mount or link remains)"
