"""An instance's user data, run at its first boot the way cloud-init runs a shell script.

cloud-init runs user data that begins with "#!" once per instance, in its last boot stage
(cloud-final, after the network is up), as root, and appends its output to
/var/log/cloud-init-output.log (cloud-init documentation, "User data formats": "User data
script ... begins with #!"; Amazon EC2 User Guide, "Run commands when you launch an EC2
instance with user data input": "Scripts entered as user data are run as the root user"
and "the cloud-init output log file (/var/log/cloud-init-output.log) captures console
output"). Stand-ins have no cloud-init; a unit written before the boot does that part.
Other formats (#cloud-config, MIME multi-part) need cloud-init itself: they are kept where
cloud-init keeps user data and the log says they were not run.
"""

from .files import in_root, write_file

KEPT = "/var/lib/cloud/instance/user-data.txt"
SCRIPT = "/var/lib/cloud/instance/scripts/part-001"
OUTPUT_LOG = "/var/log/cloud-init-output.log"
UNIT = "cattle-user-data.service"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
WANTED_BY = "/etc/systemd/system/multi-user.target.wants"

UNIT_TEXT = f"""# Written per boot by cattle_sandbox.standin: what cloud-init's scripts-user does on EC2.
[Unit]
Description=Run the instance's user data script (as cloud-init's final stage does)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutSec=0
ExecStart=/bin/sh -c 'exec >>{OUTPUT_LOG} 2>&1; {SCRIPT}'

[Install]
WantedBy=multi-user.target
"""


def install(root, data):
    """Writes user data (bytes) into a stand-in's root before it boots; returns whether it will run."""
    kept = in_root(root, KEPT)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(data)
    kept.chmod(0o600)
    if not data.startswith(b"#!"):
        write_file(in_root(root, OUTPUT_LOG),
                   "user data is not a shell script (it does not begin with #!): not run; "
                   "cloud-config and MIME multi-part user data need cloud-init, which stand-ins lack\n")
        return False
    script = in_root(root, SCRIPT)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_bytes(data)
    script.chmod(0o700)
    write_file(in_root(root, UNIT_FILE), UNIT_TEXT)
    wants = in_root(root, WANTED_BY)
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / UNIT
    if not link.is_symlink():
        link.symlink_to(UNIT_FILE)
    return True
