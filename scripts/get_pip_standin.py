"""Stands in for the pip bootstrap script that `ansible-test --venv` downloads.

That script's host is not reachable from our build machines; the venv's own ensurepip
plus the configured package index do the same job.
"""

import ensurepip
import os
import subprocess
import sys

IGNORED_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main():
    ensurepip.bootstrap()
    # ensurepip points PIP_CONFIG_FILE at /dev/null, which would hide the machine's
    # pip configuration (index, certificates) from the install below.
    os.environ.pop("PIP_CONFIG_FILE", None)
    options = [arg for arg in sys.argv[1:] if arg not in IGNORED_OPTIONS]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + options))


if __name__ == "__main__":
    main()
