# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""KMS calls: one function per call, retried (common.RETRY), failing as AnsibleAWSError
"Failed to <what it does>"."""

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

KeyErrorHandler = common.error_handler(["NotFoundException"])


@KeyErrorHandler.list_error_handler("describe the KMS key", None)
@common.RETRY
def describe_key(kms, key_id):
    """The key's metadata (key id, alias or ARN), or None when there is no such key."""
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]
