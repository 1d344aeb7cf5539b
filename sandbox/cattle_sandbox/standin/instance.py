"""A booted stand-in for the EC2 build instance: Debian 12 under systemd-nspawn, reached over SSH.

Each instance gets a fresh copy of the base image, its own network namespace and veth
pair (network.py), its own ed25519 host key and admin key pair, and is torn down
completely: no process, mount, namespace, interface or file of it remains.

    with StandIn(find_prepared()) as standin:
        standin.ssh(["sudo", "-n", "true"])
        standin.inventory_path      # for ansible-playbook -i
        standin.packer_vars()       # for Packer's amazon-ebs ssh_* settings

A stand-in can also boot from an AMI's content (the file system a stand-in had when
CreateImage was called on the instance it played, see image_store.py):

    with StandIn.from_image(find_prepared(), "ami-...", control=aws.control) as booted:
        booted.run(["cat", "/etc/os-release"])
"""

import atexit
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path

from ..netns import require_private_netns
from . import cgroups, commands, files, mounts, namespaces, network, paths, shared_roots
from .user_data import install as install_user_data
from .base_image import ADMIN_USER, REPO_MOUNT

BOOT_TIMEOUT = float(os.environ.get("CATTLE_STANDIN_BOOT_TIMEOUT", "90"))
SHUTDOWN_GRACE = 15  # seconds systemd gets to power off before it is killed
READY_STATES = ("running", "degraded")
POLL_INTERVAL = 0.2
# systemd-nspawn's per-machine directory on the host (for `machinectl bind`); it removes it on exit.
NSPAWN_PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")
# The namespaces that make a process one of the stand-in's (see _in_our_namespaces).
MEMBERSHIP_NAMESPACES = ("pid", "net")


class StandInError(RuntimeError):
    pass


class BootError(StandInError):
    pass


class TeardownError(StandInError):
    pass


class NoImageContent(StandInError):
    """The AMI has no content to boot from (the message says why)."""


