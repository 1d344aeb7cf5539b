# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The SSM calls on a stubbed boto3 client: the requests they send, paging, "not there",
failures and retries.

botocore's Stubber answers in place of AWS (nothing leaves the process), so the real
paginators follow NextToken from page to page and every request is checked against the
SSM API model.
"""

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._aws import ssm as ssm_calls

NAME = "/cattle/web/prod"
PATH = "/cattle/web"
INSTANCE = "i-0123456789abcdef0"
COMMAND_ID = "3f2a9c0d-1e4b-4c5d-8e9f-0a1b2c3d4e5f"


def parameter(version, value="ami-00000001", name=NAME):
    return {"Name": name, "Value": value, "Version": version}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _seconds: None)


@pytest.fixture
def ssm():
    # Fixed dummy keys: a stubbed client never signs a request, but botocore wants some.
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def failing(ssm, operation, code, http_status=400):
    ssm.stubber.add_client_error(operation, service_error_code=code, service_message=code,
                                 http_status_code=http_status)


def failure_message(call, *args, **kwargs):
    """The message of the AnsibleAWSError the call raises (AWS's own words are not in it)."""
    with pytest.raises(AnsibleAWSError) as raised:
        call(*args, **kwargs)
    return raised.value.message


# ---------------------------------------------------------------------------------------
# Parameter Store


def test_a_parameter_is_read_by_its_selector(ssm):
    ssm.stubber.add_response("get_parameter", {"Parameter": parameter(3)}, {"Name": NAME + ":3"})
    assert ssm_calls.get_parameter(ssm, NAME + ":3") == parameter(3)


@pytest.mark.parametrize("code", ["ParameterNotFound", "ParameterVersionNotFound"])
def test_a_parameter_or_version_not_there_reads_as_none(ssm, code):
    failing(ssm, "get_parameter", code)
    assert ssm_calls.get_parameter(ssm, NAME + ":9") is None


def test_a_write_overwrites_the_string_parameter_and_answers_its_version(ssm):
    request = {"Name": NAME, "Value": "ami-00000002", "Type": "String", "DataType": "aws:ec2:image",
               "Description": "{}", "Overwrite": True}
    ssm.stubber.add_response("put_parameter", {"Version": 4}, request)
    assert ssm_calls.put_parameter(ssm, NAME, "ami-00000002", "{}", data_type="aws:ec2:image") == 4


def test_a_throttled_write_is_tried_again(ssm):
    failing(ssm, "put_parameter", "ThrottlingException")
    ssm.stubber.add_response("put_parameter", {"Version": 2})
    assert ssm_calls.put_parameter(ssm, NAME, "ami-00000002", "{}") == 2


def test_a_failed_write_says_what_it_was_for(ssm):
    failing(ssm, "put_parameter", "AccessDeniedException")
    message = failure_message(ssm_calls.put_parameter, ssm, NAME, "ami-00000002", "{}",
                              purpose="write the stage pointer")
    assert message == "Failed to write the stage pointer"


def test_the_history_is_read_from_every_page(ssm):
    ssm.stubber.add_response("get_parameter_history",
                             {"Parameters": [parameter(1), parameter(2)], "NextToken": "page-2"}, {"Name": NAME})
    ssm.stubber.add_response("get_parameter_history", {"Parameters": [parameter(3)]},
                             {"Name": NAME, "NextToken": "page-2"})
    versions = ssm_calls.get_parameter_history(ssm, NAME)
    assert [p["Version"] for p in versions] == [1, 2, 3]


def test_the_history_of_a_parameter_never_written_is_empty(ssm):
    failing(ssm, "get_parameter_history", "ParameterNotFound")
    assert ssm_calls.get_parameter_history(ssm, NAME) == []


def test_a_failed_history_read_says_what_it_was_for(ssm):
    failing(ssm, "get_parameter_history", "AccessDeniedException")
    message = failure_message(ssm_calls.get_parameter_history, ssm, NAME, purpose="read the stage pointer history")
    assert message == "Failed to read the stage pointer history"


def test_the_parameters_under_a_path_are_its_children_from_every_page(ssm):
    ssm.stubber.add_response("get_parameters_by_path",
                             {"Parameters": [parameter(1, name=PATH + "/dev")], "NextToken": "page-2"},
                             {"Path": PATH, "Recursive": False})
    ssm.stubber.add_response("get_parameters_by_path", {"Parameters": [parameter(1, name=PATH + "/prod")]},
                             {"Path": PATH, "Recursive": False, "NextToken": "page-2"})
    found = ssm_calls.get_parameters_by_path(ssm, PATH)
    assert [p["Name"] for p in found] == [PATH + "/dev", PATH + "/prod"]


def test_recursive_asks_for_everything_below_the_path(ssm):
    ssm.stubber.add_response("get_parameters_by_path", {"Parameters": []}, {"Path": PATH, "Recursive": True})
    assert ssm_calls.get_parameters_by_path(ssm, PATH, recursive=True) == []


def test_parameter_not_found_under_a_path_reads_as_empty_unless_told_otherwise(ssm):
    failing(ssm, "get_parameters_by_path", "ParameterNotFound")
    assert ssm_calls.get_parameters_by_path(ssm, PATH) == []
    failing(ssm, "get_parameters_by_path", "ParameterNotFound")
    message = failure_message(ssm_calls.get_parameters_by_path, ssm, PATH, empty_when_not_found=False,
                              purpose="list stage pointers")
    assert message == "Failed to list stage pointers"


# ---------------------------------------------------------------------------------------
# Run Command


def test_a_managed_node_is_found_by_its_instance_id(ssm):
    node = {"InstanceId": INSTANCE, "PingStatus": "Online"}
    ssm.stubber.add_response("describe_instance_information", {"InstanceInformationList": [node]},
                             {"Filters": [{"Key": "InstanceIds", "Values": [INSTANCE]}]})
    assert ssm_calls.describe_instance_information(ssm, INSTANCE) == node


def test_an_instance_ssm_does_not_know_yet_reads_as_none(ssm):
    ssm.stubber.add_response("describe_instance_information", {"InstanceInformationList": []})
    assert ssm_calls.describe_instance_information(ssm, INSTANCE) is None


def test_a_command_is_sent_to_the_one_instance_and_answers_its_id(ssm):
    parameters = {"commands": ["true"], "executionTimeout": ["60"]}
    request = {"InstanceIds": [INSTANCE], "DocumentName": "AWS-RunShellScript", "Parameters": parameters,
               "Comment": "a test"}
    ssm.stubber.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}}, request)
    assert ssm_calls.send_command(ssm, INSTANCE, "AWS-RunShellScript", parameters, "a test") == COMMAND_ID


def test_an_invocation_is_read_by_command_and_instance(ssm):
    invocation = {"CommandId": COMMAND_ID, "InstanceId": INSTANCE, "Status": "Success", "ResponseCode": 0}
    ssm.stubber.add_response("get_command_invocation", invocation, {"CommandId": COMMAND_ID, "InstanceId": INSTANCE})
    assert ssm_calls.get_command_invocation(ssm, COMMAND_ID, INSTANCE) == invocation


def test_an_invocation_not_made_yet_reads_as_none(ssm):
    failing(ssm, "get_command_invocation", "InvocationDoesNotExist")
    assert ssm_calls.get_command_invocation(ssm, COMMAND_ID, INSTANCE) is None


def test_a_failed_invocation_read_says_what_it_was_for(ssm):
    failing(ssm, "get_command_invocation", "InvalidCommandId")
    message = failure_message(ssm_calls.get_command_invocation, ssm, COMMAND_ID, INSTANCE,
                              purpose="read the test command's result")
    assert message == "Failed to read the test command's result"
