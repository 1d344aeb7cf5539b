# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Testing a new AMI from outside before it is promoted (playbooks/validate.yml).

One test instance is launched from the AMI with the app's definition (IMDSv2 only, no
key pair), registered in a temporary target group that a listener rule of its own
forwards to: its own priority and a host-header condition under `.invalid`, a name no
client sends, so the app's live traffic never reaches it. Once the target is healthy,
the app's health path and the user's HTTP checks go through the load balancer with that
host header, and the user's test commands run through SSM Run Command. The result and a
SHA-256 digest of the evidence are tagged on the AMI; the rule, the group and the
instance are removed on every path out.

Refusals (`TestRefusal`) come before the first write and leave AWS as it was. A test the
image fails (`TestFailed`) is tagged; an AWS failure half-way is not (the image was not
at fault), and both still remove what was made.
"""

import hashlib
import json
import re
import time
import urllib.error

from ansible.module_utils.urls import open_url

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import elbv2 as elbv2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ssm as ssm_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import NOTHING_CHANGED, CattleError, Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import iso8601, utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import Waiter
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec

UNCHANGED = NOTHING_CHANGED
PASSED = "passed"
FAILED = "failed"
TAG_VALUE_MAX = 256
# AWS: rule priorities are 1-50000; an Application Load Balancer has at most 100 rules
# besides its listeners' default rules (Quotas for your Application Load Balancers).
PRIORITY_MAX = 50000
RULES_PER_LOAD_BALANCER = 100
# RFC 2606 reserves .invalid: no client of the app ever sends this host.
TEST_HOST_SUFFIX = ".cattle-test.invalid"
HTTP_TIMEOUT = 10
BODY_KEPT = 1000
BODY_READ = 64 * 1024
POLL_SECONDS = 2
NO_ANSWER_TRIES = 5
# AWS: a command's invocation may not exist yet right after SendCommand.
INVOCATION_PENDING = ("Pending", "InProgress", "Delayed")
COMMAND_DOCUMENT = "AWS-RunShellScript"
COMMAND_COMMENT = "cattle.immutable image test"


class TestRefusal(Refusal):
    """The request cannot be tested; raised before any write."""


class TestFailed(Exception):
    """The image failed a check; `evidence` says which and what it answered."""

    def __init__(self, reason, evidence):
        super(TestFailed, self).__init__(reason)
        self.evidence = evidence


# ---------------------------------------------------------------------------------------
# AWS calls (the calls themselves are _aws's).


def create_target_group(elbv2, request):
    group = elbv2_calls.create_target_group(elbv2, request)
    if group is None:
        raise CattleError("a target group named {0} exists with other settings; the test made nothing".format(
            request["Name"]))
    return group


def create_rule(elbv2, listener_arn, priority, host, tg_arn, tags):
    """A rule sending requests for `host` (and only those) to the test's target group."""
    return elbv2_calls.create_rule(elbv2, listener_arn, priority,
                                   [{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}],
                                   [{"Type": "forward", "TargetGroupArn": tg_arn}], tags)


def target_health(elbv2, tg_arn, instance_id):
    descriptions = elbv2_calls.describe_target_health(elbv2, tg_arn, [instance_id]) or [{}]
    return descriptions[0].get("TargetHealth") or {}


def instance_state(ec2, instance_id):
    instance = ec2_calls.describe_instance(ec2, instance_id)
    return instance["State"]["Name"] if instance else None


# Run Command, through _aws/ssm.py.


def managed_node_status(ssm, instance_id):
    """The instance's PingStatus in Systems Manager ("Online", ...), or None while SSM does not know it."""
    node = ssm_calls.describe_instance_information(ssm, instance_id)
    return node.get("PingStatus") if node else None


def send_command(ssm, instance_id, command, timeout):
    """The id of the Run Command that runs the shell command `command` on the instance."""
    parameters = {"commands": [command], "executionTimeout": [str(timeout)]}
    return ssm_calls.send_command(ssm, instance_id, COMMAND_DOCUMENT, parameters, COMMAND_COMMENT,
                                  purpose="send the test command")


def command_invocation(ssm, command_id, instance_id):
    """The command's invocation on the instance, or None while AWS has not made it yet."""
    return ssm_calls.get_command_invocation(ssm, command_id, instance_id, purpose="read the test command's result")


# ---------------------------------------------------------------------------------------
# Pure helpers.


def already_tested(tags):
    """The passing record on the image, or None."""
    value = tags.get(naming.TAG_TESTED) or ""
    return value if value.split(" ")[0] == PASSED else None


