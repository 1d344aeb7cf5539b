# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The DynamoDB calls on a fake client: conditional writes, a missing table, failures and retries."""

import pytest
from botocore.exceptions import ClientError

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._aws import dynamodb

TABLE = "locks"
KEY = {"app": {"S": "web"}}
ITEM = {"app": {"S": "web"}, "run_id": {"S": "run-a"}}
OLD = {"app": {"S": "web"}, "run_id": {"S": "run-old"}}


class FakeClient:
    """Answers each call with the next of `answers`, raising those that are exceptions;
    keeps every call as (operation, request)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __getattr__(self, operation):
        def call(**request):
            self.calls.append((operation, request))
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        return call

    def request(self):
        """The request of the only call."""
        (_operation, request), = self.calls
        return request


def aws_error(code, operation="PutItem", **response):
    return ClientError(dict(response, Error={"Code": code, "Message": code}), operation)


def condition_failed(item=None):
    extra = {"Item": item} if item is not None else {}
    return aws_error("ConditionalCheckFailedException", **extra)


def put(client, values=None):
    return dynamodb.put_item_if(client, TABLE, ITEM, "attribute_not_exists(app)", values)


def update(client):
    return dynamodb.update_item_if(client, TABLE, KEY, "SET n = :n", "run_id = :mine", {":n": {"N": "1"}})


def delete(client):
    return dynamodb.delete_item_if(client, TABLE, KEY, "run_id = :mine", {":mine": {"S": "run-a"}})


def get(client):
    return dynamodb.get_item(client, TABLE, KEY)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _seconds: None)


def test_an_item_is_read_strongly_consistent_by_its_key():
    client = FakeClient({"Item": ITEM})
    assert get(client) == ITEM
    assert client.request() == {"TableName": TABLE, "Key": KEY, "ConsistentRead": True}


def test_no_item_reads_as_none():
    assert get(FakeClient({})) is None


def test_a_write_whose_condition_holds_answers_true():
    client = FakeClient({})
    assert put(client) == (True, None)
    assert client.request() == {"TableName": TABLE, "Item": ITEM, "ConditionExpression": "attribute_not_exists(app)",
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


def test_a_failed_condition_returns_the_item_that_made_it_fail():
    assert put(FakeClient(condition_failed(OLD))) == (False, OLD)


def test_a_failed_condition_without_an_item_returns_none():
    assert put(FakeClient(condition_failed())) == (False, None)


def test_expression_values_are_sent_only_when_given():
    client = FakeClient({})
    put(client, {":holder": {"S": "run-old"}})
    assert client.request()["ExpressionAttributeValues"] == {":holder": {"S": "run-old"}}


def test_an_update_returns_the_item_as_it_was_before():
    client = FakeClient({"Attributes": OLD})
    assert update(client) == (True, OLD)
    request = client.request()
    assert (request["Key"], request["UpdateExpression"], request["ConditionExpression"]) == (
        KEY, "SET n = :n", "run_id = :mine")
    assert request["ReturnValues"] == request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert request["ExpressionAttributeValues"] == {":n": {"N": "1"}}


def test_a_refused_update_returns_the_item_there():
    assert update(FakeClient(condition_failed(OLD))) == (False, OLD)


def test_a_delete_returns_the_deleted_item_or_the_item_that_stopped_it():
    assert delete(FakeClient({"Attributes": ITEM})) == (True, ITEM)
    assert delete(FakeClient({})) == (True, None)
    assert delete(FakeClient(condition_failed(OLD))) == (False, OLD)


@pytest.mark.parametrize("call", [get, put, update, delete])
def test_a_missing_table_is_reported_as_such(call):
    with pytest.raises(dynamodb.TableNotFound) as missing:
        call(FakeClient(aws_error("ResourceNotFoundException")))
    assert missing.value.table == TABLE
    assert not isinstance(missing.value, AnsibleAWSError)


def test_any_other_failure_names_the_purpose_of_the_call():
    client = FakeClient(aws_error("AccessDeniedException", "GetItem"))
    with pytest.raises(AnsibleAWSError, match="Failed to read the deploy lock"):
        dynamodb.get_item(client, TABLE, KEY, purpose="read the deploy lock")


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttling_is_retried(code):
    client = FakeClient(aws_error(code), condition_failed(OLD))
    assert put(client) == (False, OLD)
    assert len(client.calls) == 2


def test_a_table_is_described_or_none_when_missing():
    assert dynamodb.describe_table(FakeClient({"Table": {"TableStatus": "ACTIVE"}}), TABLE) == {"TableStatus": "ACTIVE"}
    assert dynamodb.describe_table(FakeClient(aws_error("ResourceNotFoundException", "DescribeTable")), TABLE) is None


def test_a_table_is_created_on_demand_with_a_string_key_and_its_tags():
    client = FakeClient({})
    assert dynamodb.create_table(client, TABLE, "app", {"managed-by": "cattle"}) is True
    assert client.request() == {
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "app", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "app", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "Tags": [{"Key": "managed-by", "Value": "cattle"}],
    }


def test_a_table_that_exists_or_is_being_created_is_not_created_again():
    client = FakeClient(aws_error("ResourceInUseException", "CreateTable"))
    assert dynamodb.create_table(client, TABLE, "app", {}) is False
