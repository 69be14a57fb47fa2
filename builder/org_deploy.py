"""`build.py deploy --organization`: the hub stack, the artifact buckets, the member stack sets.

Run with the management (or delegated administrator) account's credentials. In order:
1. the organization's id (every bucket and bus policy admits the organization only: `aws:PrincipalOrgID`);
2. per target region, the artifact bucket `<bucket>-<region>` (created with `--create-bucket`), its
   organization-read policy, and the artifacts (content-addressed: uploaded once);
3. the hub stack (`names.HUB_STACK_NAME`) in the home region, through a change set like every stack;
4. each member stack set in manifest order (the regional one first: the account one reads the home region's
   state table): created (SERVICE_MANAGED with auto-deployment on, or SELF_MANAGED for `--accounts`) or
   updated in place, then its instances created per target (an OU, an account, or every account for
   SELF_MANAGED) with that target's full parameter set, and on an update re-applied to the existing instances.
Every operation is waited for; one line per account-region says how its instance ended. Any failed instance
makes `OrgDeployError` (exit non-zero, one line naming the first). StackSets does the fan-out: nothing here
loops over accounts.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from automations.core.errors import error_code
from builder.deploy import (
    Report,
    Sleep,
    deploy_stack,
    ensure_bucket,
    error_message,
    stack_outputs,
    template_key,
    template_url,
    upload,
    wait_for,
)
from builder.errors import DeployError
from builder.manifest import read_manifest
from builder.org_config import DEFAULT_FAILURE_TOLERANCE_PERCENTAGE, DEFAULT_MAX_CONCURRENT_PERCENTAGE, OrgConfig
from builder.org_parameters import DeployValues, check_overrides, parameters_for
from builder.org_targets import Targeting
from templates import names

#: A rollout over many accounts takes hours; StackSets itself times out an operation after 12 h.
OPERATION_TIMEOUT_SECONDS = 6 * 3600
OPERATION_DONE = ("SUCCEEDED", "FAILED", "STOPPED")
FAILED_INSTANCE = ("FAILED", "CANCELLED", "INOPERABLE")


class OrgDeployError(DeployError):
    """The rollout ran, and some member account-regions failed."""


@dataclass(frozen=True)
class RolloutOptions:
    """StackSets operation preferences (`--max-concurrent-percentage`, `--failure-tolerance-percentage`) and
    who calls (`--delegated-admin`: CallAs=DELEGATED_ADMIN from a delegated administrator account)."""

    max_concurrent_percentage: int = DEFAULT_MAX_CONCURRENT_PERCENTAGE
    failure_tolerance_percentage: int = DEFAULT_FAILURE_TOLERANCE_PERCENTAGE
    delegated_admin: bool = False

    def __post_init__(self) -> None:
        for name, value in (("max concurrent", self.max_concurrent_percentage),
                            ("failure tolerance", self.failure_tolerance_percentage)):
            if not 0 <= value <= 100:
                raise DeployError(f"{name} percentage must be 0..100, got {value}")
        if self.max_concurrent_percentage < 1:
            raise DeployError("max concurrent percentage must be at least 1")

    @property
    def call_as(self) -> dict[str, str]:
        return {"CallAs": "DELEGATED_ADMIN" if self.delegated_admin else "SELF"}

    def preferences(self) -> dict[str, Any]:
        # SOFT_FAILURE_TOLERANCE: concurrency is not capped at failure tolerance + 1
        return {"OperationPreferences": {
            "RegionConcurrencyType": "PARALLEL", "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
            "MaxConcurrentPercentage": self.max_concurrent_percentage,
            "FailureTolerancePercentage": self.failure_tolerance_percentage}}


@dataclass(frozen=True)
class InstanceOutcome:
    stack_set: str
    account: str
    region: str
    status: str
    reason: str = ""
    #: the OU (or root) of the request that made it (AWS records it for SERVICE_MANAGED instances; moto does not)
    organizational_unit: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILED_INSTANCE

    def line(self) -> str:
        return f"{self.account} {self.region} {self.stack_set}: {self.status}" + (f" ({self.reason})" if self.reason
                                                                                  else "")


def regional_bucket(bucket: str, region: str) -> str:
    """The artifact bucket of one member region: Lambda reads its code from a bucket in its own region."""
    return f"{bucket}-{region}"


def organization_read_policy(bucket: str, organization_id: str, partition: str = "aws") -> str:
    """Any principal of the organization may read the artifacts (CloudFormation creating a member's functions
    and layers reads them with the member's credentials); the block on public access stays on."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "OrganizationReadsArtifacts", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:{partition}:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}}},
    ]})


def _organization_id(session: boto3.Session) -> str:
    try:
        return str(session.client("organizations").describe_organization()["Organization"]["Id"])
    except ClientError as error:
        raise DeployError(f"cannot read the organization (run with the management or delegated administrator "
                          f"account's credentials): {error_message(error)}") from None