def free_priority(rules, wanted=None):
    """`wanted` when no rule has it, else the highest priority no rule has; None when none is free."""
    taken = {int(rule["Priority"]) for rule in rules if str(rule.get("Priority", "")).isdigit()}
    if wanted is not None:
        return None if wanted in taken else wanted
    return next((priority for priority in range(PRIORITY_MAX, 0, -1) if priority not in taken), None)


def test_host(image_id, started):
    """The host header only the test sends: unique per image and run."""
    return "{0}{1}".format(naming.short_hash("{0} {1}".format(image_id, started), 12), TEST_HOST_SUFFIX)


def test_names(app, image_id, started):
    token = naming.short_hash("{0} {1}".format(image_id, started))
    return {
        "target_group": naming.bounded_name([naming.validate_app(app), "test", token], naming.TARGET_GROUP_NAME_MAX),
        "instance": "{0}-image-test".format(app),
    }


def test_tags(app, image_id):
    return {naming.TAG_APP: app, naming.TAG_MANAGED_BY: naming.MANAGED_BY_VALUE, naming.TAG_IMAGE_TEST: image_id}


def launch_request(stage_def, image, tags, name):
    """RunInstances for one test instance: the fleet's launch template data, in the first subnet."""
    data = fleet_spec.launch_template_data(stage_def, image, dict(tags, Name=name))
    data.update({"MinCount": 1, "MaxCount": 1, "SubnetId": sorted(stage_def["subnets"])[0]})
    if stage_def["user_data"]:
        # boto3 base64-encodes RunInstances' UserData itself (a launch template's it does not).
        data["UserData"] = stage_def["user_data"]
    return data


def checks_to_run(stage_def):
    """The health path first (what the load balancer checks), then the user's checks."""
    health = {"path": stage_def["health_check"]["path"], "status": None, "body": None, "health_path": True}
    user = [dict(check, health_path=False) for check in stage_def["image_tests"]["http_checks"]]
    return [health] + user


def status_matches(status, check, matcher):
    if check["status"] is not None:
        return status == check["status"]
    return any(_in_range(status, part) for part in matcher.split(","))


def _in_range(status, part):
    low, _sep, high = part.partition("-")
    return int(low) <= status <= int(high or low)


def check_outcome(check, status, body, matcher):
    """None when the answer satisfies the check, else why not."""
    if status is None:
        return "no answer: {0}".format(body)
    if not status_matches(status, check, matcher):
        wanted = check["status"] if check["status"] is not None else "matcher {0}".format(matcher)
        return "answered {0}, expected {1}".format(status, wanted)
    if check["body"] and not re.search(check["body"], body):
        return "its body does not match {0!r}".format(check["body"])
    return None


def canonical_json(data):
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def evidence_digest(evidence):
    return "sha256:" + hashlib.sha256(canonical_json(evidence).encode("utf-8")).hexdigest()


def tested_tag(result, at, reason=None):
    """`passed <time>` or `failed <time>: <reason>`, within AWS's 256 characters."""
    value = "{0} {1}".format(result, at)
    if reason:
        value = "{0}: {1}".format(value, reason)
    return value[:TAG_VALUE_MAX]


def truncated(text, size=BODY_KEPT):
    return text if len(text) <= size else text[:size] + "..."


# ---------------------------------------------------------------------------------------
# Waiting and talking to the instance.


def poll(check, timeout, what, clock=time.monotonic, sleep=time.sleep):
    """check() until it returns something other than None; TimeoutError naming `what` after `timeout` s."""
    with Waiter(timeout, POLL_SECONDS, sleep=sleep, clock=clock) as waiting:
        while True:
            found = check()
            if found is not None:
                return found
            if waiting.expired():
                raise TimeoutError("{0} within {1} s".format(what, timeout))
            waiting.pause()


def http_get(url, host, timeout=HTTP_TIMEOUT):
    """(status, body) of one GET with this Host header, redirects not followed; (None, why) when nothing answered."""
    headers = {"Host": host, "User-Agent": "cattle.immutable image test"}
    try:
        # The host header is made up, so no certificate names it: an HTTPS listener is not verified.
        answer = open_url(url, headers=headers, timeout=timeout, validate_certs=False, follow_redirects="none")
        return answer.status, answer.read(BODY_READ).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, (error.read(BODY_READ) if error.fp else b"").decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as error:
        return None, str(getattr(error, "reason", error))


