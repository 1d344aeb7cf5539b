"""Forward actions validated as AWS validates them on every listener and rule write.

moto accepts any weight and, on ModifyListener, target groups that do not exist.
AWS rejects weights outside 0-999 (ValidationError) and unknown target groups
(TargetGroupNotFound) on CreateListener, ModifyListener, CreateRule and ModifyRule.
"""

from typing import Any

from moto.elbv2.exceptions import TargetGroupNotFoundError, ValidationError
from moto.elbv2.models import ELBv2Backend

from .fidelity import Fidelity
from .patching import bound_arguments, patch

MIN_WEIGHT = 0
MAX_WEIGHT = 999

# Backend method -> the request parameter its `actions` came from (used in messages).
ACTION_WRITERS = {
    "create_listener": "defaultActions",
    "modify_listener": "defaultActions",
    "create_rule": "actions",
    "modify_rule": "actions",
}


def _validating(method_name: str, parameter: str) -> None:
    @patch(ELBv2Backend, method_name)
    def validated(fidelity: Fidelity, original: Any, backend: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        if fidelity.settings.validate_forward_actions:
            actions = bound_arguments(original, (backend, *args), kwargs).get("actions") or []
            validate_forward_actions(backend, actions, parameter)
        return original(backend, *args, **kwargs)


for _method, _parameter in ACTION_WRITERS.items():
    _validating(_method, _parameter)


def validate_forward_actions(backend: ELBv2Backend, actions: list[dict[str, Any]], parameter: str) -> None:
    for action_index, action in enumerate(actions, start=1):
        if action.get("Type") != "forward":
            continue
        forwarded = action.get("ForwardConfig", {}).get("TargetGroups", [])
        for group_index, target_group in enumerate(forwarded, start=1):
            if "Weight" in target_group:
                where = f"{parameter}.{action_index}.member.forwardConfig.targetGroups.{group_index}.member.weight"
                _check_weight(target_group["Weight"], where)
        arns = [group["TargetGroupArn"] for group in forwarded if "TargetGroupArn" in group]
        if action.get("TargetGroupArn"):
            arns.append(action["TargetGroupArn"])
        if any(arn not in backend.target_groups for arn in arns):
            raise TargetGroupNotFoundError()


def _check_weight(weight: Any, where: str) -> None:
    value = int(weight)
    if value < MIN_WEIGHT:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {MIN_WEIGHT}"
        )
    if value > MAX_WEIGHT:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {MAX_WEIGHT}"
        )


# Imported last so that its recorder wraps the validation above: only writes that
# passed it, and that moto stored, are recorded.
from . import listener_writes  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