def _target_groups(session: boto3.Session, config: OrgConfig) -> list[tuple[str, dict[str, Any]]]:
    """(target, the request's part that names it) for each target."""
    if config.self_managed:
        return [(account, {"Accounts": [account]}) for account in config.accounts]
    organizations = session.client("organizations")
    groups: list[tuple[str, dict[str, Any]]] = []
    for target in config.targets:
        if target.isdigit():  # one account of the organization: its parent OU, narrowed to the account
            parent = organizations.list_parents(ChildId=target)["Parents"][0]["Id"]
            groups.append((target, {"DeploymentTargets": {"OrganizationalUnitIds": [parent], "Accounts": [target],
                                                          "AccountFilterType": "INTERSECTION"}}))
        else:
            groups.append((target, {"DeploymentTargets": {"OrganizationalUnitIds": [target]}}))
    return groups


def _parameter_list(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in sorted(values.items())]


def _stack_set_exists(cfn: Any, name: str, options: RolloutOptions) -> bool:
    try:
        status = cfn.describe_stack_set(StackSetName=name, **options.call_as)["StackSet"].get("Status")
    except ClientError as error:
        if error_code(error) in ("StackSetNotFoundException", "StackSetNotFound"):
            return False
        raise
    return status != "DELETED"


def _wait_operation(cfn: Any, name: str, operation_id: str, options: RolloutOptions, report: Report,
                    sleep: Sleep) -> list[InstanceOutcome]:
    """Wait for one operation; the account-regions it failed in (empty when it succeeded)."""
    def done() -> str | None:
        status = cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id,
                                                  **options.call_as)["StackSetOperation"]["Status"]
        return str(status) if status in OPERATION_DONE else None

    status = wait_for(done, OPERATION_TIMEOUT_SECONDS, f"stack set {name} operation {operation_id}", sleep)
    if status == "SUCCEEDED":
        return []
    failed = [InstanceOutcome(name, r["Account"], r["Region"], r.get("Status", "FAILED"), r.get("StatusReason", ""))
              for page in cfn.get_paginator("list_stack_set_operation_results").paginate(
                  StackSetName=name, OperationId=operation_id, **options.call_as)
              for r in page.get("Summaries", []) if r.get("Status") in FAILED_INSTANCE]
    report(f"{name}: operation {operation_id} {status}")
    return failed or [InstanceOutcome(name, "-", "-", "FAILED", f"operation {status}")]


def _run(cfn: Any, call: str, name: str, options: RolloutOptions, report: Report, sleep: Sleep,
         **request: Any) -> list[InstanceOutcome]:
    try:
        operation_id = getattr(cfn, call)(StackSetName=name, OperationId=str(uuid.uuid4()), **options.call_as,
                                          **options.preferences(), **request)["OperationId"]
    except ClientError as error:
        raise DeployError(f"{name}: {call} failed: {error_message(error)}") from None
    return _wait_operation(cfn, name, operation_id, options, report, sleep)


def instance_outcomes(cfn: Any, name: str, options: RolloutOptions) -> Iterator[InstanceOutcome]:
    """Every instance of the stack set, targeted or not."""
    for page in cfn.get_paginator("list_stack_instances").paginate(StackSetName=name, **options.call_as):
        for summary in page.get("Summaries", []):
            detailed = summary.get("StackInstanceStatus", {}).get("DetailedStatus") or summary.get("Status", "")
            status = "INOPERABLE" if summary.get("Status") == "INOPERABLE" else str(detailed)
            yield InstanceOutcome(name, summary["Account"], summary["Region"], status, summary.get("StatusReason", ""),
                                  str(summary.get("OrganizationalUnitId") or ""))


