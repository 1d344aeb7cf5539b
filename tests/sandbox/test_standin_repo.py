"""The local package repository installs everything the roles need, with no network at all."""

import pytest
from cattle_sandbox.standin import paths, repo

pytestmark = pytest.mark.standin


def test_every_listed_package_installs_offline(standin):
    packages = repo.read_package_list(paths.PACKAGES_FILE)
    standin.run(["apt-get", "update", "-q"], timeout=120)
    # Recommends too, as a role's plain `apt: name=...` would: missing ones must not break it.
    install = standin.run(["apt-get", "install", "-y", "-q", *packages], timeout=600, check=False)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    states = standin.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages]).stdout
    assert sorted(states.split("\n")[:-1]) == sorted(f"{name} installed" for name in packages)


def test_lynis_runs_after_an_offline_install(standin):
    standin.run(["apt-get", "update", "-q"], timeout=120)
    standin.run(["apt-get", "install", "-y", "-q", "lynis"], timeout=300)
    version = standin.run(["lynis", "--version"]).stdout.strip()
    assert version.split(".")[0].isdigit(), version
