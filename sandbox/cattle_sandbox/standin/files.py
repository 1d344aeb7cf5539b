"""A stand-in's working directory: the root file system copy and what is generated per boot."""

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from . import commands
from .base_image import ADMIN_USER, HOST_KEY

LISTEN_CONFIG = "/etc/ssh/sshd_config.d/20-cattle-listen.conf"
ROOT_SOURCE = "cattle-standin"  # the source mountinfo shows for a stand-in's root
# volatile: no syncs reach the disk (the upper directory is thrown away with the stand-in).
# redirect_dir=on: directories of the image can be renamed, as on a real disk (else EXDEV).
OVERLAY_OPTIONS = ("volatile", "redirect_dir=on")
SSHD_UNITS = ("ssh.service", "sshd.service", "ssh.socket")  # Debian's names for what starts sshd


@dataclass(frozen=True)
class InstanceFiles:
    work: Path

    @property
    def root(self):
        return self.work / "root"

    @property
    def upper(self):
        """What the stand-in writes to its root (the overlay's upper directory)."""
        return self.work / "upper"

    @property
    def overlay_work(self):
        """The overlay's own scratch directory (its workdir), on the upper directory's file system."""
        return self.work / "overlay-work"

    @property
    def console_log(self):
        return self.work / "console.log"

    @property
    def private_key(self):
        return self.work / "admin_ed25519"

    @property
    def public_key(self):
        return self.work / "admin_ed25519.pub"

    @property
    def known_hosts(self):
        return self.work / "known_hosts"

    @property
    def inventory(self):
        return self.work / "inventory.yml"

    @property
    def ssh_control(self):
        return self.work / "ssh-control"

    @property
    def ansible_control_dir(self):
        """ANSIBLE_SSH_CONTROL_PATH_DIR for Packer's ansible runs (see StandIn.packer_ansible_env_vars)."""
        return self.work / "ansible-cp"

    @property
    def state(self):
        return self.work / "state.json"


def mount_root_overlay(files, lower):
    """files.root: an overlay of the shared, never written copy `lower` (shared_roots.py) and
    the stand-in's own upper directory on disk. A stand-in's root then costs it what it writes,
    on disk; a whole copy in a tmpfs cost about 230 MiB of memory per stand-in."""
    for directory in (lower, files.upper, files.overlay_work):
        if "," in str(directory) or ":" in str(directory):
            raise ValueError(f"{directory} contains ',' or ':', which overlayfs' mount options cannot take")
    for directory in (files.root, files.upper, files.overlay_work):
        directory.mkdir()
    # The upper directory's owner and mode are those of the merged root: the image's.
    image_root = os.stat(lower)
    os.chown(files.upper, image_root.st_uid, image_root.st_gid)
    os.chmod(files.upper, image_root.st_mode & 0o7777)
    options = [f"lowerdir={lower}", f"upperdir={files.upper}", f"workdir={files.overlay_work}", *OVERLAY_OPTIONS]
    commands.run(["mount", "-t", "overlay", "-o", ",".join(options), ROOT_SOURCE, files.root])


def extract_tarball(tarball, directory):
    """A zstd-compressed image tarball (base image, AMI content) into directory, owners and xattrs kept."""
    commands.run(
        ["tar", "--extract", "--file", tarball, "--directory", directory, "--numeric-owner",
         "--xattrs", "--xattrs-include=*", "--acls", "--use-compress-program=zstd"],
        timeout=300,
    )


