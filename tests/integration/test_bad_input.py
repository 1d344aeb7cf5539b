"""Bad input, through every door: each case below is refused before the first write, with a
message that names the input (the option, the variable or the definition's field path) and
says that nothing was changed.

One realistic site is built once (fixtures/bad_input_site.py): the app `web` serving from a
fleet behind its load balancer, its image promoted to every stage; the app `api` whose lock
another run holds; the app `batch` whose lock expired an hour ago. Then every case runs once:
the module cases as the tasks of one ansible-playbook run (errors ignored, the sandbox's call
counters read around each task), each playbook case in a run of its own with the counters
reset. A case passes when it was refused, made no call but reads (Describe, List, Get, STS),
and its message names the input and says nothing was changed; the inventory taken after
every case (instances, groups, launch templates, target groups, listeners and rules, AMIs
and their tags, the lock table, SSM parameters) must equal the one taken before.

The table is the spec: a case's door (a module and its arguments, or a playbook and its
variables, both built from the site), and the texts its message must contain. A case that
shows a product bug someone else's work fixes is marked xfail (strict) naming the bug.
"""

import copy
import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from fixtures.bad_input_site import EXPIRED_RUN, OTHER_RUN, run_cases

pytestmark = [pytest.mark.sandbox, pytest.mark.xdist_group("bad_input")]

# What a refusal ends with (image_build: "nothing was built or changed").
NOTHING_CHANGED = re.compile(r"nothing was (built or )?changed", re.IGNORECASE)
# Product bugs these cases show (issue 15, item 8), each marked on its cases: xfail, strict.
# The deploy lock is a compare-and-swap (docs/deploy-lock.md): a lock another run holds, or a
# missing table, is learnt from DynamoDB refusing the conditional write, which changes nothing
# (the inventory says so) and saves the read before it on every run.
LOCK_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
FLEET_LOCKS_BEFORE_THE_AMI = (
    "the fleet module takes the deploy lock before it checks the AMI, and gives it back after refusing "
    "(PutItem, DeleteItem: module_utils/fleet.py run_locked)")
ROLLBACK_LOCKS_BEFORE_THE_STANDBY = (
    "rollback_switch takes the deploy lock before it looks for the standby, and gives it back after refusing "
    "(PutItem, DeleteItem: its lock plumbing)")
ANOTHER_FLEET_ID = "0123456789ab"
MISSING_AMI = "ami-0123456789abcdef0"


@dataclass(frozen=True)
class Case:
    """id; door: a module (cattle.immutable.<door>) or a playbook (<door>.yml); given(site):
    the module's arguments or the playbook's variables; says: what the message must contain.
    `by_ansible`: refused by Ansible's own check of the argument spec, before our code runs,
    whose message names the option but cannot say that nothing was changed.
    `refused_by_condition`: the lock's conditional write is the check; DynamoDB refuses it."""

    id: str
    door: str
    given: Callable[[Any], dict]
    says: tuple = ()
    by_ansible: bool = False
    refused_by_condition: bool = False
    xfail: str = ""

    @property
    def playbook(self):
        return self.door.endswith(".yml")


def changed(definition, **fields):
    """A copy of a definition with `fields` replaced."""
    return dict(copy.deepcopy(definition), **fields)


def web(site, **args):
    """The fleet-like modules' arguments for web/prod with web's definition, plus `args`."""
    return dict({"app": "web", "definition": site.web.definition, "stage": "prod"}, **args)


def web_as(site, stage="prod", **fields):
    """web/<stage> with a definition changed by `fields`."""
    return {"app": "web", "definition": changed(site.web.definition, **fields), "stage": stage}


def api_lock(**lock):
    return dict({"run_id": "my-run", "owner": "me@ci"}, **lock)


def listener(site, **args):
    return dict({"listener_arn": site.web.listener}, **args)


def weights(*pairs):
    return [{"target_group": name, "weight": weight} for name, weight in pairs]


def apps_with(site, **web_fields):
    """cattle_apps of the playbooks with web's definition changed by `web_fields`."""
    return {"web": changed(site.web.definition, **web_fields), "api": site.api.definition}


def capacity(low, high, desired):
    return {"min": low, "max": high, "desired": desired}