def answered_get(url, host, tries=NO_ANSWER_TRIES, sleep=time.sleep):
    """http_get, asked again when nothing answered: a new load balancer's DNS name and a fresh
    connection may fail for a moment; an answer, whatever its status, is never asked again."""
    for attempt in range(tries):
        status, body = http_get(url, host)
        if status is not None or attempt == tries - 1:
            return status, body
        sleep(POLL_SECONDS)
    return None, "not asked"


def run_http_check(base_url, host, check, matcher):
    started = time.monotonic()
    status, body = answered_get(base_url + check["path"], host)
    failure = check_outcome(check, status, body, matcher)
    return {
        "path": check["path"],
        "expected_status": check["status"] if check["status"] is not None else matcher,
        "body_pattern": check["body"],
        "health_path": check["health_path"],
        "status": status,
        "body": truncated(body),
        "milliseconds": round((time.monotonic() - started) * 1000, 1),
        "passed": failure is None,
        "failure": failure,
    }


def run_test_command(ssm, instance_id, command, timeout):
    """One command through Run Command: its status, exit code and output as AWS kept them."""
    command_id = send_command(ssm, instance_id, command, timeout)

    def finished():
        invocation = command_invocation(ssm, command_id, instance_id)
        if invocation is None or invocation.get("Status") in INVOCATION_PENDING:
            return None
        return invocation

    invocation = poll(finished, timeout + 60, "the command {0!r} did not finish".format(command))
    return {
        "command": command,
        "command_id": command_id,
        "status": invocation.get("Status"),
        "exit_code": invocation.get("ResponseCode"),
        "stdout": invocation.get("StandardOutputContent") or "",
        "stderr": invocation.get("StandardErrorContent") or "",
        "passed": invocation.get("Status") == "Success" and invocation.get("ResponseCode") == 0,
    }


# ---------------------------------------------------------------------------------------
# The test: plan (reads and refusals), then the writes, each undone on the way out.


def refuse(message):
    raise TestRefusal("{0}; {1}".format(message, UNCHANGED))


def checked_image(ec2, image_id, app):
    image = ec2_calls.describe_image(ec2, image_id)
    if image is None:
        refuse("image_id {0}: no such AMI".format(image_id))
    if image.get("State") != "available":
        refuse("image_id {0}: its state is '{1}', not 'available'".format(image_id, image.get("State")))
    tags = boto3_tag_list_to_ansible_dict(image.get("Tags") or [])
    if tags.get(naming.TAG_APP) != app:
        refuse("image_id {0}: it is not an image of app '{1}' ({2}: {3})".format(
            image_id, app, naming.TAG_APP, tags.get(naming.TAG_APP, "missing")))
    return image, tags


def listener_and_rules(elbv2, stage_def, path):
    """The app's listener and the rules of every listener of its load balancer (the quota counts them all)."""
    wanted = stage_def["load_balancer"]
    balancer = elbv2_calls.describe_load_balancer(elbv2, wanted["name"])
    if balancer is None:
        refuse("{0}.load_balancer.name: there is no load balancer {1}".format(path, wanted["name"]))
    listeners = elbv2_calls.describe_listeners(elbv2, LoadBalancerArn=balancer["LoadBalancerArn"])
    ours = [listener for listener in listeners if int(listener["Port"]) == wanted["listener_port"]]
    if not ours:
        refuse("{0}.load_balancer.listener_port: load balancer {1} has no listener on port {2}".format(
            path, wanted["name"], wanted["listener_port"]))
    rules = {listener["ListenerArn"]: elbv2_calls.describe_rules(elbv2, ListenerArn=listener["ListenerArn"]) for listener in listeners}
    return balancer, ours[0], rules


def rule_priority(rules, listener, balancer, wanted):
    """The test rule's priority; a refusal when the load balancer or the listener has no room."""
    counted = [rule for found in rules.values() for rule in found if not rule.get("IsDefault")]
    if len(counted) >= RULES_PER_LOAD_BALANCER:
        refuse("load balancer {0} has {1} rules, AWS's quota of {2} per load balancer: there is no free rule for "
               "the test".format(balancer["LoadBalancerName"], len(counted), RULES_PER_LOAD_BALANCER))
    priority = free_priority(rules[listener["ListenerArn"]], wanted)
    if priority is None:
        refuse("rule_priority {0}: listener {1} already has a rule with that priority".format(
            wanted, listener["ListenerArn"]) if wanted is not None else
            "listener {0} has no free rule priority".format(listener["ListenerArn"]))
    return priority