class StandIn:
    """One stand-in instance; start() boots it, stop() (or leaving `with`) removes every trace."""

    user = ADMIN_USER

    def __init__(self, prepared, *, port=22, boot_timeout=BOOT_TIMEOUT, image=None, personalize=True,
                 wait_for_ssh=None, user_data=None, wait_for_system=True, before_boot=None):
        """image: a content tarball to boot instead of the base image (see from_image).
        personalize=False boots it as it is: no host key, no admin key (reach it with run()).
        wait_for_ssh: None waits for SSH when the copy has keys and enables sshd.
        user_data: bytes run at boot as cloud-init runs a script (user_data.py).
        wait_for_system=False: started once its init runs (EC2's "running"), not when systemd is up.
        before_boot: called with the stand-in once its address is known, before systemd starts."""
        if wait_for_ssh and not wait_for_system:
            raise ValueError("wait_for_ssh=True needs wait_for_system=True")
        if wait_for_ssh and not personalize:
            raise ValueError("wait_for_ssh=True needs personalize=True: a copy booted as it is has no key to log in with")
        self.prepared = prepared
        self.port = port
        self.boot_timeout = boot_timeout
        self.image = Path(image) if image is not None else None
        self.image_id = None  # set by from_image
        self.personalized = personalize
        self.wait_for_ssh = wait_for_ssh
        self.user_data = user_data
        self.wait_for_system = wait_for_system
        self.before_boot = before_boot
        self.ssh_expected = None  # resolved at boot: whether readiness included an SSH login
        self.network = None
        self.files = None
        self.process = None
        self.cgroups = []  # the stand-in's cgroup directories, one per hierarchy (cgroups.py)
        self.init_pid = None
        self.system_state = None
        self.boot_seconds = None
        self.teardown_seconds = None
        self.boot_phases = {}  # seconds per step of start(): extract, personalize, boot
        self.extracted_root = None  # whether this boot extracted the shared copy below its root (the first one)
        self._console = None
        self._namespaces = {}
        self._stopped = False

    @classmethod
    def from_image(cls, prepared, image_id, *, control=None, **kwargs):
        """A StandIn (not started) that boots from the content of AMI image_id.

        control: the SandboxControl of the sandbox that holds the AMI (default: the one
        AWS_ENDPOINT_URL names). Raises NoImageContent saying why when the AMI has none.
        """
        from ..aws.control import SandboxControl, SandboxControlError

        try:
            content = (control or SandboxControl.from_env()).image_content(image_id)
        except SandboxControlError as error:
            raise NoImageContent(f"cannot boot a stand-in from {image_id}: {error}") from None
        standin = cls(prepared, image=content["path"], **kwargs)
        standin.image_id = image_id
        return standin

    # --- what callers use -------------------------------------------------------------

    # Parts of the network (network.py) and files (files.py) it starts with.
    name = property(attrgetter("network.netns"))
    address = property(attrgetter("network.standin_address"))
    sandbox_address = property(attrgetter("network.sandbox_address"))
    private_key_path = property(attrgetter("files.private_key"))
    known_hosts_path = property(attrgetter("files.known_hosts"))
    inventory_path = property(attrgetter("files.inventory"))
    console_log_path = property(attrgetter("files.console_log"))

    def bind_to(self, control, instance_id=None):
        """Tells the sandbox that this stand-in plays instance_id, or (None) the first instance of
        the next RunInstances call (Packer's build instance): CreateImage of it then keeps this
        stand-in's file system as the AMI's content. -> {root, instance_id, pending}"""
        if self.files is None:
            raise StandInError("bind_to() needs a started stand-in")
        return control.bind_standin(str(self.files.root), instance_id)

    def packer_vars(self):
        """Packer amazon-ebs communicator settings (with use_proxy = false in the provisioner)."""
        self._ensure_keys("packer_vars()")
        return {
            "ssh_host": self.address,
            "ssh_port": self.port,
            "ssh_username": self.user,
            "ssh_private_key_file": str(self.private_key_path),
        }

    def packer_ansible_env_vars(self):
        """For the ansible provisioner's ansible_env_vars: makes it check the host key.

        Packer 1.6.6 forces ANSIBLE_HOST_KEY_CHECKING=False, which Ansible turns into
        `-o StrictHostKeyChecking=no` placed after ANSIBLE_SSH_ARGS; ssh keeps the first
        value, so the options here win. The control directory keeps its persistent
        connection apart from other stand-ins', and stop() ends it.
        """
        ssh_args = " ".join([
            "-o StrictHostKeyChecking=yes",
            f"-o UserKnownHostsFile={shlex.quote(str(self.known_hosts_path))}",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o ControlMaster=auto -o ControlPersist=60s",
        ])
        return [f"ANSIBLE_SSH_ARGS={ssh_args}", f"ANSIBLE_SSH_CONTROL_PATH_DIR={self.files.ansible_control_dir}"]

    def ssh_argv(self, user=None):
        """ssh with the generated key, the host key checked against the generated known_hosts."""
        self._ensure_keys("ssh")
        return [
            "ssh", "-F", "/dev/null",  # no user or system ssh_config (no proxies, no SendEnv)
            "-i", str(self.private_key_path),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts_path}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5",
            "-o", "LogLevel=ERROR",
            "-p", str(self.port),
            f"{user or self.user}@{self.address}",
        ]

    def ssh(self, command, *, user=None, check=True, timeout=120, input=None):
        """Runs command (a list, quoted for the remote shell, or a shell string) over SSH."""
        remote = shlex.join(command) if isinstance(command, (list, tuple)) else command
        return commands.run(self.ssh_argv(user) + ["--", remote], check=check, timeout=timeout, input=input)

    def run(self, argv, *, check=True, timeout=120, input=None):
        """Runs argv as root inside the stand-in with nsenter; works when SSH is locked down."""
        self._ensure_init_is_ours()
        return commands.run(namespaces.nsenter_argv(self.init_pid, argv), check=check, timeout=timeout, input=input)

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        require_private_netns()
        if self.process is not None or self._stopped:
            raise StandInError("a StandIn boots once; create a new one")
        atexit.register(self._stop_at_exit)
        with commands.stopwatch() as timing:
            try:
                self._boot()
            except BaseException:
                self._stop_after_failed_boot()
                raise
        self.boot_seconds = timing["seconds"]
        return self

    def stop(self):
        """Powers off and removes everything; safe to call again. Returns the seconds it took."""
        if self._stopped:
            return self.teardown_seconds
        errors = []
        with commands.stopwatch() as timing:
            for step in (self.end_ssh_clients, self._stop_container, self._remove_cgroups,
                         self._release_network, self._unmount, self._remove_work_dir):
                try:
                    step()
                except Exception as error:  # every step runs, whatever failed before it
                    errors.append(f"{step.__name__.strip('_')}: {error}")
        self.teardown_seconds = timing["seconds"]
        if errors:
            raise TeardownError(f"stand-in {self._label()} not fully removed: " + "; ".join(errors))
        self._stopped = True
        atexit.unregister(self._stop_at_exit)
        return self.teardown_seconds

    def leftovers(self):
        """What of this stand-in still exists, in words; empty once stop() has done its job."""
        found = []
        found += [f"process {pid} ({comm})" for pid, comm in self._own_processes()]
        found += [f"mount {point}" for point in self._own_mounts()]
        if self.network:
            found += self._network_leftovers()
            if (NSPAWN_PROPAGATE_DIR / self.name).exists():
                found.append(f"directory {NSPAWN_PROPAGATE_DIR / self.name}")
        if self.files:
            found += [f"cgroup {directory}" for directory in self._existing_cgroups()]
            if self.files.work.exists():
                found.append(f"directory {self.files.work}")
        return found

    # --- boot -----------------------------------------------------------------------------

    def _boot(self):
        paths.run_root().mkdir(parents=True, exist_ok=True)
        self.files = files.InstanceFiles(Path(tempfile.mkdtemp(prefix="standin-", dir=paths.run_root())))
        self.network = network.claim_network()
        self._write_state()
        with self._phase("extract"):
            lower, self.extracted_root = shared_roots.claim(self.image or self.prepared.base_image, self.files.work)
            files.mount_root_overlay(self.files, lower)
        with self._phase("personalize"):
            files.personalize(self.files, machine=self.name, address=self.address, port=self.port,
                              keys=self.personalized)
            if self.user_data is not None:
                install_user_data(self.files.root, self.user_data)
            self.ssh_expected = self._expects_ssh()
        if self.before_boot is not None:
            self.before_boot(self)
        with self._phase("boot"):
            self._spawn()
            self._wait_until_ready()

    def _expects_ssh(self):
        """Whether readiness includes an SSH login (an image may well keep sshd off)."""
        if self.wait_for_ssh is not None or not self.wait_for_system:
            return bool(self.wait_for_ssh)
        return self.personalized and (self.image is None or files.sshd_enabled(self.files.root))

    def _ensure_keys(self, what):
        if not self.personalized:
            raise StandInError(f"{what}: stand-in {self._label()} was booted as it is (personalize=False) "
                               "and has no admin key; use run()")

    @contextmanager
    def _phase(self, name):
        with commands.stopwatch() as timing:
            yield
        self.boot_phases[name] = timing["seconds"]

    def _spawn(self):
        if ":" in str(self.prepared.repo):
            raise StandInError(f"repository path {self.prepared.repo} contains ':', which --bind-ro cannot take")
        argv = [
            # read-only, not pipe: the stand-in's systemd then has a /dev/console (a pty nspawn
            # copies to the log) and writes its unit status lines there, useful when a boot fails.
            "systemd-nspawn", f"--directory={self.files.root}", "--boot", "--console=read-only", "--quiet",
            "--register=no", "--keep-unit", f"--machine={self.name}",
            f"--network-namespace-path={self.network.netns_path}",
            # As root on an instance has it (nftables rules: the monitoring role's firewall).
            # The network namespace is the stand-in's own, so it reaches nothing outside it.
            "--capability=CAP_NET_ADMIN",
            f"--bind-ro={self.prepared.repo}:{REPO_MOUNT}",
            # Leave the host alone: no journal links, no copied resolver or time zone.
            "--link-journal=no", "--resolv-conf=off", "--timezone=off",
            "--setenv=SYSTEMD_COLORS=0",
            # Arguments for the stand-in's systemd: unit status lines make the console log useful.
            "--", "systemd.show_status=yes",
        ]
        self.cgroups = cgroups.create(self.files.work.name)
        argv = cgroups.joined_argv(self.cgroups, argv)
        self._console = open(self.files.console_log, "wb")
        # A session of its own: a Ctrl-C meant for pytest reaches it only through stop().
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._console,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._write_state()

    def _wait_until_ready(self):
        deadline = time.monotonic() + self.boot_timeout
        while True:
            if self.process.poll() is not None:
                raise BootError(self._boot_failure(f"systemd-nspawn exited with status {self.process.returncode}"))
            waiting_for = self._readiness_step()
            if waiting_for is None:
                return
            if time.monotonic() > deadline:
                raise BootError(self._boot_failure(f"not ready after {self.boot_timeout:.0f} s: {waiting_for}"))
            time.sleep(POLL_INTERVAL)

    def _readiness_step(self):
        """Advances one check; returns what is still awaited, or None when ready."""
        try:
            return self._check_readiness()
        except subprocess.TimeoutExpired as timeout:
            return f"an answer to `{shlex.join(timeout.cmd[-3:])}` (none within {timeout.timeout:.0f} s)"

    def _check_readiness(self):
        if self.init_pid is not None and not self._init_is_ours():
            return "the stand-in's init, which has gone away (nspawn is probably exiting)"
        if self.init_pid is None:
            self.init_pid = namespaces.find_standin_init(self.process.pid)
            if self.init_pid is not None:
                self._namespaces = {kind: namespaces.namespace_id(self.init_pid, kind)
                                    for kind in namespaces.CONTAINER_NAMESPACES}
                self._write_state()
            return "the stand-in's init process to appear"
        if not self.wait_for_system:
            return None
        if self.system_state not in READY_STATES:
            result = self.run(["systemctl", "is-system-running"], check=False, timeout=15)
            self.system_state = result.stdout.strip() or "unknown"
            return f"systemd to report running (it says {self.system_state!r})"
        if not self.ssh_expected:
            return None
        result = self.ssh(["true"], check=False, timeout=20)
        if result.returncode != 0:
            return f"sshd to accept the admin key ({commands.tail(result.stderr, 2)})"
        return None

    def _boot_failure(self, reason):
        lines = [line for line in self._read_console().splitlines() if line.strip()]
        console = commands.tail("\n".join(lines), 30)
        failed = self._failed_units_if_reachable()
        if failed:
            reason += f"; failed units: {', '.join(failed)}"
        # The log itself goes with the working directory: its tail is all that is kept.
        return f"stand-in {self._label()} failed to boot: {reason}\n--- console, last lines ---\n{console}"

    def _failed_units_if_reachable(self):
        if self.init_pid is None or not self._init_is_ours():
            return []
        try:
            return self.failed_units()
        except (StandInError, subprocess.TimeoutExpired):
            return []

    def _read_console(self):
        try:
            return self.files.console_log.read_text(errors="replace").replace("\r", "")
        except OSError:
            return ""

    def memory_current(self):
        """Bytes of memory its cgroup uses now (processes, page cache, tmpfs, kernel memory: cgroup2's
        memory.current, or cgroup v1's memory.usage_in_bytes); None before boot, after stop, or when
        the host does not account it."""
        if self._stopped or not self.cgroups:
            return None
        return cgroups.memory_usage(self.cgroups)

    def failed_units(self):
        """systemd units that failed (why the state is 'degraded'), for reports."""
        result = self.run(["systemctl", "--failed", "--plain", "--no-legend", "--no-pager"], check=False, timeout=15)
        return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]

    # --- teardown ---------------------------------------------------------------------

    def end_ssh_clients(self):
        """Ends every SSH client connection to this stand-in from here, persistent ones included.

        Part of stop(); also useful on its own after changing sshd's configuration, when a
        ControlPersist master (ours, or one of Packer's ansible runs) would otherwise keep
        serving the old session.
        """
        if not self.network:
            return
        for control_socket in self._control_sockets():
            commands.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={control_socket}", "-O", "exit",
                          self.address], check=False, timeout=10)
        for pid in self._ssh_clients():
            terminate(pid)

    def _control_sockets(self):
        if not self.files:
            return []
        candidates = [self.files.ssh_control, *self.files.ansible_control_dir.glob("*")]
        return [path for path in candidates if path.is_socket()]

    def _ssh_clients(self):
        """ssh processes of our network namespace whose arguments name this stand-in's address."""
        ours = namespaces.namespace_id("self", "net")
        return [
            pid for pid in all_pids()
            if namespaces.read_comm(pid) == "ssh" and namespaces.namespace_id(pid, "net") == ours
            and any(arg == self.address or arg.endswith(f"@{self.address}") for arg in read_argv(pid))
        ]

    def _stop_container(self):
        if self.process is not None and self.process.poll() is None:
            # nspawn turns SIGTERM into an orderly poweroff of the stand-in's systemd.
            self.process.terminate()
            try:
                self.process.wait(SHUTDOWN_GRACE)
            except subprocess.TimeoutExpired:
                self._kill_standin()
        if self._console:
            self._console.close()

    def _kill_standin(self):
        """SIGKILL to the stand-in's init ends its whole pid namespace; then nspawn exits."""
        if self.init_pid and self._init_is_ours():
            os.kill(self.init_pid, signal.SIGKILL)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def _remove_cgroups(self):
        if self.files:
            cgroups.remove(self.files.work.name, self.cgroups or None)

    def _existing_cgroups(self):
        return cgroups.existing(self.files.work.name, self.cgroups or None)

    def _release_network(self):
        if self.network:
            network.release_network(self.network)

    def _unmount(self):
        """The root overlay, and anything else left under the working directory."""
        if self.files:
            mounts.unmount_below(self.files.work)

    def _remove_work_dir(self):
        if self.files and self.files.work.exists():
            mounts.remove_tree(self.files.work)

    def _stop_after_failed_boot(self):
        try:
            self.stop()
        except Exception as error:  # the boot error matters more; still say what is left
            print(f"standin: {error}", file=sys.stderr)

    def _stop_at_exit(self):
        try:
            self.stop()
        except Exception as error:
            print(f"standin: at exit: {error}", file=sys.stderr)

    # --- inspection -------------------------------------------------------------------

    def _init_is_ours(self):
        """The recorded init pid still belongs to this stand-in (pids are reused)."""
        return bool(self._namespaces) and all(
            namespaces.namespace_id(self.init_pid, kind) == ns for kind, ns in self._namespaces.items()
        )

    def _ensure_init_is_ours(self):
        if self.init_pid is None:
            raise StandInError(f"stand-in {self._label()} has no init process yet")
        if not self._init_is_ours():
            raise StandInError(f"stand-in {self._label()}: init pid {self.init_pid} is gone or no longer its init")

    def _own_processes(self):
        """Processes in the stand-in's namespaces, naming its directory (nspawn) or its address (ssh)."""
        work = str(self.files.work) if self.files else None
        ssh_clients = set(self._ssh_clients()) if self.network else set()
        own = []
        for pid in all_pids():
            if pid == os.getpid() or not namespaces.process_alive(pid):
                continue
            if self._in_our_namespaces(pid) or (work and work in " ".join(read_argv(pid))) or pid in ssh_clients:
                own.append((pid, namespaces.read_comm(pid)))
        return own

    def _in_our_namespaces(self, pid):
        # Both the pid and the network namespace: every process of the stand-in has them,
        # and a freed namespace's id may be reused at once (say, by a PrivateTmp service of
        # another stand-in), which must not make its processes look like ours.
        identity = {kind: self._namespaces.get(kind) for kind in MEMBERSHIP_NAMESPACES}
        return all(identity.values()) and all(
            namespaces.namespace_id(pid, kind) == ns for kind, ns in identity.items()
        )

    def _own_mounts(self):
        found = mounts.mounts_at_or_below(self.files.work) if self.files else []
        return found + (mounts.mounts_at_or_below(self.network.netns_path) if self.network else [])

    def _network_leftovers(self):
        found = []
        if self.network.netns in network.netns_names():
            found.append(f"network namespace {self.network.netns}")
        if network.link_exists(self.network.sandbox_interface):
            found.append(f"interface {self.network.sandbox_interface}")
        if port_answers(self.address, self.port):
            found.append(f"port {self.address}:{self.port} answers")
        return found

    def _write_state(self):
        """For `python -m cattle_sandbox.standin cleanup` after a crash of the owning process."""
        state = {
            "owner_pid": os.getpid(),
            "owner_start": namespaces.start_time(os.getpid()),
            "slot": self.network.slot if self.network else None,
            "nspawn_pid": self.process.pid if self.process else None,
            "init_pid": self.init_pid,
            "namespaces": self._namespaces,
            "cgroups": [str(directory) for directory in self.cgroups],
        }
        self.files.state.write_text(json.dumps(state, indent=2) + "\n")

    def _label(self):
        if self.network:
            return f"{self.name} ({self.address})"
        return str(self.files.work) if self.files else "(not started)"


def port_answers(address, port, timeout=0.5):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def all_pids():
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def read_argv(pid):
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def terminate(pid, grace=2.0):
    """SIGTERM, then SIGKILL if it is still there after grace seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while namespaces.process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if namespaces.process_alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
