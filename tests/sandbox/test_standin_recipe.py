"""The stand-in's recipes and helpers, without booting anything."""

import hashlib
import os
import subprocess

import pytest
import yaml
from cattle_sandbox.standin import LooksLikeHost, base_image, cgroups, files, mirror, namespaces, network, paths, repo

DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: {keyring}

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_comes_from_deb822_sources(tmp_path):
    keyring = tmp_path / "archive.gpg"
    keyring.write_bytes(b"key")
    (tmp_path / "debian.sources").write_text(DEB822.format(keyring=keyring))
    found = mirror.debian_mirror("bookworm", sources_list=tmp_path / "none", sources_dir=tmp_path)
    assert found == mirror.Mirror(uri="http://mirror.example/debian", keyring=str(keyring))


def test_mirror_skips_disabled_and_other_suites(tmp_path, monkeypatch):
    monkeypatch.delenv(mirror.MIRROR_OVERRIDE_ENV, raising=False)
    (tmp_path / "a.sources").write_text(
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n"
    )
    (tmp_path / "b.sources").write_text(
        "Types: deb\nURIs: http://old.example/debian\nSuites: bullseye\nComponents: main\n"
    )
    with pytest.raises(mirror.MirrorNotFound, match="bookworm main"):
        mirror.debian_mirror("bookworm", sources_list=tmp_path / "none", sources_dir=tmp_path)


def test_mirror_comes_from_one_line_sources(tmp_path, monkeypatch):
    monkeypatch.delenv(mirror.MIRROR_OVERRIDE_ENV, raising=False)
    sources_list = tmp_path / "sources.list"
    sources_list.write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/nonexistent.gpg] http://one.example/debian bookworm main contrib\n"
    )
    found = mirror.debian_mirror("bookworm", sources_list=sources_list, sources_dir=tmp_path / "none")
    # A keyring that does not exist is not handed to debootstrap.
    assert found == mirror.Mirror(uri="http://one.example/debian", keyring="")


def test_mirror_of_this_host_is_found():
    """setup runs debootstrap with it: the host's own apt sources must name one."""
    assert mirror.debian_mirror(base_image.SUITE).uri.startswith(("http://", "https://", "file:"))


def test_package_list_ignores_comments_and_rejects_nonsense(tmp_path):
    listed = tmp_path / "packages.txt"
    listed.write_text("# comment\n\nlynis  # the judge\nauditd\n")
    assert repo.read_package_list(listed) == ["lynis", "auditd"]
    listed.write_text("lynis; rm -rf /\n")
    with pytest.raises(repo.PackageListError, match="not a Debian package name"):
        repo.read_package_list(listed)
    listed.write_text("# nothing\n")
    with pytest.raises(repo.PackageListError, match="lists no packages"):
        repo.read_package_list(listed)


def test_packages_list_has_what_the_roles_install():
    listed = set(repo.read_package_list(paths.PACKAGES_FILE))
    assert {"lynis", "auditd", "prometheus-node-exporter", "libpam-pwquality"} <= listed


def test_repo_key_follows_the_package_set_only():
    key = repo.repo_key(["lynis", "auditd"], "amd64")
    assert repo.repo_key(["auditd", "lynis", "lynis"], "amd64") == key
    assert repo.repo_key(["lynis", "auditd", "sudo"], "amd64") != key
    assert repo.repo_key(["lynis", "auditd"], "arm64") != key


def test_dependency_listing_keeps_real_native_packages():
    output = "lynis\n  Depends: <debconf-2.0>\n    cdebconf\n<debconf-2.0>\nlibc6:i386\ncdebconf\n"
    assert list(repo.concrete_packages(output)) == ["lynis", "cdebconf"]


def test_release_lists_index_hashes(tmp_path):
    (tmp_path / "Packages").write_text("Package: x\n")
    (tmp_path / "Packages.gz").write_bytes(b"gz")
    release = repo.release_text(tmp_path).splitlines()
    packages_hash = hashlib.sha256(b"Package: x\n").hexdigest()
    gz_hash = hashlib.sha256(b"gz").hexdigest()
    assert release[release.index("SHA256:") + 1 :] == [f" {packages_hash} 11 Packages", f" {gz_hash} 2 Packages.gz"]


