"""AWX as code (awx/): the data configure.yml gives AWX, checked against AWX's rules and the
playbooks' inputs, with no AWX server. AWX's rules are in tests/fixtures/awx.py.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from fixtures.ansible import REPO_ROOT, VENV_BIN, ansible_env
from fixtures.awx import (AWX_DIR, accepted_variables, answer_errors, load_job_templates, load_workflow, load_yaml,
                          survey_defaults, survey_spec_errors)

PLAYBOOKS = REPO_ROOT / "playbooks"
PROJECT = AWX_DIR / "project"
# What each playbook cannot run without (the playbooks' contract), and what it publishes.
REQUIRED = {
    "build.yml": {"app"},
    "promote.yml": {"app", "to"},
    # and image_id, or the build's cattle_build in the workflow
    "validate.yml": {"app", "cattle_apps"},
    "deploy.yml": {"app", "stage", "cattle_apps"},
    "rollback.yml": {"app", "stage", "cattle_apps"},
    "terminate.yml": {"app", "stage", "cattle_apps"},
    "status.yml": {"app", "stage", "cattle_apps"},
    "cleanup.yml": {"app", "cattle_apps"},
    "pipeline.yml": {"app", "cattle_apps"},
}
PUBLISHES = {"build.yml": "cattle_build", "validate.yml": "cattle_image_test", "promote.yml": "cattle_promotion", "deploy.yml": "cattle_deployment",
             "rollback.yml": "cattle_rollback", "terminate.yml": "cattle_terminate", "status.yml": "cattle_status",
             "cleanup.yml": "cattle_cleanup", "pipeline.yml": "cattle_pipeline"}
PER_NODE = {"stage", "to"}
SIDE_BY_SIDE = {"cattle deploy", "cattle rollback", "cattle terminate", "cattle pipeline", "cattle validate"}

TEMPLATES = load_job_templates()
WORKFLOW = load_workflow()
CONFIGURE = load_yaml(AWX_DIR / "configure.yml")[0]
SURVEY_FILES = sorted((AWX_DIR / "surveys").glob("*.json"))


def configure_task(module):
    return next(task for task in CONFIGURE["tasks"] if module in task)


def inventory_variables():
    """The variables configure.yml gives the inventory (every job gets them)."""
    return set(configure_task("awx.awx.inventory")["awx.awx.inventory"]["variables"])


def job_nodes():
    return [node for node in WORKFLOW.nodes if node.job_template]


def ancestors(identifier):
    found, todo = set(), [identifier]
    while todo:
        for parent in WORKFLOW.parent_nodes(todo.pop()):
            if parent.identifier not in found:
                found.add(parent.identifier)
                todo.append(parent.identifier)
    return found


def published_before(identifier):
    """What the node's ancestors publish with set_stats."""
    return {PUBLISHES[TEMPLATES[WORKFLOW.node(ancestor).job_template].playbook]
            for ancestor in ancestors(identifier) if WORKFLOW.node(ancestor).job_template}


def template_supplies(template):
    """What a template's job gets whatever the launch: its extra_vars and survey defaults."""
    return set(template.extra_vars) | set(survey_defaults(template.survey)) | inventory_variables()


# -- survey specs --------------------------------------------------------------------------


@pytest.mark.parametrize("path", SURVEY_FILES, ids=lambda path: path.name)
def test_every_survey_spec_is_one_awx_accepts(path):
    assert survey_spec_errors(json.loads(path.read_text())) == []


@pytest.mark.parametrize("path", SURVEY_FILES, ids=lambda path: path.name)
def test_survey_defaults_pass_their_own_questions_and_optional_ones_have_none(path):
    """AWX drops a default that fails its question; a default of an optional question would beat
    the template's extra_vars and the playbook's own default."""
    for question in json.loads(path.read_text())["spec"]:
        if "default" in question:
            assert question["required"], f"{path.name}: optional '{question['variable']}' has a default"
            assert answer_errors(question, {question["variable"]: question["default"]}) == []


