"""Auto Scaling as AWS behaves: unique group names, scaling activities, failing launches.

- CreateAutoScalingGroup with a name in use fails with AlreadyExists (moto replaces
  the group silently); a HealthCheckGracePeriod of 0 stays 0 (moto makes it 300).
- Launches and terminations are recorded as scaling activities, and
  DescribeScalingActivities returns them (moto always returns none).
- A test can make a group's launches fail: the instances are not launched, and a
  Failed activity says why, as AWS shows for a bad AMI or an exhausted capacity.
- Launches beyond the sandbox's instance quota fail the same way (live_launches.py).
"""

from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError
from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random

from .fidelity import Fidelity
from .live_launches import launch_within_quota
from .patching import bound_arguments, patch

DEFAULT_MAX_RECORDS = 100
ELB_HEALTH_CAUSE = "an instance was taken out of service in response to an ELB system health check failure"
INSTANCE_GONE_CAUSE = (
    "an instance was taken out of service in response to an EC2 health check "
    "indicating it has been terminated or stopped"
)


@patch(AutoScalingBackend, "create_auto_scaling_group")
def create_auto_scaling_group(
    fidelity: Fidelity, original: Any, backend: AutoScalingBackend, *args: Any, **kwargs: Any
) -> Any:
    arguments = bound_arguments(original, (backend, *args), kwargs)
    name = arguments["name"]
    if fidelity.settings.reject_duplicate_asg_names and name in backend.autoscaling_groups:
        raise AutoscalingClientError(
            "AlreadyExists",
            f"AutoScalingGroup by this name already exists - A group with the name {name} already exists",
        )
    group = original(backend, *args, **kwargs)
    if arguments.get("health_check_period") in (0, "0"):
        # moto turns a grace period of 0 into its default of 300; AWS keeps 0.
        backend.autoscaling_groups[name].health_check_grace_period = 0
    return group


# -- activities ----------------------------------------------------------------------------


def _activities(backend: AutoScalingBackend) -> list[dict[str, Any]]:
    return backend.__dict__.setdefault("_sandbox_activities", [])


def record_activity(
    group: FakeAutoScalingGroup, description: str, cause: str, status: str, message: str | None = None
) -> None:
    now = utcnow()
    activity = {
        "ActivityId": str(mock_random.uuid4()),
        "AutoScalingGroupName": group.name,
        "AutoScalingGroupARN": group.arn,
        "Description": description,
        "Cause": f"At {now.strftime('%Y-%m-%dT%H:%M:%SZ')} {cause}.",
        "StartTime": now,
        "EndTime": now,
        "StatusCode": status,
        "StatusMessage": message,
        "Progress": 100,
        "Details": "{}",
    }
    _activities(group.autoscaling_backend).append(activity)


@patch(AutoScalingResponse, "describe_scaling_activities")
def describe_scaling_activities(fidelity: Fidelity, original: Any, response: AutoScalingResponse) -> ActionResult:
    group_name = response._get_param("AutoScalingGroupName")
    activity_ids = response._get_param("ActivityIds", [])
    newest_first = list(reversed(_activities(response.autoscaling_backend)))
    matching = [
        activity
        for activity in newest_first
        if (not group_name or activity["AutoScalingGroupName"] == group_name)
        and (not activity_ids or activity["ActivityId"] in activity_ids)
    ]
    start = int(response._get_param("NextToken") or 0)
    page_size = response._get_int_param("MaxRecords") or DEFAULT_MAX_RECORDS
    page = matching[start : start + page_size]
    next_token = str(start + page_size) if start + page_size < len(matching) else None
    return ActionResult({"Activities": page, "NextToken": next_token})


# -- launches ------------------------------------------------------------------------------


@patch(FakeAutoScalingGroup, "replace_autoscaling_group_instances")
def replace_autoscaling_group_instances(
    fidelity: Fidelity, original: Any, group: FakeAutoScalingGroup, count_needed: int, propagated_tags: dict[str, str]
) -> None:
    before = len(group.instance_states)
    growth = f"increasing the capacity from {before} to {before + count_needed}"
    failure = fidelity.launch_failure_for(group.name)
    if failure is not None:
        record_activity(
            group,
            f"Launching a new EC2 instance.  Status Reason: {failure.reason}",
            f"an instance was started in response to a difference between desired and actual capacity, {growth}",
            "Failed",
            failure.reason,
        )
        return
    launching, refusal = launch_within_quota(fidelity, group.image_id, count_needed)
    if refusal is not None:
        record_activity(
            group,
            f"Launching a new EC2 instance.  Status Reason: {refusal}",
            f"an instance was started in response to a difference between desired and actual capacity, {growth}",
            "Failed",
            refusal,
        )
    if launching == 0:
        return
    known = {state.instance.id for state in group.instance_states}
    original(group, launching, propagated_tags)
    for state in group.instance_states:
        if state.instance.id not in known:
            record_activity(
                group,
                f"Launching a new EC2 instance: {state.instance.id}",
                f"an instance was started in response to a difference between desired and actual capacity, {growth}",
                "Successful",
            )


