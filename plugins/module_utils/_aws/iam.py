# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""IAM calls: one function per call, retried (common.RETRY), failing as AnsibleAWSError
"Failed to <what it does>"."""

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

InstanceProfileErrorHandler = common.error_handler(["NoSuchEntity"])


@InstanceProfileErrorHandler.list_error_handler("read the instance profile", None)
@common.RETRY
def get_instance_profile(iam, name):
    """The instance profile of that name, or None."""
    return iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