def test_every_survey_file_belongs_to_one_template_or_the_workflow():
    templates = load_yaml(AWX_DIR / "vars" / "job_templates.yml")["cattle_awx_job_templates"]
    workflow = load_yaml(AWX_DIR / "vars" / "workflow.yml")["cattle_awx_workflow"]
    named = [record["survey"] for record in templates] + [workflow["survey"]]
    assert sorted(named) == [path.name for path in SURVEY_FILES]


# -- job templates and the project -----------------------------------------------------------


def test_every_job_template_names_a_wrapper_playbook_of_the_project():
    wrappers = {path.name for path in PROJECT.glob("*.yml")}
    assert {template.playbook for template in TEMPLATES.values()} == wrappers


@pytest.mark.parametrize("wrapper", sorted(PROJECT.glob("*.yml")), ids=lambda path: path.name)
def test_each_wrapper_imports_the_collections_playbook_of_its_name(wrapper):
    assert [list(play) for play in load_yaml(wrapper)] == [["name", "ansible.builtin.import_playbook"]]
    imported = load_yaml(wrapper)[0]["ansible.builtin.import_playbook"]
    assert imported == f"cattle.immutable.{wrapper.stem}"
    assert (PLAYBOOKS / wrapper.name).is_file(), f"{imported}: no playbooks/{wrapper.name}"


def test_templates_that_take_the_deploy_lock_run_side_by_side():
    assert {name for name, template in TEMPLATES.items() if template.allow_simultaneous} >= SIDE_BY_SIDE


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_a_template_launched_on_its_own_asks_for_what_its_playbook_requires(name):
    template = TEMPLATES[name]
    required = {q["variable"] for q in template.survey["spec"] if q["required"]}
    assert REQUIRED[template.playbook] <= required | template_supplies(template)


def test_configure_gives_every_template_its_survey_and_the_shared_objects():
    task = configure_task("awx.awx.job_template")
    module = task["awx.awx.job_template"]
    assert task["loop"] == "{{ cattle_awx_job_templates }}"
    assert module["credentials"] == ["{{ cattle_awx_aws_credential }}"]
    for option in ("project", "inventory", "execution_environment", "playbook", "survey_spec",
                   "ask_variables_on_launch", "allow_simultaneous", "extra_vars"):
        assert module[option], option
    assert module["survey_enabled"] is True
    project = configure_task("awx.awx.project")["awx.awx.project"]
    assert project["scm_update_on_launch"] is True and project["scm_url"] == "{{ cattle_awx_scm_url }}"