CASES = [
    # -- fleet: the definition's fields, by their path ---------------------------------------
    Case("fleet-unknown-definition-field", "fleet", lambda s: web_as(s, capacty=capacity(1, 2, 1)),
         ("definition.capacty", "supported parameters include"), by_ansible=True),
    Case("fleet-capacity-max-below-min", "fleet", lambda s: web_as(s, capacity=capacity(3, 2, 2)),
         ("apps.web.capacity.max", "must be >= min")),
    Case("fleet-desired-above-max", "fleet", lambda s: web_as(s, capacity=capacity(1, 4, 9)),
         ("apps.web.capacity.desired",)),
    Case("fleet-malformed-subnet-id", "fleet", lambda s: web_as(s, subnets=["subnet-XYZ"]),
         ("apps.web.subnets[0]",)),
    Case("fleet-malformed-region", "fleet", lambda s: web_as(s, region="moon-east-1"),
         ("apps.web.region", "moon-east-1")),
    Case("fleet-health-timeout-not-below-interval", "fleet",
         lambda s: web_as(s, health_check={"path": "/healthz", "interval": 5, "timeout": 10}),
         ("apps.web.health_check.timeout",)),
    Case("fleet-capacity-wrong-type", "fleet", lambda s: web_as(s, capacity={"min": "one", "max": 4, "desired": 2}),
         ("apps.web.capacity.min", "integer")),
    Case("fleet-unknown-stage", "fleet", lambda s: web_as(s, stage="qa"),
         ("apps.web.stages", "qa")),
    Case("fleet-unknown-load-balancer", "fleet",
         lambda s: dict(web_as(s, load_balancer={"name": "nope-alb", "listener_port": 80}), image_id=s.web.images[1]),
         ("apps.web.load_balancer", "nope-alb")),
    # -- fleet: its options --------------------------------------------------------------
    Case("fleet-image-of-another-app", "fleet", lambda s: web(s, image_id=s.api.images[0]),
         ("image_id", "image of app 'api'")),
    Case("fleet-malformed-ami-id", "fleet", lambda s: web(s, image_id="ami-XYZ"), ("image_id", "ami-XYZ")),
    Case("fleet-missing-ami", "fleet", lambda s: web(s, image_id=MISSING_AMI), ("image_id", MISSING_AMI)),
    Case("fleet-unknown-fleet-id", "fleet", lambda s: web(s, fleet_id=ANOTHER_FLEET_ID, state="disabled"),
         (ANOTHER_FLEET_ID, "does not exist")),
    Case("fleet-negative-desired-capacity", "fleet", lambda s: web(s, image_id=s.web.images[0], desired_capacity=-1),
         ("desired_capacity",)),
    Case("fleet-unknown-option", "fleet", lambda s: web(s, image_id=s.web.images[0], colour="blue"),
         ("colour",), by_ansible=True),
    Case("fleet-standbys-with-present", "fleet", lambda s: web(s, standbys="expired"), ("standbys", "state=absent")),
    Case("fleet-lock-held-by-another-run", "fleet",
         lambda s: {"app": "api", "definition": s.api.definition, "stage": "prod", "image_id": s.api.images[0],
                    "lock": api_lock(acquire=True)},
         (OTHER_RUN,), refused_by_condition=True),
    # -- traffic ---------------------------------------------------------------------------
    Case("traffic-weight-above-999", "traffic", lambda s: listener(s, target_groups=weights(("web-placeholder", 1000))),
         ("weight", "1000")),
    Case("traffic-unknown-target-group", "traffic", lambda s: listener(s, target_groups=weights(("web-nope", 100))),
         ("web-nope",)),
    Case("traffic-group-of-another-app", "traffic",
         lambda s: listener(s, target_groups=weights(("api-placeholder", 100))), ("api-placeholder",)),
    Case("traffic-malformed-min-healthy", "traffic",
         lambda s: listener(s, target_groups=weights(("web-placeholder", 100)), min_healthy="lots"),
         ("min_healthy", "lots")),
    # -- green_switch ----------------------------------------------------------------------
    Case("green-switch-steps-out-of-order", "green_switch",
         lambda s: web(s, listener_arn=s.web.listener, green_target_group=s.web.placeholder, steps=[50, 10, 100]),
         ("steps",)),
    Case("green-switch-green-outside-the-forward-action", "green_switch",
         lambda s: web(s, listener_arn=s.web.listener, green_target_group=s.web.stray),
         ("green_target_group", "web-stray")),
    Case("green-switch-malformed-retire", "green_switch",
         lambda s: web(s, listener_arn=s.web.listener, green_target_group=s.web.placeholder, retire=["blue"]),
         ("retire", "blue")),
    # -- rollback_switch -------------------------------------------------------------------
    Case("rollback-unknown-standby", "rollback_switch", lambda s: web(s, standby_fleet_id=ANOTHER_FLEET_ID),
         ("standby_fleet_id", ANOTHER_FLEET_ID)),
    Case("rollback-lock-held-by-another-run", "rollback_switch",
         lambda s: {"app": "api", "definition": s.api.definition, "stage": "prod", "lock": api_lock()},
         (OTHER_RUN,), refused_by_condition=True),
    # -- deploy_lock -----------------------------------------------------------------------
    Case("lock-zero-lease", "deploy_lock", lambda s: {"app": "web", "run_id": "my-run", "lease_seconds": 0},
         ("lease_seconds",)),
    Case("lock-renew-a-foreign-lock", "deploy_lock", lambda s: {"app": "api", "run_id": "my-run", "state": "renewed"},
         (OTHER_RUN,), refused_by_condition=True),
    Case("lock-release-an-expired-lock-of-another-run", "deploy_lock",
         lambda s: {"app": "batch", "run_id": "my-run", "state": "released"}, (EXPIRED_RUN,), refused_by_condition=True),
    Case("lock-missing-table", "deploy_lock",
         lambda s: {"app": "web", "run_id": "my-run", "table": "no-such-locks"}, ("no-such-locks",), refused_by_condition=True),
    # -- image_build -----------------------------------------------------------------------
    Case("build-missing-template", "image_build", lambda s: {"app": "web", "template": "/nonexistent/template"},
         ("template", "/nonexistent/template")),
    Case("build-unknown-imds-support", "image_build",
         lambda s: {"app": "web", "template": s.template, "imds_support": "v1.0"}, ("imds_support",), by_ansible=True),
    Case("build-malformed-app", "image_build", lambda s: {"app": "Web App", "template": s.template}, ("app",)),
    # -- image_test ------------------------------------------------------------------------
    Case("test-without-definition", "image_test",
         lambda s: {"app": "web", "image_id": s.web.images[1]}, ("definition: is required",)),
    Case("test-rule-priority-zero", "image_test",
         lambda s: {"app": "web", "definition": s.web.definition, "image_id": s.web.images[1], "rule_priority": 0}, ("rule_priority",)),
    Case("test-image-of-another-app", "image_test",
         lambda s: {"app": "web", "definition": s.web.definition, "image_id": s.api.images[0]}, ("image_id", "not an image of app 'web'")),
    # -- image_promote ---------------------------------------------------------------------
    Case("promote-unknown-stage", "image_promote", lambda s: {"app": "web", "image_id": s.web.images[1], "stage": "qa"},
         ("stage", "qa")),
    Case("promote-duplicate-stages", "image_promote",
         lambda s: {"app": "web", "image_id": s.web.images[1], "stage": "dev", "stages": ["dev", "dev", "prod"]},
         ("stages", "more than once")),
    Case("promote-image-of-another-app", "image_promote",
         lambda s: {"app": "web", "image_id": s.api.images[0], "stage": "dev"}, ("image_id", "api")),
    Case("promote-skipping-a-stage", "image_promote",
         lambda s: {"app": "web", "image_id": s.web.images[1], "stage": "prod"}, ("image_id", "staging")),
    # -- image_prune -----------------------------------------------------------------------
    Case("prune-keep-zero", "image_prune", lambda s: {"app": "web", "keep": 0}, ("keep",)),
    # -- image_distribute ------------------------------------------------------------------
    Case("distribute-malformed-region", "image_distribute",
         lambda s: {"app": "web", "image_id": s.web.images[0], "regions": ["moon-east-1"]}, ("regions", "moon-east-1")),
    Case("distribute-malformed-account-id", "image_distribute",
         lambda s: {"app": "web", "image_id": s.web.images[0], "launch_permissions": {"user_ids": ["12345"]}},
         ("user_ids", "12345")),
    Case("distribute-key-for-a-region-not-listed", "image_distribute",
         lambda s: {"app": "web", "image_id": s.web.images[0], "regions": ["us-west-2"],
                    "kms_key_ids": {"eu-west-1": "alias/images"}}, ("kms_key_ids", "eu-west-1")),
    # -- the playbooks ---------------------------------------------------------------------
    Case("deploy-unknown-app", "deploy.yml", lambda s: s.variables(app="nope"), ("app: unknown app 'nope'",)),
    Case("deploy-malformed-ami-id", "deploy.yml", lambda s: s.variables(image_id="ami-nothex"), ("image_id", "ami-nothex")),
    Case("deploy-canary-steps-out-of-order", "deploy.yml",
         lambda s: s.variables(image_id=s.web.images[1], strategy="canary", canary_steps=[50, 10, 100]),
         ("canary_steps", "rise")),
    Case("deploy-lock-held-by-another-run", "deploy.yml", lambda s: s.variables(app="api", image_id=s.api.images[0]),
         (OTHER_RUN,), refused_by_condition=True),
    Case("deploy-image-of-another-app", "deploy.yml", lambda s: s.variables(image_id=s.api.images[0]),
         ("image of app 'api'",), xfail=FLEET_LOCKS_BEFORE_THE_AMI),
    Case("deploy-impossible-capacity", "deploy.yml",
         lambda s: s.variables(image_id=s.web.images[1], cattle_apps=apps_with(s, capacity=capacity(1, 4, 9))),
         ("web.capacity.desired",)),
    Case("rollback-playbook-unknown-standby", "rollback.yml", lambda s: s.variables(standby_fleet_id=ANOTHER_FLEET_ID),
         (ANOTHER_FLEET_ID,), xfail=ROLLBACK_LOCKS_BEFORE_THE_STANDBY),
    Case("rollback-flag-not-a-flag", "rollback.yml", lambda s: s.variables(allow_revoked="perhaps"),
         ("allow_revoked", "perhaps")),
    Case("terminate-flag-not-a-flag", "terminate.yml", lambda s: s.variables(retire_now="maybe"),
         ("retire_now", "maybe")),
    Case("cleanup-unknown-stage", "cleanup.yml", lambda s: s.variables(stage=None, cleanup_stages=["qa"]),
         ("cleanup_stages", "qa")),
    Case("promote-playbook-unknown-stage", "promote.yml", lambda s: {"app": "web", "image_id": s.web.images[1], "to": "qa"},
         ("to (one of dev, staging, prod)",)),
    Case("validate-no-image", "validate.yml", lambda s: {"app": "web", "cattle_apps": s.apps}, ("image_id",)),
    Case("pipeline-per-step-input", "pipeline.yml", lambda s: s.variables(stage="prod", image_id=s.web.images[1]),
         ("stage",)),
    Case("build-no-app", "build.yml", lambda s: {"cattle_apps": s.apps}, ("app",)),
    Case("status-no-stage", "status.yml", lambda s: {"app": "web", "cattle_apps": s.apps}, ("stage",)),
]


