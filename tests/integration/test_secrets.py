"""A secret in an app's user data reaches the instances and nothing else a user or AWX keeps.

The secret comes the way docs/apps.md says it must: from the job's environment, where an
AWX credential injects it, referenced by name in cattle_apps (never inline in extra vars).
The deploy job runs as AWX runs it (ansible-runner, -vvv); its output, its events, its
extra vars and its set_stats artifacts must not contain the secret, while the launch
template the fleet made does (so the secret really went through the modules).
"""

import base64
import uuid

import pytest

from fixtures.awx import WorkflowRunner, load_workflow, part_of
from fixtures.deploy_site import Site

pytestmark = pytest.mark.sandbox

BASE_SECRET = "base-" + uuid.uuid4().hex
STAGE_SECRET = "stage-" + uuid.uuid4().hex
# What AWX's custom credentials inject into the job's environment.
CREDENTIAL_ENV = {"CATTLE_DB_PASSWORD": BASE_SECRET, "CATTLE_DEV_TOKEN": STAGE_SECRET}
# Every task result carries its module's arguments (`invocation`), as ansible-core 2.19 (our
# oldest) always does; 2.21 leaves them out unless asked.
INVOCATIONS = {"ANSIBLE_INJECT_INVOCATION": "true"}


def user_data(variable):
    return "#!/bin/sh\nexport TOKEN='{{ lookup('ansible.builtin.env', '%s') }}'\necho hello\n" % variable


def stage_user_data(site):
    template = site.ec2.describe_launch_templates()["LaunchTemplates"][0]["LaunchTemplateId"]
    version = site.ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"][0]
    return base64.b64decode(version["LaunchTemplateData"]["UserData"]).decode()


def kept_files(node):
    """Everything the job left in its private data dir but the job's environment, where AWX puts
    the credentials: env/envvars, and ansible-runner's record of the command it ran with that
    environment. The rest: extra vars, stdout, job events, artifacts."""
    environment = {"env/envvars", f"artifacts/{node.job_id}/command"}
    return [path for path in node.private_data_dir.rglob("*")
            if path.is_file() and path.relative_to(node.private_data_dir).as_posix() not in environment]


def test_user_data_secrets_stay_out_of_output_events_extra_vars_and_artifacts(aws, boto3_client, aws_network, aws_env,
                                                                              tmp_path):
    site = Site(aws, boto3_client, aws_network)
    site.definition["user_data"] = user_data("CATTLE_DB_PASSWORD")
    site.definition["stages"] = {"dev": {"user_data": user_data("CATTLE_DEV_TOKEN")}, "staging": {}, "prod": {}}
    site.point("dev", site.images[0])
    runner = WorkflowRunner(tmp_path / "awx", {**aws_env, **CREDENTIAL_ENV, **INVOCATIONS}, {"cattle_apps": {"web": site.definition}},
                            template_vars={"cattle deploy": {"wait_timeout": 60, "canary_pause": 0}},
                            workflow=part_of(load_workflow(), ["deploy-dev"]), verbosity=3)

    result = runner.run({"app": "web"})

    node = result["deploy-dev"]
    assert node.status == "successful", node.explain()
    rendered = stage_user_data(site)
    assert STAGE_SECRET in rendered  # it reached AWS: the modules had it
    assert "ESTABLISH LOCAL CONNECTION" in node.stdout() and '"module_args": {' in node.stdout()  # -vvv
    leaks = {}
    files = kept_files(node)
    assert any(path.parent.name == "job_events" for path in files) and node.artifacts
    for path in files:
        text = path.read_text(errors="replace")
        found = [secret for secret in (BASE_SECRET, STAGE_SECRET, base64.b64encode(rendered.encode()).decode())
                 if secret in text]
        if found:
            leaks[str(path.relative_to(node.private_data_dir))] = found
    assert leaks == {}
