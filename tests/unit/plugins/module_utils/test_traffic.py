"""The traffic module's request checks (no AWS involved)."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import traffic
from ansible_collections.cattle.immutable.plugins.module_utils._traffic.listeners import ListenerError


def entries(*pairs):
    return [{"target_group": group, "weight": weight} for group, weight in pairs]


def test_requested_weights_keep_the_given_order():
    assert traffic.requested_weights(entries(("web-green", 10), ("web-blue", 90))) == [("web-green", 10), ("web-blue", 90)]


@pytest.mark.parametrize(
    "pairs, message",
    [
        ((), "target_groups: at least one target group is required"),
        ((("web-blue", 1), ("web-blue", 0)), "target_groups: web-blue listed more than once"),
        ((("web-blue", 1000),), "target_groups: the weight of web-blue is 1000"),
    ],
)
def test_bad_requests_are_refused_naming_target_groups(pairs, message):
    with pytest.raises(ListenerError) as refused:
        traffic.requested_weights(entries(*pairs))

    assert str(refused.value).startswith(message)
    assert str(refused.value).endswith("nothing was changed")