@patch(FakeAutoScalingGroup, "set_desired_capacity")
def set_desired_capacity(
    fidelity: Fidelity, original: Any, group: FakeAutoScalingGroup, new_capacity: int | None
) -> None:
    before = {state.instance.id for state in group.instance_states}
    original(group, new_capacity)
    after = {state.instance.id for state in group.instance_states}
    for instance_id in sorted(before - after):
        record_activity(
            group,
            f"Terminating EC2 instance: {instance_id}",
            "an instance was taken out of service in response to a difference between desired and actual capacity, "
            f"shrinking the capacity from {len(before)} to {len(after)}",
            "Successful",
        )


# -- ELB health: instances the load balancer finds unhealthy are replaced --------------------


def replace_unhealthy_instances(fidelity: Fidelity) -> list[str]:
    """What Auto Scaling does for a group with HealthCheckType ELB (EC2 Auto Scaling User Guide,
    "Health checks for instances in an Auto Scaling group"): once an InService instance's
    health check grace period has passed ("Amazon EC2 Auto Scaling doesn't act on an instance
    ... until the grace period expires"), a target of one of the group's target groups that
    the load balancer reports unhealthy makes the instance Unhealthy, and Auto Scaling
    terminates it and launches a replacement. Only live instances are checked for real
    (health_checks.py), so only they are ever replaced. Called under the sandbox's lock."""
    replaced = []
    now = utcnow()
    for _account, _region, backend in autoscaling_backends.iter_backends():
        for group in list(backend.autoscaling_groups.values()):
            if group.health_check_type != "ELB":
                continue
            for state in list(group.instance_states):
                reason = _elb_unhealthy(fidelity, group, state, now)
                if reason is not None:
                    _replace(backend, group, state, reason)
                    replaced.append(state.instance.id)
    return replaced


def _elb_unhealthy(fidelity: Fidelity, group: FakeAutoScalingGroup, state: Any, now: Any) -> str | None:
    """The load balancer's reason when this instance is due for replacement; None otherwise."""
    if state.lifecycle_state != "InService":
        return None
    launched = state.instance.launch_time
    if hasattr(launched, "timestamp") and (now - launched).total_seconds() < (group.health_check_grace_period or 0):
        return None
    for arn in group.target_group_arns:
        health = fidelity.health_checker.health((arn, state.instance.id))
        if health is not None and health[0] == "unhealthy":
            return ": ".join(part for part in health[1:] if part) or "unhealthy"
    return None


def _replace(backend: AutoScalingBackend, group: FakeAutoScalingGroup, state: Any, reason: str) -> None:
    instance_id = state.instance.id
    state.health_status = "Unhealthy"
    backend.ec2_backend.terminate_instances([instance_id])
    group.instance_states.remove(state)
    replacements = group.__dict__.setdefault("_sandbox_elb_replacements", [])
    replacements.append(instance_id)
    record_activity(group, f"Terminating EC2 instance: {instance_id}", ELB_HEALTH_CAUSE, "Successful",
                    f"The load balancer reported the instance unhealthy ({reason}).")
    backend.update_attached_target_groups(group.name)
    relaunch(group)


# -- test control ---------------------------------------------------------------------------


def groups_named(asg_name: str) -> list[FakeAutoScalingGroup]:
    """The group of that name in every account and region the sandbox has seen."""
    return [
        backend.autoscaling_groups[asg_name]
        for _account, _region, backend in autoscaling_backends.iter_backends()
        if asg_name in backend.autoscaling_groups
    ]


def remove_running_instances(group: FakeAutoScalingGroup) -> list[str]:
    """Terminates the group's instances as if they had failed, and tries to replace them."""
    instance_ids = [state.instance.id for state in group.instance_states]
    if instance_ids:
        group.autoscaling_backend.ec2_backend.terminate_instances(instance_ids)
        group.instance_states = []
        for instance_id in instance_ids:
            record_activity(group, f"Terminating EC2 instance: {instance_id}", INSTANCE_GONE_CAUSE, "Successful")
    relaunch(group)
    return instance_ids


def relaunch(group: FakeAutoScalingGroup) -> None:
    """What the group does on its own on AWS: bring the instances back to desired capacity."""
    group.set_desired_capacity(group.desired_capacity)
