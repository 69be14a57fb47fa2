"""Deploy a built dist/: upload the artifacts and templates, then create or update every stack.

Stacks go in manifest order through change sets (CREATE when absent, UPDATE otherwise); a change
set without changes is reported and skipped. boto3 honours `AWS_ENDPOINT_URL`, which is how the
tests point this same code at moto.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from automations.core.errors import error_code
from builder.errors import DeployError
from builder.manifest import read_manifest
from templates import names

#: CloudFormation's limit for an inline TemplateBody; larger templates go through S3 (TemplateURL).
TEMPLATE_BODY_LIMIT = 51_200
POLL_INTERVAL_SECONDS = 3.0
CHANGE_SET_TIMEOUT_SECONDS = 600
STACK_TIMEOUT_SECONDS = 3600
#: The roles have generated names, so CAPABILITY_IAM (not _NAMED_IAM) is enough.
CAPABILITIES = ["CAPABILITY_IAM"]
NO_CHANGES_MARKERS = ("didn't contain changes", "No updates are to be performed")
TEMPLATES_KEY_DIR = "templates/"

Report = Callable[[str], None]
Sleep = Callable[[float], None]
Outputs = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Target:
    """Where and how to deploy."""

    bucket: str
    prefix: str = ""
    parameters: Mapping[str, Mapping[str, str]] | None = None


def parse_parameter_overrides(items: Iterable[str]) -> dict[str, dict[str, str]]:
    """`["caretaker-scheduled.EbsSnapshotsMode=audit"]` -> `{"caretaker-scheduled": {"EbsSnapshotsMode": "audit"}}`."""
    overrides: dict[str, dict[str, str]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        stack, dot, key = target.partition(".")
        if not sep or not dot or not stack or not key:
            raise DeployError(f"--parameter takes Stack.Key=Value, got {item!r}")
        overrides.setdefault(stack, {})[key] = value
    return overrides


def check_overrides(manifest: Mapping[str, Any], overrides: Mapping[str, Mapping[str, str]]) -> None:
    stacks = {stack["name"]: stack for stack in manifest["stacks"]}
    for stack_name, values in overrides.items():
        if stack_name not in stacks:
            raise DeployError(f"--parameter names stack {stack_name!r}; stacks are {', '.join(stacks)}")
        unknown = sorted(set(values) - set(stacks[stack_name]["parameters"]))
        if unknown:
            raise DeployError(f"stack {stack_name} has no parameter {', '.join(unknown)}")


# --------------------------------------------------------------------------- S3


def ensure_bucket(s3: Any, bucket: str, create: bool, report: Report) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as error:
        code = error_code(error)
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"bucket {bucket} is not usable: {code or error}") from None
    if not create:
        raise DeployError(f"bucket {bucket} does not exist (pass --create-bucket to create it)")
    region = s3.meta.region_name
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    })
    report(f"created bucket {bucket}")


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def upload(s3: Any, bucket: str, key: str, body: bytes, report: Report) -> None:
    """Upload once: keys are content-addressed, so an existing key already holds these bytes."""
    if _exists(s3, bucket, key):
        report(f"  s3://{bucket}/{key} (already there)")
        return
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    report(f"  s3://{bucket}/{key} ({len(body):,} bytes)")


def template_key(prefix: str, stack_name: str, body: bytes) -> str:
    return f"{prefix}{TEMPLATES_KEY_DIR}{stack_name}-{hashlib.sha256(body).hexdigest()[:12]}.yaml"


def template_url(s3: Any, bucket: str, key: str) -> str:
    """Path-style URL (works for bucket names with dots)."""
    region = s3.meta.region_name or "us-east-1"
    return f"https://s3.{region}.amazonaws.com/{bucket}/{key}"


# --------------------------------------------------------------------------- CloudFormation


def error_message(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Error')}: {details.get('Message', error)}"


def wait_for(check: Callable[[], str | None], timeout: float, what: str, sleep: Sleep) -> str:
    """Call `check` until it returns a final status; first call at once (moto is instant)."""
    deadline = time.monotonic() + timeout
    while True:
        status = check()
        if status is not None:
            return status
        if time.monotonic() >= deadline:
            raise DeployError(f"timed out after {timeout:.0f} s waiting for {what}")
        sleep(POLL_INTERVAL_SECONDS)


def stack_status(cfn: Any, stack_name: str) -> str | None:
    """The stack's status, or None when there is no such (live) stack."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    status: str = stacks[0]["StackStatus"]
    return None if status == "DELETE_COMPLETE" else status


def _latest_event_id(cfn: Any, stack_name: str) -> str | None:
    events = cfn.describe_stack_events(StackName=stack_name).get("StackEvents", [])
    return events[0]["EventId"] if events else None


def failure_reasons(cfn: Any, stack_name: str, since_event_id: str | None) -> list[str]:
    """`Logical (Type): reason` of every failed event newer than `since_event_id`, oldest first."""
    reasons: list[str] = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_name):
        for event in page.get("StackEvents", []):
            if event["EventId"] == since_event_id:
                return list(reversed(reasons))
            if event.get("ResourceStatus", "").endswith("_FAILED"):
                reasons.append(f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): "
                               f"{event.get('ResourceStatusReason', 'no reason given')}")
    return list(reversed(reasons))


