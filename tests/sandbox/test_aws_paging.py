"""Launch templates and their versions come in pages with a NextToken, as AWS gives them
(moto cuts the list at 15 and says nothing)."""

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.sandbox

DATA = {"ImageId": "ami-12345678", "InstanceType": "t3.micro"}


def make_templates(ec2, count):
    return [ec2.create_launch_template(LaunchTemplateName=f"web-{n:02d}", LaunchTemplateData=DATA)
            ["LaunchTemplate"]["LaunchTemplateId"] for n in range(count)]


def make_versions(ec2, count):
    """One template with `count` versions, each naming its own image."""
    template = make_templates(ec2, 1)[0]
    for n in range(2, count + 1):
        ec2.create_launch_template_version(LaunchTemplateId=template,
                                           LaunchTemplateData=dict(DATA, ImageId=f"ami-{n:08x}"))
    return template


def test_launch_templates_beyond_a_page_come_with_a_next_token(ec2):
    made = make_templates(ec2, 20)

    first = ec2.describe_launch_templates()
    rest = ec2.describe_launch_templates(NextToken=first["NextToken"])

    assert len(first["LaunchTemplates"]) == 15 and "NextToken" not in rest
    assert [t["LaunchTemplateId"] for t in first["LaunchTemplates"] + rest["LaunchTemplates"]] == made


def test_the_paginator_reads_every_launch_template_version_at_any_page_size(ec2):
    template = make_versions(ec2, 17)
    paginator = ec2.get_paginator("describe_launch_template_versions")

    for page_size in (None, 4, 200):
        config = {"PageSize": page_size} if page_size else {}
        pages = list(paginator.paginate(LaunchTemplateId=template, PaginationConfig=config))
        versions = [v["VersionNumber"] for page in pages for v in page["LaunchTemplateVersions"]]
        assert versions == list(range(1, 18))
        assert len(pages) == {None: 2, 4: 5, 200: 1}[page_size]


def test_the_last_page_has_no_token_and_an_exact_fit_needs_none(ec2):
    template = make_versions(ec2, 15)

    answer = ec2.describe_launch_template_versions(LaunchTemplateId=template)

    assert len(answer["LaunchTemplateVersions"]) == 15 and "NextToken" not in answer


# botocore itself refuses MaxResults below 1 before sending.
@pytest.mark.parametrize("request_args", [{"MaxResults": 201}, {"NextToken": "not-ours"}])
def test_a_page_size_above_200_or_a_foreign_token_is_refused(ec2, request_args):
    make_templates(ec2, 2)

    with pytest.raises(ClientError) as raised:
        ec2.describe_launch_templates(**request_args)

    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