def test_jobs_run_on_a_local_localhost_with_the_playbooks_python():
    host = load_yaml(AWX_DIR / "vars" / "computed.yml")["cattle_awx_localhost_vars"]
    assert host == {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    assert inventory_variables() == {"cattle_apps"}


# -- the workflow ----------------------------------------------------------------------------


def test_every_node_runs_a_job_template_or_is_an_approval_and_every_edge_leads_to_a_node():
    identifiers = [node.identifier for node in WORKFLOW.nodes]
    assert len(identifiers) == len(set(identifiers))
    for node in WORKFLOW.nodes:
        assert (node.job_template in TEMPLATES) != (node.approval is not None), node.identifier
        for edge in ("success", "failure", "always"):
            assert set(node.children(edge)) <= set(identifiers), node.identifier


def test_node_extra_data_is_all_accepted_by_its_template():
    """AWX keeps a node's extra_data only when the template prompts for it or a survey question
    names and accepts it; the rest is dropped without a word."""
    for node in job_nodes():
        accepted, rejected = accepted_variables(TEMPLATES[node.job_template], node.extra_data)
        assert (accepted, rejected) == (node.extra_data, {}), node.identifier


def test_required_survey_questions_are_answered_in_the_workflow():
    answered_by_workflow = {q["variable"] for q in WORKFLOW.survey["spec"] if q["required"]}
    for node in job_nodes():
        template = TEMPLATES[node.job_template]
        for question in (q for q in template.survey["spec"] if q["required"]):
            answers = {**survey_defaults(template.survey), **node.extra_data}
            assert question["variable"] in answered_by_workflow or not answer_errors(question, answers), (
                f"{node.identifier}: '{question['variable']}' unanswered")


def test_every_node_gets_what_its_playbook_requires():
    workflow_vars = {q["variable"] for q in WORKFLOW.survey["spec"]} | set(WORKFLOW.extra_vars)
    for node in job_nodes():
        template = TEMPLATES[node.job_template]
        supplied = set(node.extra_data) | workflow_vars | published_before(node.identifier) | template_supplies(template)
        assert REQUIRED[template.playbook] <= supplied, node.identifier


def test_per_node_inputs_are_never_workflow_level():
    """Workflow variables reach every node and beat the node's own extra_data."""
    node_keys = {key for node in WORKFLOW.nodes for key in node.extra_data}
    workflow_keys = {q["variable"] for q in WORKFLOW.survey["spec"]} | set(WORKFLOW.extra_vars)
    assert workflow_keys & (node_keys | PER_NODE) == set()
    assert {q["variable"] for q in WORKFLOW.survey["spec"]} == {"app"}


def success_chain():
    chain, node = [], next(node for node in WORKFLOW.nodes if not WORKFLOW.parent_nodes(node.identifier))
    while node:
        chain.append(node)
        node = WORKFLOW.node(node.success[0]) if node.success else None
    return chain


def test_the_release_builds_tests_then_promotes_and_deploys_each_stage_approving_prod():
    steps = [(node.job_template or "approval", node.extra_data) for node in success_chain()]
    assert steps == [
        ("cattle build", {}), ("cattle validate", {}),
        ("cattle promote", {"to": "dev"}), ("cattle deploy", {"stage": "dev"}),
        ("cattle promote", {"to": "staging"}), ("cattle deploy", {"stage": "staging"}),
        ("approval", {}),
        ("cattle promote", {"to": "prod"}), ("cattle deploy", {"stage": "prod"}),
    ]
    assert all(len(node.success) <= 1 and not node.always for node in WORKFLOW.nodes)


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_a_failed_deploy_goes_to_its_stages_status_and_a_failed_status_to_its_rollback(stage):
    deploy = next(node for node in job_nodes() if node.job_template == "cattle deploy" and node.extra_data == {"stage": stage})
    [status] = [WORKFLOW.node(identifier) for identifier in deploy.failure]
    assert (status.job_template, status.extra_data, status.success, status.always) == (
        "cattle status", {"stage": stage}, (), ())
    [rollback] = [WORKFLOW.node(identifier) for identifier in status.failure]
    assert (rollback.job_template, rollback.extra_data) == ("cattle rollback", {"stage": stage})
    assert not (rollback.success or rollback.failure or rollback.always)
    assert [parent.identifier for parent in WORKFLOW.parent_nodes(rollback.identifier)] == [status.identifier]


def test_only_deploys_and_statuses_have_failure_edges():
    with_failure = {TEMPLATES[node.job_template].name for node in job_nodes() if node.failure}
    assert with_failure == {"cattle deploy", "cattle status"}


# -- what the playbooks publish --------------------------------------------------------------


def walk(data):
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from walk(value)
    elif isinstance(data, list):
        for value in data:
            yield from walk(value)


def playbook_files():
    return sorted(PLAYBOOKS.glob("*.yml")) + sorted((PLAYBOOKS / "tasks").glob("*.yml"))


def published_keys(path):
    return {key for item in walk(load_yaml(path)) for key in (item.get("ansible.builtin.set_stats") or {}).get("data", {})}


def task_files_named(path):
    return {PLAYBOOKS / name for name in re.findall(r"tasks/[\w.-]+\.yml", path.read_text())}


@pytest.mark.parametrize("playbook", sorted(PUBLISHES))
def test_each_playbook_publishes_its_namespaced_artifact(playbook):
    path = PLAYBOOKS / playbook
    keys = set().union(*(published_keys(file) for file in {path} | task_files_named(path)))
    assert PUBLISHES[playbook] in keys


def test_no_published_key_shadows_an_input_or_a_registered_name():
    """Artifacts arrive as extra vars in later jobs: they beat registered vars and inputs."""
    inputs = {q["variable"] for template in TEMPLATES.values() for q in template.survey["spec"]}
    inputs |= set().union(*REQUIRED.values()) | PER_NODE
    registered = {item["register"] for path in playbook_files() for item in walk(load_yaml(path)) if "register" in item}
    published = set().union(*(published_keys(path) for path in playbook_files()))
    assert published & (inputs | registered) == set()
    assert all(key.startswith("cattle_") for key in published), published


# -- requirements ----------------------------------------------------------------------------


def requirement_versions(path):
    return {item["name"]: item["version"] for item in yaml.safe_load(Path(path).read_text())["collections"]}


def test_the_project_installs_this_release_and_its_dependencies():
    release = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())["version"]
    assert requirement_versions(PROJECT / "collections" / "requirements.yml") == {
        "cattle.immutable": release, "amazon.aws": ">=10.0.0,<12.0.0", "awx.awx": "24.6.1"}
    assert requirement_versions(REPO_ROOT / "requirements.yml")["awx.awx"] == "24.6.1"