def plan_test(clients, params, stage_def, path):
    """Everything the test needs, read and checked before the first write."""
    image, tags = checked_image(clients["ec2"], params["image_id"], params["app"])
    plan = {"image": image, "image_tags": tags, "stage_def": stage_def, "passed_before": already_tested(tags)}
    if plan["passed_before"] and not params["retest"]:
        return plan
    if stage_def["image_tests"]["commands"] and not stage_def["instance_profile"]:
        refuse("{0}.image_tests.commands: test commands run through SSM Run Command, which needs an "
               "instance_profile that allows Systems Manager".format(path))
    balancer, listener, rules = listener_and_rules(clients["elbv2"], stage_def, path)
    plan.update(balancer=balancer, listener=listener,
                priority=rule_priority(rules, listener, balancer, params["rule_priority"]))
    return plan


class Made(object):
    """What the test created, undone in reverse order on every path out."""

    def __init__(self):
        self.undo = []
        self.removed = []
        self.errors = []

    def add(self, what, call, *args):
        self.undo.append((what, call, args))

    def remove_all(self):
        while self.undo:
            what, call, args = self.undo.pop()
            try:
                call(*args)
                self.removed.append(what)
            except AnsibleAWSError as error:
                self.errors.append("{0}: {1}".format(what, error))


def base_url(balancer, listener):
    scheme = "https" if listener["Protocol"] == "HTTPS" else "http"
    return "{0}://{1}:{2}".format(scheme, balancer["DNSName"], listener["Port"])


def launch_and_register(clients, plan, params, made, names, tags):
    """The group, its rule, the instance; returns the resource ids (the evidence names them)."""
    stage_def, balancer = plan["stage_def"], plan["balancer"]
    elbv2, ec2 = clients["elbv2"], clients["ec2"]
    group = create_target_group(elbv2, fleet_spec.target_group_request(
        stage_def, names["target_group"], balancer["VpcId"], tags))
    made.add("target group {0}".format(group["TargetGroupName"]), elbv2_calls.delete_target_group, elbv2,
             group["TargetGroupArn"])
    rule = create_rule(elbv2, plan["listener"]["ListenerArn"], plan["priority"], names["host"],
                       group["TargetGroupArn"], tags)
    made.add("listener rule {0}".format(plan["priority"]), elbv2_calls.delete_rule, elbv2, rule["RuleArn"])
    instance = ec2_calls.run_instance(ec2, launch_request(stage_def, plan["image"], tags, names["instance"]))
    made.add("instance {0}".format(instance["InstanceId"]), ec2_calls.terminate_instance, ec2, instance["InstanceId"])
    return {"instance_id": instance["InstanceId"], "target_group_arn": group["TargetGroupArn"],
            "rule_arn": rule["RuleArn"], "priority": plan["priority"], "host": names["host"]}


def wait_running(ec2, instance_id, timeout):
    def running():
        state = instance_state(ec2, instance_id)
        if state in ("shutting-down", "terminated", "stopping", "stopped"):
            raise TestFailed("the test instance stopped before it ran (state {0})".format(state), {})
        return state if state == "running" else None

    poll(running, timeout, "the test instance was not running")


def wait_healthy(elbv2, resources, stage_def, timeout, clock=time.monotonic):
    """The target's health once healthy; TestFailed when it stays unhealthy past the grace period or times out."""
    started = clock()
    last = {}

    def healthy():
        last.update(target_health(elbv2, resources["target_group_arn"], resources["instance_id"]))
        if last.get("State") == "healthy":
            return dict(last)
        if last.get("State") == "unhealthy" and clock() - started >= stage_def["grace_period"]:
            raise TestFailed("its target is unhealthy ({0}: {1})".format(
                last.get("Reason"), last.get("Description")), {"health": dict(last)})
        return None

    try:
        health = poll(healthy, timeout, "healthy")
    except TimeoutError:
        raise TestFailed("its target did not turn healthy within {0} s (last: {1} {2})".format(
            timeout, last.get("State"), last.get("Reason") or ""), {"health": dict(last)})
    return dict(health, seconds=round(clock() - started, 1))


def run_commands(ssm, instance_id, commands, timeout):
    if not commands:
        return []
    try:
        poll(lambda: "Online" if managed_node_status(ssm, instance_id) == "Online" else None, timeout,
             "Online")
    except TimeoutError:
        raise TestFailed("the test instance did not come Online in Systems Manager within {0} s (does the image run "
                         "amazon-ssm-agent and does its instance profile allow Systems Manager?)".format(timeout), {})
    return [run_test_command(ssm, instance_id, command, timeout) for command in commands]


def first_failure(evidence):
    for check in evidence["http_checks"]:
        if not check["passed"]:
            return "GET {0} {1}".format(check["path"], check["failure"])
    for command in evidence["commands"]:
        if not command["passed"]:
            return "command {0!r} ended {1} (exit {2})".format(
                command["command"], command["status"], command["exit_code"])
    return None


