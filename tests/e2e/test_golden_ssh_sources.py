"""Who may SSH to the golden build instance: packer/golden's ssh_source_cidrs, refused before
anything is created when it is missing or open to any address without the allow flag.

playbooks/build.yml refuses what it is given (build_ssh_source_cidrs or build_vars) before
any AWS call; a value from a var file reaches the template, which refuses it while Packer
reads it, before Packer's first AWS call. The build that uses the sandbox's value, and the
security group ingress it creates, is tests/e2e/test_golden_image.py's.
"""

import pytest

from fixtures.aws import register_image
from fixtures.golden import BUILD_TASK, GOLDEN, SOURCE_AMI_NAME, build_env, build_playbook, legacy_copy

pytestmark = [pytest.mark.sandbox, pytest.mark.packer]

READ_ONLY = ("Describe", "Get", "List")


@pytest.fixture
def golden_copy(tmp_path):
    """packer/golden as Packer 1.6.6 reads it (tests/sandbox/test_packer_compat.py)."""
    template = tmp_path / "golden-packer-1.6"
    legacy_copy(GOLDEN, template)
    return template


@pytest.fixture
def base_image(ec2):
    return register_image(ec2, SOURCE_AMI_NAME)


def build_inputs(template, base_image, var_files, **extra):
    return {"app": "web", "build_template": str(template), "build_var_files": [str(path) for path in var_files],
            "build_vars": {"source_ami": base_image}, **extra}


def assert_nothing_created(aws, ec2, base_image):
    writes = sorted(key for key in aws.control.counters() if not key.split(":", 1)[1].startswith(READ_ONLY))
    assert writes == [], writes
    assert ec2.describe_instances()["Reservations"] == []
    assert [group["GroupName"] for group in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
    assert [image["ImageId"] for image in ec2.describe_images(Owners=["self"])["Images"]] == [base_image]
    assert aws.control.deleted_security_groups() == []


@pytest.mark.parametrize("inputs, refusal", [
    pytest.param({"build_ssh_source_cidrs": ["0.0.0.0/0"]},
                 'build_ssh_source_cidrs ["0.0.0.0/0"] lets any address SSH to the build instance', id="any-address"),
    pytest.param({"build_vars_ssh": ["198.51.100.7/32", "10.0.0.0/0"]},
                 'build_vars.ssh_source_cidrs ["198.51.100.7/32", "10.0.0.0/0"] lets any address', id="any-in-build-vars"),
    pytest.param({}, "build_ssh_source_cidrs is required", id="missing"),
])
def test_build_yml_refuses_ssh_sources_before_any_aws_call(
        aws, ec2, tmp_path, golden_copy, base_image, inputs, refusal):
    extra = build_inputs(golden_copy, base_image, [])
    if "build_vars_ssh" in inputs:
        extra["build_vars"]["ssh_source_cidrs"] = inputs.pop("build_vars_ssh")
    aws.control.reset_counters()

    run = build_playbook(build_env(aws, tmp_path), dict(extra, **inputs))

    assert run.failed
    message = run.result("Refuse SSH sources that are missing, malformed or open to any address")["msg"]
    assert refusal in message and message.endswith("Nothing was created."), message
    assert aws.control.counters() == {}
    assert_nothing_created(aws, ec2, base_image)


def test_the_template_refuses_any_address_from_a_var_file_before_packer_calls_aws(
        aws, ec2, tmp_path, golden_copy, base_image):
    open_to_all = tmp_path / "open.pkrvars.hcl"
    open_to_all.write_text('ssh_source_cidrs = ["0.0.0.0/0"]\n')
    extra = build_inputs(golden_copy, base_image, [golden_copy / "sandbox.pkrvars.hcl", open_to_all])
    aws.control.reset_counters()

    run = build_playbook(build_env(aws, tmp_path), extra)

    assert run.failed
    message = run.result(BUILD_TASK)["msg"]
    assert 'REFUSED ssh_source_cidrs = ["0.0.0.0/0"] lets any address SSH' in " ".join(message.split()), message
    assert_nothing_created(aws, ec2, base_image)
