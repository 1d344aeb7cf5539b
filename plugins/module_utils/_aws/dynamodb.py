# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""DynamoDB calls on items and tables: one function per call.

Each is retried on throttling (common.RETRY_DYNAMODB_THROTTLING) and fails as
AnsibleAWSError "Failed to <purpose>", the purpose its caller gives, so a failure says
what the call was for. Keys, items and expression values are in DynamoDB's typed shape
({"S": "text"}, {"N": "1"}); what they mean is the caller's.

The item calls raise TableNotFound when the table does not exist (ResourceNotFoundException),
so a caller can tell a missing table from a failed call.

The writes are conditional: (True, ...) when the condition held, (False, the item that
made it fail) when not. They ask for that item (ReturnValuesOnConditionCheckFailure), so
a failed condition costs no second call; None stands for "there was no item".
"""

import functools

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

TABLE_MISSING = ("ResourceNotFoundException",)
# CreateTable's answer when the table exists already or is being created.
TABLE_IN_USE = "ResourceInUseException"
CONDITION_FAILED = "ConditionalCheckFailedException"
ALL_OLD = "ALL_OLD"
ON_DEMAND = "PAY_PER_REQUEST"

TableErrorHandler = common.error_handler(TABLE_MISSING)


class TableNotFound(Exception):
    """The table of an item call does not exist (yet); `table` is its name."""

    def __init__(self, table):
        super().__init__(table)
        self.table = table


def _item_call(purpose, call):
    """`call(client, table, ...)` failing as "Failed to <purpose>", and as TableNotFound
    when its table does not exist."""
    return TableErrorHandler.common_error_handler(purpose)(_table_must_exist(call))


def _table_must_exist(call):
    @functools.wraps(call)
    def checked(client, table, *args):
        try:
            return call(client, table, *args)
        except is_boto3_error_code(TABLE_MISSING) as e:
            raise TableNotFound(table) from e

    return checked


def _with_values(request, values, names=None):
    # DynamoDB refuses an empty ExpressionAttributeValues (or Names): leave them out when there are none.
    if values:
        request["ExpressionAttributeValues"] = values
    if names:
        # For attribute names DynamoDB reserves (such as TOKEN): #name in the expressions.
        request["ExpressionAttributeNames"] = names
    return request


def _conditional(write, request):
    """(True, the answer) when the write's condition held, (False, the item that made it
    fail, or None when there was none) when not."""
    try:
        return True, write(ReturnValuesOnConditionCheckFailure=ALL_OLD, **request)
    except is_boto3_error_code(CONDITION_FAILED) as e:
        return False, e.response.get("Item")


# ---------------------------------------------------------------------------------------
# Items


def get_item(client, table, key, purpose="read the item"):
    """The item with this key, or None when there is none. A strongly consistent read."""
    return _item_call(purpose, _get_item)(client, table, key)


@common.RETRY_DYNAMODB_THROTTLING
def _get_item(client, table, key):
    return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def put_item_if(client, table, item, condition, values=None, purpose="write the item"):
    """Write `item` (whole) if the condition expression holds, with `values` its :placeholders.

    (True, None) when written; (False, the item that made the condition fail, or None).
    """
    return _item_call(purpose, _put_item_if)(client, table, item, condition, values)


@common.RETRY_DYNAMODB_THROTTLING
def _put_item_if(client, table, item, condition, values):
    request = _with_values({"TableName": table, "Item": item, "ConditionExpression": condition}, values)
    written, answer = _conditional(client.put_item, request)
    # PutItem is not asked for the item it replaced: a write answers nothing more.
    return written, None if written else answer


def update_item_if(client, table, key, update, condition, values, purpose="update the item", names=None):
    """Apply the update expression to the item with this key if the condition holds
    (`names`: the expressions' #placeholders of attribute names).

    (True, the item as it was before the update, or None when there was none);
    (False, the item that made the condition fail, or None).
    """
    return _item_call(purpose, _update_item_if)(client, table, key, update, condition, values, names)


@common.RETRY_DYNAMODB_THROTTLING
def _update_item_if(client, table, key, update, condition, values, names):
    request = _with_values({"TableName": table, "Key": key, "UpdateExpression": update,
                            "ConditionExpression": condition, "ReturnValues": ALL_OLD}, values, names)
    updated, answer = _conditional(client.update_item, request)
    return updated, answer.get("Attributes") if updated else answer


def delete_item_if(client, table, key, condition, values, purpose="delete the item", names=None):
    """Delete the item with this key if the condition holds (`names` as update_item_if's).

    (True, the deleted item, or None when there was none); (False, the item that made the
    condition fail, or None).
    """
    return _item_call(purpose, _delete_item_if)(client, table, key, condition, values, names)


@common.RETRY_DYNAMODB_THROTTLING
def _delete_item_if(client, table, key, condition, values, names):
    request = _with_values({"TableName": table, "Key": key, "ConditionExpression": condition,
                            "ReturnValues": ALL_OLD}, values, names)
    deleted, answer = _conditional(client.delete_item, request)
    return deleted, answer.get("Attributes") if deleted else answer


# ---------------------------------------------------------------------------------------
# Tables


def describe_table(client, table, purpose="describe the table"):
    """The table's description (TableStatus, KeySchema, ...), or None when it does not exist."""
    return TableErrorHandler.list_error_handler(purpose, None)(_describe_table)(client, table)


@common.RETRY_DYNAMODB_THROTTLING
def _describe_table(client, table):
    return client.describe_table(TableName=table)["Table"]


def create_table(client, table, partition_key, tags, purpose="create the table"):
    """Create an on-demand table keyed by the string attribute `partition_key`, tagged with
    `tags` (a dict).

    True when created now, False when it exists already or someone else is creating it;
    it is ACTIVE only a while later (describe_table's TableStatus says when).
    """
    return TableErrorHandler.common_error_handler(purpose)(_create_table)(client, table, partition_key, tags)


@common.RETRY_DYNAMODB_THROTTLING
def _create_table(client, table, partition_key, tags):
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": partition_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": partition_key, "AttributeType": "S"}],
            BillingMode=ON_DEMAND,
            Tags=ansible_dict_to_boto3_tag_list(tags),
        )
    except is_boto3_error_code(TABLE_IN_USE):
        return False
    return True
