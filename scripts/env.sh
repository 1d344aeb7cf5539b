# shellcheck shell=bash
# Shared settings for the scripts; sourced, not run.
# Caches live outside the clone so a fresh clone reuses them; override with CATTLE_CACHE.
export CATTLE_CACHE="${CATTLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cattle-immutable}"
