"""How every module ends: its result, a refusal that says nothing was changed, or a failure with what was done."""

import pytest
from botocore.exceptions import ClientError

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError, Refusal, aws_cause_text
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import client_factory, end_module


class Ended(Exception):
    pass


class FakeModule:
    """Records how the module ended, as AnsibleModule's exit_json and fail_json would end it."""

    def __init__(self, diff=False, params=None):
        self._diff = diff
        self.params = params or {}
        self.no_log_values = set()
        self.warnings = []
        self.clients = []

    def warn(self, text):
        self.warnings.append(text)

    def exit_json(self, **result):
        raise Ended(("exit", result))

    def fail_json(self, **result):
        raise Ended(("fail", result))

    def fail_json_aws(self, exception, msg=None, **result):
        raise Ended(("fail_aws", dict(result, msg=msg, exception=exception)))

    def fail_json_aws_error(self, error):
        raise Ended(("fail_aws_error", {"msg": error.message}))

    def client(self, service, region=None):
        self.clients.append((service, region))
        return service


def ending(module, run):
    with pytest.raises(Ended) as ended:
        end_module(module, run)
    return ended.value.args[0]


def test_a_refusal_says_nothing_was_changed_once():
    assert str(Refusal("port: must be 1-65535")) == "port: must be 1-65535; nothing was changed"
    assert str(Refusal("port: must be 1-65535; nothing was changed")) == "port: must be 1-65535; nothing was changed"


def test_a_failure_ends_the_module_with_its_result():
    def run(module):
        raise CattleError("drain timed out", changed=True, actions=["scaled to 0"])
    assert ending(FakeModule(), run) == ("fail", {"msg": "drain timed out", "changed": True, "actions": ["scaled to 0"]})


def test_a_failure_that_is_an_aws_error_keeps_its_code_and_request():
    cause = RuntimeError("AccessDenied")

    def run(module):
        aws = AnsibleAWSError(message="Failed to modify the listener", exception=cause)
        raise CattleError(aws.message, aws_error=aws, lock_held=True)
    kind, result = ending(FakeModule(), run)
    assert kind == "fail_aws" and result["exception"] is cause and result["lock_held"] is True


def test_an_aws_error_of_the_run_fails_the_module():
    def run(module):
        raise AnsibleAWSError(message="Failed to describe the images")
    assert ending(FakeModule(), run) == ("fail_aws_error", {"msg": "Failed to describe the images"})


@pytest.mark.parametrize("diff", [False, True])
def test_the_result_keeps_its_diff_in_diff_mode_only_and_its_warnings_become_warnings(diff):
    module = FakeModule(diff=diff)
    kind, result = ending(module, lambda module: {"changed": True, "diff": {"before": 1}, "warnings": ["careful"]})
    assert kind == "exit" and ("diff" in result) is diff and "warnings" not in result
    assert module.warnings == ["careful"]


def test_a_noted_failure_keeps_its_type_and_result():
    error = Refusal("bad fleet id", failure="input").with_note("the deploy lock was released", lock_released=True)
    assert isinstance(error, Refusal)
    assert str(error) == "bad fleet id; nothing was changed; the deploy lock was released"
    assert error.result == {"failure": "input", "lock_released": True}


def test_clients_are_made_in_the_region_asked_for_or_the_modules():
    module = FakeModule()
    make_client = client_factory(module)
    make_client("ec2", "eu-west-1")
    make_client("ssm", None)
    assert module.clients == [("ec2", "eu-west-1"), ("ssm", None)]


def test_the_cause_of_an_aws_error_is_its_own_message_and_code():
    response = {"Error": {"Code": "ValidationError", "Message": "Group web-blue not found"}}
    error = AnsibleAWSError(message="Failed to describe the group", exception=ClientError(response, "Describe"))
    assert aws_cause_text(error) == ": Group web-blue not found (ValidationError)"


def test_the_cause_of_another_error_is_its_text_and_no_cause_is_nothing():
    assert aws_cause_text(AnsibleAWSError(message="Failed", exception=ValueError("bad"))) == ": bad"
    assert aws_cause_text(AnsibleAWSError(message="Failed")) == ""
    assert aws_cause_text(None) == ""


def test_a_stage_user_data_is_hidden_as_no_log_values_before_the_module_runs():
    definition = {"user_data": "base secret", "stages": {"dev": {"user_data": "dev secret"}}}
    module = FakeModule(params={"definition": definition})

    ending(module, lambda module: {"changed": False})

    assert module.no_log_values == {"base secret", "dev secret"}