# -- configure.yml itself ----------------------------------------------------------------------


# ansible_env(): as `make lint` does, this checkout's collection from a link and awx.awx from
# the pinned ansible package.


def test_configure_passes_the_syntax_check():
    completed = subprocess.run([str(VENV_BIN / "ansible-playbook"), "--syntax-check", str(AWX_DIR / "configure.yml")],
                               env=ansible_env(), capture_output=True, text=True, check=False, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


RENDER = """
- name: Render what configure.yml computes
  hosts: localhost
  gather_facts: false
  vars_files: {files}
  tasks:
    - name: Show it
      ansible.builtin.debug:
        msg: "{{{{ {{'nodes': cattle_awx_workflow_nodes, 'survey': cattle_awx_workflow_survey}} }}}}"
"""


def render_configure(tmp_path, **extra_vars):
    files = [str(AWX_DIR / "vars" / name) for name in ("settings.yml", "job_templates.yml", "workflow.yml", "computed.yml")]
    playbook = tmp_path / "render.yml"
    playbook.write_text(RENDER.format(files=json.dumps(files)))
    env = ansible_env()
    arguments = json.dumps({"cattle_awx_survey_dir": str(AWX_DIR / "surveys"), **extra_vars})
    completed = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(playbook), "-e", arguments],
                               env=env, capture_output=True, text=True, check=False, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]


def test_configure_sends_the_workflow_as_the_data_says(tmp_path):
    rendered = render_configure(tmp_path, cattle_awx_workflow_app="web")

    for sent, node in zip(rendered["nodes"], WORKFLOW.nodes, strict=True):
        assert sent["identifier"] == node.identifier and sent["extra_data"] == node.extra_data
        for edge in ("success", "failure", "always"):
            assert [target["identifier"] for target in sent["related"][f"{edge}_nodes"]] == list(node.children(edge))
        kind = "workflow_approval" if node.approval else "job_template"
        assert (sent["unified_job_template"]["type"], sent["unified_job_template"]["name"]) == (
            kind, node.approval["name"] if node.approval else node.job_template)
    # A webhook launch answers no survey: the app question answers itself.
    assert survey_defaults(rendered["survey"]) == {"app": "web"}
    assert survey_spec_errors(rendered["survey"]) == []


def test_ansible_lint_passes_on_the_awx_files():
    completed = subprocess.run([str(VENV_BIN / "ansible-lint"), "awx/", "requirements.yml"], cwd=REPO_ROOT,
                               env=ansible_env(), capture_output=True, text=True, check=False, timeout=600)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