def exercise(clients, plan, params, resources):
    """Health, HTTP checks, commands: the evidence, with `result` and `failure`."""
    stage_def = plan["stage_def"]
    evidence = {"health": None, "http_checks": [], "commands": []}
    try:
        wait_running(clients["ec2"], resources["instance_id"], params["wait_timeout"])
        elbv2_calls.register_targets(clients["elbv2"], resources["target_group_arn"], [resources["instance_id"]])
        evidence["health"] = wait_healthy(clients["elbv2"], resources, stage_def, params["wait_timeout"])
        url = base_url(plan["balancer"], plan["listener"])
        matcher = stage_def["health_check"]["matcher"]
        evidence["http_checks"] = [run_http_check(url, resources["host"], check, matcher)
                                   for check in checks_to_run(stage_def)]
        evidence["commands"] = run_commands(clients["ssm"], resources["instance_id"],
                                            stage_def["image_tests"]["commands"], params["command_timeout"])
        failure = first_failure(evidence)
    except TestFailed as failed:
        evidence.update(failed.evidence)
        failure = str(failed)
    return dict(evidence, result=FAILED if failure else PASSED, failure=failure)


def record_on_image(ec2, image_id, evidence, finished):
    tags = {
        naming.TAG_TESTED: tested_tag(evidence["result"], finished, evidence["failure"]),
        naming.TAG_TESTED_DIGEST: evidence_digest(evidence),
    }
    ec2_calls.create_tags(ec2, [image_id], tags)
    return tags


def test_image(clients, params, stage_def, path, check_mode):
    """Test the image from outside; the module's result. Refusals raise TestRefusal before any write."""
    plan = plan_test(clients, params, stage_def, path)
    summary = {"image_id": params["image_id"], "stage": stage_def["stage"]}
    if plan["passed_before"] and not params["retest"]:
        return dict(summary, changed=False, result=PASSED, already_passed=True, tested=plan["passed_before"], evidence={})
    if check_mode:
        return dict(summary, changed=True, result=None, already_passed=False, evidence={},
                    plan={"load_balancer": plan["balancer"]["LoadBalancerName"],
                          "listener_arn": plan["listener"]["ListenerArn"], "priority": plan["priority"]})
    started = iso8601(utc_now())
    names = dict(test_names(params["app"], params["image_id"], started),
                 host=test_host(params["image_id"], started))
    made = Made()
    try:
        resources = launch_and_register(clients, plan, params, made, names, test_tags(params["app"], params["image_id"]))
        evidence = dict(exercise(clients, plan, params, resources), image_id=params["image_id"], started=started,
                        resources=resources)
        evidence["finished"] = iso8601(utc_now())
        tags = record_on_image(clients["ec2"], params["image_id"], evidence, evidence["finished"])
    finally:
        made.remove_all()
    return dict(summary, changed=True, result=evidence["result"], failure=evidence["failure"], already_passed=False,
                tags=tags, digest=tags[naming.TAG_TESTED_DIGEST], evidence=evidence, removed=made.removed,
                cleanup_errors=made.errors)


# ---------------------------------------------------------------------------------------
# The module's entry point.


def stage_of(params):
    """The stage's definition and where it is written, or a refusal naming the input."""
    try:
        naming.validate_image_id(params["image_id"], option="image_id")
        definition = app_definition.requested_definition(params)
        stage = params["stage"] or next(iter(definition["stages"]))
        return app_definition.stage_definition(definition, stage), definition["_path"]
    except (naming.NamingError, app_definition.AppDefinitionError) as error:
        raise TestRefusal(error) from error


def run_module(module):
    """The test's result; a failed check or a test instance left behind fails the module."""
    params = module.params
    if params["rule_priority"] is not None and not 1 <= params["rule_priority"] <= PRIORITY_MAX:
        raise TestRefusal("rule_priority must be 1-50000, got {0}".format(params["rule_priority"]))
    stage_def, path = stage_of(params)
    clients = {name: module.client(name) for name in ("ec2", "elbv2", "ssm")}
    result = test_image(clients, params, stage_def, path, module.check_mode)
    if result.get("cleanup_errors"):
        raise CattleError("the test of {0} ended {1}, but could not remove: {2}".format(
            result["image_id"], result["result"], "; ".join(result["cleanup_errors"])), **result)
    if result["result"] == FAILED:
        raise CattleError("image {0} failed its test: {1}".format(result["image_id"], result["failure"]), **result)
    return result
