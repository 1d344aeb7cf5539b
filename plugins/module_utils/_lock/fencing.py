# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fencing the writes of a run that holds the deploy lock.

A listener write (and most other AWS writes) has no conditional form: AWS cannot refuse it
because the lock changed hands. So each fenced write is preceded by a conditional renewal
of the lock with the run's acquisition token (locking.LeaseKeeper.fence), which fails when
the lock was taken over or released, and is made only when the lease left after that
renewal exceeds the write's worst-case time. The worst case comes from the settings of the
client that makes it: its attempts (botocore's retries), connect and read timeouts, and
the longest backoff between attempts. The module's own retry policy (AWSRetry) calls the
client again for each of its retries, so each of those attempts is fenced on its own.

FencedClient wraps a boto3 client: the operations it fences are renewed-then-made, the
others (reads, and writes not fenced) pass through unchanged. docs/deploy-lock.md says
what window remains.
"""

# botocore's retry modes: its default total attempts, and the longest pause before retry n
# (1-based). legacy: rand * 2 ** (n - 1) (botocore/data/_retry.json, 5 attempts);
# standard and adaptive: rand * min(2 ** (n - 1), 20), raised by up to 5 s when AWS answers
# with x-amz-retry-after (botocore/retries/standard.py, 3 attempts).
DEFAULT_ATTEMPTS = {"legacy": 5, "standard": 3, "adaptive": 3}
STANDARD_MAX_BACKOFF = 20
RETRY_AFTER_ALLOWANCE = 5

# Operations that are never writes: reads, paginators, presigned URLs.
READ_PREFIXES = ("describe_", "list_", "get_", "can_paginate", "generate_presigned_url")
# The writes fenced in every run that holds the lock: the forward action's.
LISTENER_WRITES = frozenset(("modify_listener", "modify_rule", "create_rule", "delete_rule"))


def total_attempts(retries):
    """How many times botocore sends one call, from the client's resolved `retries` settings."""
    retries = retries or {}
    if retries.get("total_max_attempts"):
        return int(retries["total_max_attempts"])
    if retries.get("max_attempts") is not None:
        return int(retries["max_attempts"]) + 1
    return DEFAULT_ATTEMPTS.get(retries.get("mode") or "legacy", DEFAULT_ATTEMPTS["legacy"])


def longest_backoff(mode, retry):
    """The longest pause botocore makes before its retry number `retry` (1-based)."""
    exponential = 2 ** (retry - 1)
    if (mode or "legacy") == "legacy":
        return float(exponential)
    return float(min(exponential, STANDARD_MAX_BACKOFF) + RETRY_AFTER_ALLOWANCE)


def call_worst_case(connect_timeout, read_timeout, retries):
    """Seconds one client call can take at most: every attempt timing out on connect and on
    read, with the longest backoff between attempts."""
    attempts = total_attempts(retries)
    mode = (retries or {}).get("mode")
    per_attempt = float(connect_timeout or 0) + float(read_timeout or 0)
    return attempts * per_attempt + sum(longest_backoff(mode, retry) for retry in range(1, attempts))


def client_worst_case(client):
    """call_worst_case with the settings the boto3 client really has (its config, merged with
    the module's aws_config and the environment)."""
    config = client.meta.config
    return call_worst_case(config.connect_timeout, config.read_timeout, config.retries)


def is_write(operation):
    return not operation.startswith(READ_PREFIXES)


class FencedClient(object):
    """A boto3 client whose fenced operations are each preceded by keeper.fence(operation, worst case).

    `fenced`: the operation names to fence, or None for every write.
    """

    def __init__(self, client, keeper, fenced=None):
        self._client = client
        self._keeper = keeper
        self._fenced = fenced

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute) or not self.fences(name):
            return attribute

        def fenced_call(*args, **kwargs):
            self._keeper.fence(name, client_worst_case(self._client))
            return attribute(*args, **kwargs)

        return fenced_call

    def fences(self, operation):
        if self._fenced is None:
            return is_write(operation)
        return operation in self._fenced


def fenced(client, keeper, operations=None):
    """The client, fenced by the keeper (a locking.LeaseKeeper) when there is one."""
    if keeper is None:
        return client
    return FencedClient(client, keeper, operations)