def rollout_stack_set(cfn: Any, stack_set: Mapping[str, Any], url: str, config: OrgConfig, deploy: DeployValues,
                      groups: list[tuple[str, dict[str, Any]]], options: RolloutOptions, report: Report,
                      sleep: Sleep, targeting: Targeting) -> list[InstanceOutcome]:
    """Create or update one member stack set and its instances; the outcome of every targeted instance. The
    instances an earlier deploy made that this one no longer targets (a narrower `--targets`/`--regions`) are
    printed, and neither counted nor deleted."""
    name = stack_set["name"]
    regions = list(config.regions) if stack_set["scope"] == "region" else [config.home_region]
    base = parameters_for(stack_set, deploy, {})
    common: dict[str, Any] = {"StackSetName": name, "TemplateURL": url, "Parameters": _parameter_list(base),
                              "Capabilities": stack_set["capabilities"], **options.call_as}
    if not config.self_managed:
        # new accounts in a target OU get the stacks without another deploy (moto ignores it: re-run deploy there)
        common["AutoDeployment"] = {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    existed = _stack_set_exists(cfn, name, options)
    failures: list[InstanceOutcome] = []
    try:
        if existed:
            report(f"{name}: updating the stack set")
            failures += _update(cfn, common, options, report, sleep)
        else:
            report(f"{name}: creating the stack set")
            cfn.create_stack_set(PermissionModel="SELF_MANAGED" if config.self_managed else "SERVICE_MANAGED",
                                 Description=f"Caretaker member stacks ({stack_set['scope']} scope)",
                                 ManagedExecution={"Active": True}, **common)
    except ClientError as error:
        raise DeployError(f"{name}: {error_message(error)}") from None
    for target, part in groups:
        values = _parameter_list(parameters_for(stack_set, deploy, config.overrides.get(target, {}), target))
        report(f"{name}: instances for {target} in {', '.join(regions)}")
        failures += _run(cfn, "create_stack_instances", name, options, report, sleep, Regions=regions,
                         ParameterOverrides=values, **part)
        if existed:  # the target's values may have changed since the instances were made
            failures += _run(cfn, "update_stack_instances", name, options, report, sleep, Regions=regions,
                             ParameterOverrides=values, **part)
    outcomes, stale = targeting.split(list(instance_outcomes(cfn, name, options)), regions)
    for outcome in stale:
        report(f"no longer targeted: {outcome.account} {outcome.region} {name} ({outcome.status}): kept, not "
               f"deleted (aws cloudformation delete-stack-instances --stack-set-name {name} removes it)")
    known = {(o.account, o.region) for o in outcomes + stale}
    return outcomes + [f for f in failures if (f.account, f.region) not in known]


def _update(cfn: Any, common: Mapping[str, Any], options: RolloutOptions, report: Report,
            sleep: Sleep) -> list[InstanceOutcome]:
    request = {k: v for k, v in common.items() if k not in ("StackSetName", "CallAs")}
    return _run(cfn, "update_stack_set", common["StackSetName"], options, report, sleep, **request)


def _upload_artifacts(session: boto3.Session, dist: Path, manifest: Mapping[str, Any], bucket: str, prefix: str,
                      config: OrgConfig, organization_id: str, create_bucket: bool, report: Report) -> None:
    for region in config.regions:
        s3 = session.client("s3", region_name=region)
        name = regional_bucket(bucket, region)
        ensure_bucket(s3, name, create_bucket, report)
        s3.put_bucket_policy(Bucket=name, Policy=organization_read_policy(name, organization_id))
        report(f"uploading artifacts to s3://{name}/{prefix}")
        for artifact in manifest["artifacts"]:
            path = dist / artifact["path"]
            upload(s3, name, prefix + path.name, path.read_bytes(), report)


def deploy_organization(dist: Path, bucket: str, config: OrgConfig, *, prefix: str = "",
                        create_bucket: bool = False, options: RolloutOptions | None = None,
                        session: boto3.Session | None = None, report: Report = print,
                        sleep: Sleep = time.sleep) -> list[InstanceOutcome]:
    """Deploy the build in `dist` to the organization; the outcome of every member account-region.

    Raises `DeployError` before anything is deployed when the configuration is wrong, and `OrgDeployError`
    after the rollout when any instance failed.
    """
    manifest = read_manifest(dist)
    if "stack_sets" not in manifest:
        raise DeployError(f"{dist}/manifest.json has no stack_sets: rebuild with this version of build.py")
    stack_sets: list[dict[str, Any]] = manifest["stack_sets"]
    check_overrides(stack_sets, config.overrides)
    options = options or RolloutOptions()
    session = session or boto3.Session(region_name=config.home_region)
    home = config.home_region
    cfn = session.client("cloudformation", region_name=home)
    hub_account = session.client("sts", region_name=home).get_caller_identity()["Account"]
    organization_id = _organization_id(session)
    groups = _target_groups(session, config)
    targeting = Targeting(session, config)
    _upload_artifacts(session, dist, manifest, bucket, prefix, config, organization_id, create_bucket, report)

    s3_home = session.client("s3", region_name=home)
    home_bucket = regional_bucket(bucket, home)
    hub = manifest["hub"]
    hub_body = (dist / hub["template"]).read_bytes()
    deploy_stack(cfn, hub["name"], {"TemplateBody": hub_body.decode()},
                 {"OrganizationId": organization_id, "MemberRegionList": ",".join(config.regions)}, report, sleep)
    for key, value in sorted(stack_outputs(cfn, names.HUB_STACK_NAME).items()):
        report(f"  {key} = {value}")

    deploy = DeployValues(bucket=bucket, prefix=prefix, hub_account=hub_account, hub_region=home, home_region=home)
    outcomes: list[InstanceOutcome] = []
    for stack_set in stack_sets:
        body = (dist / stack_set["template"]).read_bytes()
        key = template_key(prefix, stack_set["name"], body)
        upload(s3_home, home_bucket, key, body, report)
        found = rollout_stack_set(cfn, stack_set, template_url(s3_home, home_bucket, key), config, deploy, groups,
                                  options, report, sleep, targeting)
        for outcome in sorted(found, key=lambda o: (o.account, o.region)):
            report(outcome.line())
        outcomes += found
    failed = [o for o in outcomes if o.failed]
    if failed:
        raise OrgDeployError(f"{len(failed)} of {len(outcomes)} member stack instances failed; first: "
                             f"{failed[0].line()}")
    report(f"organization deploy: {len(outcomes)} member stack instances succeeded")
    return outcomes