def test_the_table_has_45_distinct_cases_over_every_door(record_property):
    record_property("bad_input_cases", len(CASES))
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    assert len(CASES) >= 45
    writers = {"fleet", "traffic", "green_switch", "rollback_switch", "deploy_lock", "image_build", "image_test",
               "image_promote", "image_prune", "image_distribute"}
    playbooks = {"deploy.yml", "rollback.yml", "terminate.yml", "promote.yml", "validate.yml", "cleanup.yml",
                 "pipeline.yml", "build.yml", "status.yml"}
    assert writers | playbooks <= {case.door for case in CASES}


@pytest.fixture(scope="module")
def outcome(sandbox_aws, tmp_path_factory):
    """Every case run once against one site: what each said, the calls made, the inventories."""
    return run_cases(sandbox_aws, CASES, tmp_path_factory.mktemp("bad-input"))


@pytest.mark.parametrize("case", [
    pytest.param(case, id=case.id, marks=[pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else [])
    for case in CASES])
def test_refused_before_any_write_naming_the_input_and_saying_nothing_changed(outcome, case):
    refusal = outcome.refusals[case.id]
    assert refusal.failed, f"{case.id} was accepted: {refusal.message}"
    allowed = LOCK_WRITES if case.refused_by_condition else set()
    assert set(refusal.writes()) <= allowed, f"{case.id} wrote before refusing: {refusal.writes()}"
    missing = [text for text in case.says if text.lower() not in refusal.message.lower()]
    assert not missing, f"{case.id}: {missing} not in {refusal.message!r}"
    assert case.by_ansible or NOTHING_CHANGED.search(refusal.message), f"{case.id}: {refusal.message!r}"


def test_the_inventory_after_every_case_is_the_one_before(outcome):
    changed_parts = [part for part, before in outcome.before.items() if outcome.after[part] != before]
    assert changed_parts == [], {part: (outcome.before[part], outcome.after[part]) for part in changed_parts}
