"""AWS's managed policies in the sandbox's IAM, made once per reset instead of six times.

AWS has its managed policies in every account (AmazonSSMManagedInstanceCore among them, which
instance profiles attach), so the sandbox loads moto's copy of them. moto parses that
2 MB document again for each partition's IAM backend (aws, aws-cn, aws-us-gov and the
isolated ones) at every reset: about 1 s per reset, which every test pays. The sandbox serves
the `aws` partition's regions only, so the others get no managed policies, and the document is
parsed once per process.
"""

import json
from functools import lru_cache
from typing import Any

from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, IAMBackend
from moto.settings import load_iam_aws_managed_policies

from .patching import patch

SERVED_PARTITION = "aws"


@lru_cache(maxsize=1)
def _managed_policy_documents() -> dict[str, Any]:
    return json.loads(aws_managed_policies_data)


@patch(IAMBackend, "_init_aws_policies")
def _aws_policies_of_the_served_partition(_state: Any, _original: Any, backend: IAMBackend) -> list[Any]:
    if backend.partition != SERVED_PARTITION or not load_iam_aws_managed_policies():
        return []
    return [
        AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, document)
        for name, document in _managed_policy_documents().items()
    ]
