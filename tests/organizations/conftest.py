"""An organization in moto (in-process), and the real `build.py deploy --organization` run into it once per module.

The organization: the management account (moto's default, 123456789012: the hub), an OU `workloads` with three
member accounts. Acting as a member goes through `sts.assume_role` into that member (moto lands the calls
there), never MOTO_ACCOUNT_ID, which would move the whole process.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from automations.cli.moto_compat import moto_fixes
from builder.cli import main
from tests.automations.conftest import fake_aws_environment
from tests.moto_organization import HOME, make_organization

REGIONS = ("us-east-1", "eu-west-1")
BUCKET = "caretaker-org-artifacts"
HUB_ACCOUNT = "123456789012"


@dataclass
class Org:
    root: str
    ou: str
    members: list[str]
    dist: Path
    #: what each `build.py` run printed (stdout, stderr) and its exit status, in order
    runs: list[tuple[int, str, str]] = field(default_factory=list)

    def deploy(self, *extra: str) -> tuple[int, str, str]:
        """The real command line: `build.py deploy --organization ...` (stdout and stderr captured)."""
        out, err = io.StringIO(), io.StringIO()
        argv = ["--out", str(self.dist), "deploy", "--organization", "--targets", self.ou,
                "--regions", ",".join(REGIONS), "--bucket", BUCKET, "--create-bucket", *extra]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto: resource types its CloudFormation skips
            status = main(argv)
        self.runs.append((status, out.getvalue(), err.getvalue()))
        return self.runs[-1]


def member_session(account: str, region: str = HOME) -> boto3.Session:
    """Credentials that land in `account` (moto: any role ARN of the member will do)."""
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="org-test",
    )["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=region)


@pytest.fixture(scope="module")
def org(built_dist: Path) -> Iterator[Org]:
    """The organization, deployed once by the real CLI; moto's state lives for the module."""
    with pytest.MonkeyPatch.context() as patch:
        fake_aws_environment(patch, region=HOME)
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        with mock_aws(), moto_fixes():
            root, ou, members = make_organization()
            organization = Org(root=root, ou=ou, members=members, dist=built_dist)
            organization.deploy()
            yield organization


def function_environment(session: boto3.Session, name: str, region: str) -> dict[str, str]:
    config = session.client("lambda", region_name=region).get_function_configuration(FunctionName=name)
    return dict(config["Environment"]["Variables"])
