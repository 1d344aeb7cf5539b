"""Where the stand-in's cached inputs and running instances live (never in the repo)."""

import os
from pathlib import Path

SANDBOX_DIR = Path(__file__).resolve().parents[2]
PACKAGES_FILE = SANDBOX_DIR / "packages.txt"


def cache_root() -> Path:
    """$CATTLE_CACHE, with the same default as scripts/env.sh."""
    configured = os.environ.get("CATTLE_CACHE")
    if configured:
        return Path(configured)
    xdg_cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg_cache) / "cattle-immutable"


def standin_cache() -> Path:
    """Base image tarballs and package repositories."""
    return cache_root() / "standin"


def run_root() -> Path:
    """Working directories of running stand-ins (root file system copies, keys, logs)."""
    return cache_root() / "run"


def metadata_registry() -> Path:
    """What the metadata service knows of each live instance, by stand-in address (imds.py)."""
    return run_root() / "imds"
