# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""How every module ends: main() builds the module and hands it to end_module with the
module's entry point (module_utils/<module>.py `run_module`)."""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError


def client_factory(module):
    """make_client(service, region): a client in that region, or the module's when None."""

    def make_client(service, region=None):
        return module.client(service, region=region) if region else module.client(service)

    return make_client


def end_module(module, run_module):
    """Exit with run_module(module)'s result, or fail with the error's message and result.

    The result's `diff` is kept in diff mode only; its `warnings` are shown as warnings
    (exit_json's own `warnings` argument is deprecated).
    """
    # A stage's user_data sits in the free-form `stages`, which no_log cannot mark.
    module.no_log_values.update(app_definition.user_data_values(module.params.get("definition")))
    try:
        result = run_module(module)
    except CattleError as error:
        fail(module, error)
    except AnsibleAWSError as error:
        module.fail_json_aws_error(error)
    if not module._diff:
        result.pop("diff", None)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


def fail(module, error):
    aws_error = error.aws_error
    if aws_error is not None and aws_error.exception is not None:
        module.fail_json_aws(aws_error.exception, msg=str(error), **error.result)
    module.fail_json(msg=str(error), **error.result)
