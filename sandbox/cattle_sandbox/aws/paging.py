"""Launch templates and their versions listed in pages, as AWS lists them.

moto 5.2.5 answers DescribeLaunchTemplates and DescribeLaunchTemplateVersions with at most
MaxResults items (15 when it is not given) and never a NextToken, so a caller that pages
correctly silently misses the rest: with 16 versions, an AMI named only by the 16th looks
unused. AWS pages both calls. The EC2 API reference, DescribeLaunchTemplates and
DescribeLaunchTemplateVersions, parameter MaxResults
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplates.html,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplateVersions.html):
"The maximum number of results to return in a single call. To retrieve the remaining
results, make another call with the returned NextToken value. This value can be between 1
and 200." and response element NextToken: "The token to use to retrieve the next page of
results. This value is null when there are no more results to return."

Here both answer one page and a NextToken while items remain. A page is MaxResults items;
without MaxResults it is DEFAULT_PAGE (AWS documents no default, so the sandbox keeps moto's
15, which makes a caller that does not page see a NextToken early). MaxResults outside 1-200
and a token the sandbox did not hand out are refused with InvalidParameterValue (AWS names no
error code for either: ours is a guess).
"""

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidParameterValue
from moto.ec2.responses.launch_templates import LaunchTemplates

from .fidelity import Fidelity
from .patching import patch

DEFAULT_PAGE = 15
MAX_RESULTS = (1, 200)
EVERY_ITEM = 10**9  # asks moto for every item; the page is cut here


@patch(LaunchTemplates, "describe_launch_templates")
def describe_launch_templates(fidelity: Fidelity, original: Any, response: LaunchTemplates) -> ActionResult:
    return paged(original, response, "LaunchTemplates")


@patch(LaunchTemplates, "describe_launch_template_versions")
def describe_launch_template_versions(fidelity: Fidelity, original: Any, response: LaunchTemplates) -> ActionResult:
    return paged(original, response, "LaunchTemplateVersions")


def paged(original: Any, response: LaunchTemplates, key: str) -> ActionResult:
    """moto's answer with every item, cut to the page MaxResults and NextToken ask for."""
    size = page_size(response._get_int_param("MaxResults"))
    start = page_start(response._get_param("NextToken"))
    items = every_item(original, response)[key]
    answer: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        answer["NextToken"] = str(start + size)
    return ActionResult(answer)


def every_item(original: Any, response: LaunchTemplates) -> dict[str, Any]:
    # moto cuts its list at MaxResults itself: it is asked for all of them instead.
    asked = response._get_int_param

    def every_item_asked(name: str, if_none: Any = None) -> Any:
        return EVERY_ITEM if name == "MaxResults" else asked(name, if_none)

    response._get_int_param = every_item_asked  # type: ignore[method-assign]
    try:
        return original(response).result
    finally:
        del response._get_int_param


def page_size(max_results: int | None) -> int:
    if max_results is None:
        return DEFAULT_PAGE
    least, most = MAX_RESULTS
    if not least <= max_results <= most:
        raise InvalidParameterValue(f"MaxResults must be between {least} and {most}, got {max_results}")
    return max_results


def page_start(token: str | None) -> int:
    if token is None:
        return 0
    if not token.isdigit():
        raise InvalidParameterValue(f"The NextToken {token} is not valid")
    return int(token)