def test_recipe_key_changes_with_the_recipe(monkeypatch):
    key = base_image.recipe_key()
    changed = dict(base_image.BAKED_FILES)
    changed["/etc/motd"] = (0o644, "hello\n")
    monkeypatch.setattr(base_image, "BAKED_FILES", changed)
    assert base_image.recipe_key() != key
    monkeypatch.setattr(base_image, "BAKED_FILES", dict(base_image.BAKED_FILES))
    monkeypatch.setattr(base_image, "RECIPE_VERSION", "999")
    assert base_image.recipe_key() != key


def test_known_hosts_line_uses_brackets_only_for_other_ports():
    public = "ssh-ed25519 AAAAC3Nza host@x"
    assert files.known_hosts_line("169.254.3.2", 22, public) == "169.254.3.2 ssh-ed25519 AAAAC3Nza\n"
    assert files.known_hosts_line("169.254.3.2", 2222, public) == "[169.254.3.2]:2222 ssh-ed25519 AAAAC3Nza\n"


def test_inventory_is_yaml_ansible_reads(tmp_path):
    instance_files = files.InstanceFiles(tmp_path / "with space")
    text = files.inventory_yaml(instance_files, machine="cattle-si-9", address="169.254.9.2", port=22)
    host = yaml.safe_load(text)["all"]["children"]["standin"]["hosts"]["cattle-si-9"]
    assert host["ansible_host"] == "169.254.9.2" and host["ansible_port"] == 22
    assert host["ansible_user"] == "admin" and host["ansible_python_interpreter"] == "/usr/bin/python3"
    assert host["ansible_ssh_private_key_file"] == str(instance_files.private_key)
    assert f"UserKnownHostsFile='{instance_files.known_hosts}'" in host["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in host["ansible_ssh_common_args"]
    assert f"ControlPath='{instance_files.ssh_control}'" in host["ansible_ssh_args"]


def test_nsenter_refuses_the_host():
    with pytest.raises(LooksLikeHost, match="shares the host's mnt namespace"):
        namespaces.nsenter_argv(os.getpid(), ["sysctl", "-w", "kernel.printk=4"])
    with pytest.raises(LooksLikeHost, match="cannot read"):
        namespaces.ensure_not_host(2**22 + 12345)  # beyond pid_max: no such process


def test_prepared_base_image_has_no_host_keys_and_only_the_local_source():
    """What `make setup` built: nothing per-boot or network-bound is baked in."""
    image = base_image.base_image_path()
    if not image.is_file():
        pytest.fail(f"{image} missing: run `make setup`", pytrace=False)
    names = subprocess.run(
        ["tar", "--use-compress-program=zstd", "-tf", image], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [name for name in names if "/etc/ssh/ssh_host_" in name]
    assert "./etc/apt/sources.list" not in names
    assert "./etc/apt/sources.list.d/cattle-repo.list" in names
    assert not [name for name in names if name.startswith("./home/admin/.ssh/")]


def test_slot_search_starts_somewhere_new_each_time(tmp_path, monkeypatch):
    """A slot just released is not the first one offered to the next stand-in."""
    monkeypatch.setenv("CATTLE_CACHE", str(tmp_path))
    orders = [network.search_order() for _attempt in range(3)]
    assert all(sorted(order) == sorted(network.SLOTS) for order in orders)
    assert len({order[0] for order in orders}) == 3
    assert 169 not in network.SLOTS


def test_cgroup_join_keeps_the_pid_of_the_program(tmp_path):
    """The wrapper writes its pid to every cgroup.procs, then execs: the program has that pid."""
    groups = [tmp_path / "systemd", tmp_path / "unified"]
    for group in groups:
        group.mkdir()
    argv = cgroups.joined_argv(groups, ["sh", "-c", "echo $$"])
    program_pid = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    assert [(group / "cgroup.procs").read_text().strip() for group in groups] == [program_pid, program_pid]


def test_cgroup_join_failure_stops_before_the_program(tmp_path):
    argv = cgroups.joined_argv([tmp_path / "missing"], ["sh", "-c", "echo started"])
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 125 and "started" not in result.stdout
