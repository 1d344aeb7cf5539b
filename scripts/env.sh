# shellcheck shell=bash
# Shared settings for the scripts; sourced, not run.
# Caches live outside the clone so a fresh clone reuses them; override with CATTLE_CACHE.
export CATTLE_CACHE="${CATTLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cattle-immutable}"

# The python$1 that runs an end of the tests: pyenv's newest build of it (these machines
# have 3.11-3.13 that way), else the one on PATH; none is an error naming the version.
find_python() {
  local version=$1 end=$2 builds index
  builds=("${PYENV_ROOT:-$HOME/.pyenv}/versions/$version".*/bin/"python$version")
  for ((index = ${#builds[@]} - 1; index >= 0; index--)); do
    if "${builds[index]}" --version >/dev/null 2>&1; then echo "${builds[index]}"; return 0; fi
  done
  if command -v "python$version" >/dev/null && "python$version" --version >/dev/null 2>&1; then
    command -v "python$version"
    return 0
  fi
  echo "setup: Python $version is missing: it runs the $end end of the tests (install it, e.g. pyenv install $version, then run make setup again)" >&2
  return 1
}
