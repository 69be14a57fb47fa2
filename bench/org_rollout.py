"""An organization rollout on the emulator: render time, rollout time, calls per member account-region.

    .venv/bin/python bench/org_rollout.py [--accounts 50] [--regions us-east-1,eu-west-1,ap-southeast-2]

In one process on in-process moto: an organization whose OU holds `--accounts` member accounts, a build of
dist/ (no lint), then `builder.org_deploy.deploy_organization` into every account and region, as
`build.py deploy --organization` runs it. Printed: the time to render every template (single-account, hub,
member), the rollout's wall time, the member stack instances created, the AWS calls deploy made (by
operation) and per member account-region. StackSets fans out, so deploy's calls grow with the targets
(one OU here) and the regions' buckets, not with the accounts: calls per account-region fall as accounts
are added. moto creates every member stack synchronously inside CreateStackInstances, so the rollout time
is moto's work on every member's resources (about 100 per stack instance); AWS runs the same operations at
the `--max-concurrent-percentage` you choose (docs/organizations.md). wt-orgread's `bench/org_report.py`
measures `report --org` over the ledgers this leaves behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                  AWS_DEFAULT_REGION="us-east-1", MOTO_EC2_LOAD_DEFAULT_AMIS="false")
for _key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_key, None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from automations.cli.moto_compat import moto_fixes  # noqa: E402
from builder.org_config import resolve  # noqa: E402
from builder.org_deploy import deploy_organization  # noqa: E402
from builder.pipeline import build  # noqa: E402
from templates.organization import render_organization  # noqa: E402
from templates.stacks import render_all, render_yaml  # noqa: E402

BUCKET = "caretaker-bench-artifacts"


def organization(accounts: int) -> str:
    client = boto3.client("organizations")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    ou = client.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    for n in range(accounts):
        account = client.create_account(AccountName=f"member{n}", Email=f"member{n}@example.com")[
            "CreateAccountStatus"]["AccountId"]
        client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
    return str(ou)


def render_seconds() -> float:
    started = time.perf_counter()
    names = ("caretaker-code-0.zip", "caretaker-deps-0.zip", "caretaker-bytecode-0.zip")
    stacks = [s.template for s in render_all(*names)]
    org = render_organization(*names)
    for template in [*stacks, org.hub.template, *(s.stack.template for s in org.stack_sets)]:
        render_yaml(template)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--regions", default="us-east-1,eu-west-1,ap-southeast-2")
    args = parser.parse_args(argv)
    logging.getLogger("moto").setLevel(logging.ERROR)  # the resource types its CloudFormation skips
    regions = args.regions.split(",")

    rendered = render_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        started = time.perf_counter()
        build(dist, lint=False)
        built = time.perf_counter() - started
        with mock_aws(), moto_fixes(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ou = organization(args.accounts)
            calls: Counter[str] = Counter()
            session = boto3.Session(region_name=regions[0])

            def count(model: Any, **_: Any) -> None:
                calls[f"{model.service_model.service_name}:{model.name}"] += 1

            session.events.register("provide-client-params.*.*", count)
            config = resolve(None, targets=ou, regions=",".join(regions), home_region=regions[0])
            lines: list[str] = []
            started = time.perf_counter()
            outcomes = deploy_organization(dist, BUCKET, config, create_bucket=True, session=session,
                                           report=lines.append, sleep=lambda _: None)
            rollout = time.perf_counter() - started

    account_regions = args.accounts * len(regions)
    total = sum(calls.values())
    print(f"organization: {args.accounts} accounts x {len(regions)} regions = {account_regions} account-regions")
    print(f"render every template: {rendered:.2f} s; build (artifacts, templates, manifest; no lint): {built:.2f} s")
    print(f"rollout (hub, buckets, {len({o.stack_set for o in outcomes})} stack sets): {rollout:.1f} s, "
          f"{len(outcomes)} stack instances, {sum(o.failed for o in outcomes)} failed")
    print(f"deploy's AWS calls: {total} ({total / account_regions:.2f} per account-region)")
    for operation, n in calls.most_common():
        print(f"  {operation:55} {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
