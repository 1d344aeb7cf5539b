"""Auto Scaling group deletion as AWS does it: asynchronous, not at once (moto deletes at once).

AWS documents it in the Amazon EC2 Auto Scaling API Reference:
- "DeleteAutoScalingGroup": "If the group has instances or scaling activities in progress,
  you must specify the option to force the deletion in order for it to succeed. The force
  delete operation will also terminate the EC2 instances." Errors: "ScalingActivityInProgress:
  The operation can't be performed because there are scaling activities in progress."
- "AutoScalingGroup" (data type), Status: "The current state of the Auto Scaling group when
  the DeleteAutoScalingGroup operation is in progress."

So here DeleteAutoScalingGroup answers at once and starts terminating the group's instances
(they drain out of its target groups), and the group stays listed by
DescribeAutoScalingGroups with Status "Delete in progress" for a seeded time between
`asg_delete_min_seconds` and `asg_delete_max_seconds` (drawn from the seed and the group's
name, so a run is repeatable; read when the group is looked at, so a test may change it while
a deletion goes on), then it is gone. Meanwhile a second DeleteAutoScalingGroup
fails with ScalingActivityInProgress, and calls that change the group fail with the
ValidationError AWS answers for a group pending delete ("The AutoScaling group may not be
modified while it is pending delete"; AWS does not document the message). A group whose
time has passed is removed before any Auto Scaling call is served.
"""

import random
import time
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError
from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.elbv2.exceptions import TargetGroupNotFoundError

from .fidelity import Fidelity
from .patching import bound_arguments, patch

DELETE_IN_PROGRESS = "Delete in progress"
ALREADY_DELETING = "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group."
PENDING_DELETE = "The AutoScaling group may not be modified while it is pending delete"
# Backend calls that change a group: refused while it is being deleted.
CHANGES = (
    "update_auto_scaling_group",
    "set_desired_capacity",
    "suspend_processes",
    "resume_processes",
    "attach_load_balancer_target_groups",
    "detach_load_balancer_target_groups",
)


def deletion_seconds(fidelity: Fidelity, group_name: str) -> float:
    """How long the group stays "Delete in progress": seeded by the setting and the group's name."""
    settings = fidelity.settings
    low = settings.asg_delete_min_seconds
    high = max(low, settings.asg_delete_max_seconds)
    return random.Random(f"{settings.asg_delete_seed}:{group_name}").uniform(low, high)


def _deleted_at(group: FakeAutoScalingGroup) -> float | None:
    return group.__dict__.get("_sandbox_deleted_at")


def is_deleting(group: FakeAutoScalingGroup | None) -> bool:
    return group is not None and _deleted_at(group) is not None


def finish_due_deletions(fidelity: Fidelity) -> list[str]:
    """Removes every group whose deletion time has passed; their names. The time is read from the
    settings now, so a test can shorten (or lengthen) a deletion under way."""
    now = time.monotonic()
    finished = []
    for _account, _region, backend in autoscaling_backends.iter_backends():
        for name, group in list(backend.autoscaling_groups.items()):
            deleted_at = _deleted_at(group)
            if deleted_at is not None and now >= deleted_at + deletion_seconds(fidelity, name):
                backend.autoscaling_groups.pop(name, None)
                finished.append(name)
    return finished


@patch(AutoScalingResponse, "call_action")
def call_action(fidelity: Fidelity, original: Any, response: AutoScalingResponse) -> Any:
    # Every Auto Scaling call sees a group whose deletion has finished as gone.
    finish_due_deletions(fidelity)
    return original(response)


@patch(AutoScalingBackend, "delete_auto_scaling_group")
def delete_auto_scaling_group(fidelity: Fidelity, original: Any, backend: AutoScalingBackend, group_name: str) -> None:
    group = backend.autoscaling_groups.get(group_name)
    if is_deleting(group):
        raise AutoscalingClientError("ScalingActivityInProgress", ALREADY_DELETING)
    seconds = deletion_seconds(fidelity, group_name)
    if group is None or seconds <= 0:
        original(backend, group_name)  # moto's: not found, or gone at once
        return
    _terminate_instances(backend, group)
    group.status = DELETE_IN_PROGRESS
    group.__dict__["_sandbox_deleted_at"] = time.monotonic()


def _terminate_instances(backend: AutoScalingBackend, group: FakeAutoScalingGroup) -> None:
    """What moto's delete does before it drops the group: capacity to 0, deleted target groups skipped."""
    attached = group.target_group_arns
    remaining = []
    for arn in attached:
        try:
            backend.elbv2_backend.describe_target_groups(target_group_arns=[arn], load_balancer_arn=None, names=None)
        except TargetGroupNotFoundError:
            continue  # a target group deleted before its Auto Scaling group
        remaining.append(arn)
    group.target_group_arns = remaining
    try:
        group.min_size = group.max_size = 0
        backend.set_desired_capacity(group.name, 0)
    finally:
        group.target_group_arns = attached


def _refusing_while_deleting(name: str) -> None:
    @patch(AutoScalingBackend, name)
    def refused(fidelity: Fidelity, original: Any, backend: AutoScalingBackend, *args: Any, **kwargs: Any) -> Any:
        arguments = bound_arguments(original, (backend, *args), kwargs)
        group_name = arguments.get("group_name") or arguments.get("name")
        if is_deleting(backend.autoscaling_groups.get(group_name)):
            raise AutoscalingClientError("ValidationError", PENDING_DELETE)
        return original(backend, *args, **kwargs)


for _name in CHANGES:
    _refusing_while_deleting(_name)
