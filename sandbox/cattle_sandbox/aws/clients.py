"""boto3 clients bound to the sandbox and blind to the machine's AWS setup.

A test process may have AWS_PROFILE, a ~/.aws/config with a retry mode or an endpoint,
or proxy variables. None of them may change what a test sees, so the client's botocore
session reads no environment variable and no config file, and uses no proxy.
"""

import functools
import os
import threading
from typing import Any

REGION = "us-east-1"
DUMMY_CREDENTIAL = "testing"

# botocore sessions cache the service models they load; sharing one keeps client
# creation cheap, and the lock keeps that cache safe across threads.
_session_lock = threading.Lock()


def sandbox_client(endpoint: str, service: str, config: Any = None, region_name: str = REGION, **kwargs: Any) -> Any:
    from botocore.config import Config

    no_proxy = Config(proxies={})
    merged = no_proxy.merge(config) if config is not None else no_proxy
    with _session_lock:
        return _isolated_session().client(
            service,
            region_name=region_name,
            endpoint_url=endpoint,
            aws_access_key_id=DUMMY_CREDENTIAL,
            aws_secret_access_key=DUMMY_CREDENTIAL,
            config=merged,
            **kwargs,
        )


@functools.cache
def _isolated_session() -> Any:
    import boto3
    from botocore import configprovider
    from botocore.session import Session

    # (config file key, environment variable, default, converter): drop the variable.
    without_environment = {
        name: (config_key, None, default, converter)
        for name, (
            config_key,
            _variable,
            default,
            converter,
        ) in configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
    }
    session = Session(session_vars=without_environment)
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    return boto3.session.Session(botocore_session=session)