def deploy_stack(cfn: Any, stack_name: str, template: Mapping[str, str], parameters: Mapping[str, str],
                 report: Report, sleep: Sleep) -> str:
    """Create or update one stack through a change set; return what happened (created/updated/unchanged)."""
    status = stack_status(cfn, stack_name)
    if status is None or status == "REVIEW_IN_PROGRESS":
        change_set_type = "CREATE"
    elif status.endswith("_COMPLETE") and status not in ("ROLLBACK_COMPLETE",):
        change_set_type = "UPDATE"
    else:
        raise DeployError(f"stack {stack_name} is {status}; it cannot be updated "
                          f"({'delete it first' if status == 'ROLLBACK_COMPLETE' else 'wait or repair it'})")

    name = f"caretaker-{uuid.uuid4().hex[:12]}"
    try:
        created = cfn.create_change_set(
            StackName=stack_name, ChangeSetName=name, ChangeSetType=change_set_type, Capabilities=CAPABILITIES,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
            **template,
        )
    except ClientError as error:
        if any(marker in str(error) for marker in NO_CHANGES_MARKERS):
            report(f"{stack_name}: no changes")
            return "unchanged"
        raise DeployError(f"{stack_name}: cannot create change set: {error_message(error)}") from None
    change_set_id = created["Id"]

    def change_set_ready() -> str | None:
        described = cfn.describe_change_set(ChangeSetName=change_set_id, StackName=stack_name)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return f"{described['Status']}|{described.get('StatusReason', '')}"
        return None

    outcome, _, reason = wait_for(change_set_ready, CHANGE_SET_TIMEOUT_SECONDS,
                               f"change set of {stack_name}", sleep).partition("|")
    if outcome == "FAILED":
        if any(marker in reason for marker in NO_CHANGES_MARKERS):
            cfn.delete_change_set(ChangeSetName=change_set_id, StackName=stack_name)
            report(f"{stack_name}: no changes")
            return "unchanged"
        raise DeployError(f"{stack_name}: change set failed: {reason}")

    report(f"{stack_name}: {change_set_type.lower()} in progress")
    since = _latest_event_id(cfn, stack_name)
    try:
        cfn.execute_change_set(ChangeSetName=change_set_id, StackName=stack_name)
    except ClientError as error:
        raise DeployError(f"{stack_name}: executing the change set failed: {error_message(error)}") from None

    def stack_done() -> str | None:
        current = stack_status(cfn, stack_name)
        return None if current is None or current.endswith("_IN_PROGRESS") else current

    final = wait_for(stack_done, STACK_TIMEOUT_SECONDS, f"stack {stack_name}", sleep)
    if final != f"{change_set_type}_COMPLETE":
        reasons = failure_reasons(cfn, stack_name, since)
        for line in reasons:
            report(f"  {line}")
        first = reasons[0] if reasons else "no failed resource events"
        raise DeployError(f"{stack_name} ended {final}: {first}")
    report(f"{stack_name}: {final}")
    return "created" if change_set_type == "CREATE" else "updated"


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_parameters(stack: Mapping[str, Any], target: Target, deployed: Outputs | None = None) -> dict[str, str]:
    """What deploy passes: the artifact location, the role names of the Caretaker stacks `deployed` before
    this one (`names.OTHER_STACK_ROLES`: `CaretakerRoleNames` from their `RoleNames` outputs) and the overrides
    (which win); every other parameter keeps its default."""
    declared = stack["parameters"]
    values: dict[str, str] = {}
    if names.ARTIFACT_BUCKET in declared:
        values[names.ARTIFACT_BUCKET] = target.bucket
    if names.ARTIFACT_PREFIX in declared:
        values[names.ARTIFACT_PREFIX] = target.prefix
    for parameter, output in names.OTHER_STACK_ROLES.items():
        if parameter in declared:
            values[parameter] = ",".join(outputs[output] for outputs in (deployed or {}).values()
                                         if outputs.get(output))
    values.update((target.parameters or {}).get(stack["name"], {}))
    return values


def deploy(dist: Path, bucket: str, *, prefix: str = "", region: str | None = None,
           parameters: Mapping[str, Mapping[str, str]] | None = None, create_bucket: bool = False,
           session: boto3.Session | None = None, report: Report = print, sleep: Sleep = time.sleep) -> Outputs:
    """Deploy the build in `dist`; return each stack's outputs by stack name (manifest order).

    `parameters` overrides template parameters per stack name. Raises `DeployError` on failure.
    """
    manifest = read_manifest(dist)
    target = Target(bucket=bucket, prefix=prefix, parameters=parameters)
    check_overrides(manifest, parameters or {})
    session = session or boto3.Session(region_name=region)
    s3 = session.client("s3")
    cfn = session.client("cloudformation")

    ensure_bucket(s3, bucket, create_bucket, report)
    report(f"uploading artifacts to s3://{bucket}/{prefix}")
    for artifact in manifest["artifacts"]:
        path = dist / artifact["path"]
        upload(s3, bucket, prefix + path.name, path.read_bytes(), report)

    outputs: Outputs = {}
    for stack in manifest["stacks"]:
        body = (dist / stack["template"]).read_bytes()
        key = template_key(prefix, stack["name"], body)
        upload(s3, bucket, key, body, report)
        if len(body) < TEMPLATE_BODY_LIMIT:
            template = {"TemplateBody": body.decode()}
        else:
            template = {"TemplateURL": template_url(s3, bucket, key)}
            report(f"{stack['name']}: template is {len(body):,} bytes, passed as TemplateURL")
        deploy_stack(cfn, stack["name"], template, stack_parameters(stack, target, outputs), report, sleep)
        outputs[stack["name"]] = stack_outputs(cfn, stack["name"])
        for output_key, value in sorted(outputs[stack["name"]].items()):
            report(f"  {output_key} = {value}")
    return outputs
