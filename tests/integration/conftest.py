"""A moto server for the session (per xdist worker) and the build deployed into it once.

Fixtures for any integration test:
- `moto_server`: endpoint URL of a ThreadedMotoServer on 127.0.0.1 (random port); for the
  session, AWS_ENDPOINT_URL points at it and fake credentials / us-east-1 are set.
- `built_dist` (tests/conftest.py): the dist/ built once.
- `deployment`: the `Deployment` record (outputs, moto's skipped resource types, bucket, log).
- `deployed`: outputs per stack name, as `builder.deploy.deploy` returns them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from automations.cli.emulator import moto_emulator, unsupported_resource_types
from builder.deploy import Outputs, deploy

REGION = "us-east-1"
ARTIFACT_BUCKET = "caretaker-artifacts-test"
ARTIFACT_PREFIX = "builds/"


@dataclass
class Deployment:
    outputs: Outputs
    #: resource types moto's CloudFormation did not create (it only warned)
    skipped_types: list[str]
    bucket: str
    prefix: str
    log: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Endpoint URL of the embedded emulator (the demo's), alive for the session; boto3 points at it."""
    with moto_emulator(REGION) as endpoint:
        yield endpoint


def deploy_capturing(dist: Path, log: list[str]) -> tuple[Outputs, list[str]]:
    """Deploy `dist` and return its outputs and the resource types moto skipped meanwhile.

    The server runs in a thread of this process, so its `warnings.warn` calls reach this
    process-wide `catch_warnings`.
    """
    with unsupported_resource_types() as skipped:
        outputs = deploy(dist, ARTIFACT_BUCKET, prefix=ARTIFACT_PREFIX, region=REGION, create_bucket=True,
                         report=log.append, sleep=lambda _: None)
    return outputs, skipped


@pytest.fixture(scope="session")
def deployment(moto_server: str, built_dist: Path) -> Deployment:
    log: list[str] = []
    outputs, skipped = deploy_capturing(built_dist, log)
    return Deployment(outputs=outputs, skipped_types=skipped, bucket=ARTIFACT_BUCKET, prefix=ARTIFACT_PREFIX,
                      log=log)


@pytest.fixture(scope="session")
def deployed(deployment: Deployment) -> Outputs:
    """Outputs per stack name of the build deployed once into `moto_server`."""
    return deployment.outputs
