# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""SSM Parameter Store calls: one function per call, retried (common.RETRY), failing as
AnsibleAWSError "Failed to <what it does>"."""

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

PARAMETER_MISSING = ("ParameterNotFound", "ParameterVersionNotFound")

ParameterErrorHandler = common.error_handler(PARAMETER_MISSING)


@ParameterErrorHandler.list_error_handler("read an SSM parameter", None)
@common.RETRY
def get_parameter(ssm, name):
    """The parameter (`name`, `name:version` or `name:label`), or None when there is none."""
    return ssm.get_parameter(Name=name)["Parameter"]
