"""The sandbox's emulated AWS: moto over HTTP on 127.0.0.1, closer to AWS, with faults.

    from cattle_sandbox.aws import SandboxAWS, SandboxControl

SandboxControl is standard library only and importing it does not import moto;
SandboxAWS is loaded on first use. See sandbox/docs/aws.md.
"""

import os
from typing import Any

# Before any module of this package imports moto: the sandbox holds only what tests
# create, none of moto's copies of public AMIs.
os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
# AWS's managed policies exist in every account (AmazonSSMManagedInstanceCore above all, which
# instance profiles attach): moto knows them but loads them only when asked.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

from .control import SandboxControl, SandboxControlError  # noqa: E402,F401  pylint: disable=unused-import


def __getattr__(name: str) -> Any:
    if name == "SandboxAWS":
        _blind_to_local_aws_config()
        from .server import SandboxAWS

        return SandboxAWS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _blind_to_local_aws_config() -> None:
    """moto builds boto3 sessions of its own (at import and per region): a process that
    serves the sandbox reads no AWS profile, and a profile missing there crashes moto."""
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(variable, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