def personalize(files, *, machine, address, port, keys=True):
    """Per-boot secrets and settings, written into the copy before it boots.

    keys=False writes only what the instance's network gives it (the address sshd listens
    on, /etc/hosts with the machine name): no host key, no authorized key, as for an image
    booted as it is.
    """
    write_file(in_root(files.root, LISTEN_CONFIG),
               f"# This boot's address (written per boot by cattle_sandbox.standin).\nListenAddress {address}:{port}\n")
    write_file(in_root(files.root, "/etc/hosts"), hosts_file(machine))
    if not keys:
        return
    # An image may carry its build instance's host keys; like cloud-init (ssh_deletekeys),
    # each boot replaces them with its own.
    for old_key in in_root(files.root, "/etc/ssh").glob("ssh_host_*"):
        old_key.unlink()
    host_public_key = generate_key(in_root(files.root, HOST_KEY), f"{machine} host key")
    admin_public_key = generate_key(files.private_key, f"{ADMIN_USER}@{machine}")
    authorize_key(files.root, ADMIN_USER, admin_public_key)
    write_file(files.known_hosts, known_hosts_line(address, port, host_public_key))
    write_file(files.inventory, inventory_yaml(files, machine=machine, address=address, port=port))


def sshd_enabled(root):
    """Whether the copy starts sshd at boot: ssh.service or ssh.socket wanted by a target, not masked."""
    units = in_root(root, "/etc/systemd/system")
    wants = list(units.glob("*.wants"))
    for unit in SSHD_UNITS:
        if (units / unit).is_symlink() and os.readlink(units / unit) == "/dev/null":
            continue  # masked
        # lexists: the links point into the image (/lib/...), which the host may not have.
        if any(os.path.lexists(directory / unit) for directory in wants):
            return True
    return False


def generate_key(private_key_path, comment):
    """A fresh ed25519 key pair; returns the public key line."""
    private_key_path.parent.mkdir(parents=True, exist_ok=True)
    commands.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", private_key_path])
    return Path(f"{private_key_path}.pub").read_text().strip()


def authorize_key(root, user, public_key):
    uid, gid, home = passwd_entry(root, user)
    ssh_dir = in_root(root, home) / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized_keys = ssh_dir / "authorized_keys"
    authorized_keys.write_text(public_key + "\n")
    authorized_keys.chmod(0o600)
    for path in (ssh_dir, authorized_keys):
        os.chown(path, uid, gid)


def passwd_entry(root, user):
    """(uid, gid, home) from the image's /etc/passwd, not the host's."""
    for line in in_root(root, "/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3]), fields[5]
    raise KeyError(f"user {user} is not in the stand-in's /etc/passwd")


def hosts_file(machine):
    # sudo resolves its own host name; without this line it warns on every call.
    return (
        "127.0.0.1\tlocalhost\n"
        f"127.0.1.1\t{machine}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
    )


def known_hosts_line(address, port, host_public_key):
    key_type, key_data = host_public_key.split()[:2]
    host = address if port == 22 else f"[{address}]:{port}"
    return f"{host} {key_type} {key_data}\n"


def inventory_yaml(files, *, machine, address, port):
    """An Ansible YAML inventory; values are JSON strings, which YAML reads as they are."""
    common_args = " ".join([
        "-o StrictHostKeyChecking=yes",
        f"-o UserKnownHostsFile={shlex.quote(str(files.known_hosts))}",
        "-o GlobalKnownHostsFile=/dev/null",
        "-o IdentitiesOnly=yes",
    ])
    # Our own ControlPath, so stop() can end the persistent connection Ansible leaves behind.
    ssh_args = f"-C -o ControlMaster=auto -o ControlPersist=60s -o ControlPath={shlex.quote(str(files.ssh_control))}"
    host_vars = {
        "ansible_host": address,
        "ansible_port": port,
        "ansible_user": ADMIN_USER,
        "ansible_ssh_private_key_file": str(files.private_key),
        "ansible_ssh_common_args": common_args,
        "ansible_ssh_args": ssh_args,
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    lines = [
        f"# Stand-in {machine}, written by cattle_sandbox.standin; valid while it runs.",
        "all:",
        "  children:",
        "    standin:",
        "      hosts:",
        f"        {machine}:",
    ]
    lines += [f"          {key}: {json.dumps(value)}" for key, value in host_vars.items()]
    return "\n".join(lines) + "\n"


def write_file(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def in_root(root, path):
    return Path(root) / str(path).lstrip("/")
