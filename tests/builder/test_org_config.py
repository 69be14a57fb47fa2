"""caretaker.toml and the organization flags: what a deploy uses, and the clear errors before anything is deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automations.core import registry
from builder.errors import DeployError
from builder.org_config import OrgConfig, load_config, resolve
from builder.org_parameters import DeployValues, check_overrides, parameters_for
from templates.member_settings import settings_parameter_name, unpack
from templates.organization import render_organization

PROD, SANDBOX = "ou-ab12-prod0001", "ou-ab12-sandbox1"


@pytest.fixture(scope="module")
def stack_sets() -> list[dict[str, Any]]:
    """The manifest's stack_sets entries, as deploy reads them."""
    from builder.manifest import organization_entries

    entries: list[dict[str, Any]] = organization_entries(render_organization("c.zip", "d.zip", "b.zip"))["stack_sets"]
    return entries


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "caretaker.toml"
    path.write_text(text)
    return path


def test_file_gives_targets_regions_and_per_ou_overrides(tmp_path: Path) -> None:
    config = resolve(load_config(write(tmp_path, f'''
targets = ["{PROD}", "{SANDBOX}"]
regions = ["us-east-1", "eu-west-1"]
[overrides."{PROD}"]
mode = "enforce"
CleanupAmisGraceDays = 14
[overrides."{SANDBOX}"]
mode = "audit"
''')))
    assert config.targets == (PROD, SANDBOX) and config.regions == ("us-east-1", "eu-west-1")
    assert config.home_region == "us-east-1" and not config.self_managed
    assert config.overrides[PROD] == {"mode": "enforce", "CleanupAmisGraceDays": "14"}


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    config = resolve(load_config(write(tmp_path, f'targets = ["{PROD}"]\nregions = ["eu-west-1"]\n'
                                                 'home_region = "eu-west-1"\n')),
                     regions="us-east-1,eu-west-1", home_region="us-east-1")
    assert config.regions == ("us-east-1", "eu-west-1") and config.home_region == "us-east-1"
    assert config.targets == (PROD,)


def test_without_a_file_flags_and_defaults_do() -> None:
    config = resolve(None, accounts="111111111111,222222222222", regions="us-east-1")
    assert config.self_managed and config.accounts == ("111111111111", "222222222222")


@pytest.mark.parametrize(("text", "message"), [
    ('targets = ["ou-ab12-prod0001"]\nregion = ["us-east-1"]\n', "unknown key region"),
    ('targets = ["prod"]\nregions = ["us-east-1"]\n', "'prod' is not OU, root or account ids"),
    ('targets = "ou-ab12-prod0001"\nregions = ["us-east-1"]\n', "targets must be a list"),
    ('targets = ["ou-ab12-prod0001"]\nregions = ["us-east-1"]\n[overrides."ou-ab12-other001"]\nmode = "audit"\n',
     "overrides for ou-ab12-other001: not a target"),
    ('targets = ["ou-ab12-prod0001"]\nregions = ["eu-west-1"]\n', "home region us-east-1 is not among the regions"),
    ('targets = ["ou-ab12-prod0001"]\naccounts = ["111111111111"]\nregions = ["us-east-1"]\n', "exactly one"),
    ('targets = ["ou-ab12-prod0001"]\n', "no regions"),
    ('targets = [\n', "not valid TOML"),
])
def test_a_wrong_file_is_refused_with_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        resolve(load_config(write(tmp_path, text)))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="no such file"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"EbsSnapshotMode": "audit"}, "unknown parameter EbsSnapshotMode"),
    ({"mode": "dry-run"}, "mode must be one of enforce, audit, off"),
    ({"EbsSnapshotsMode": "sometimes"}, "EbsSnapshotsMode: CARETAKER_MODE must be one of"),
    ({"CleanupAmisGraceDays": "soon"}, "CleanupAmisGraceDays"),
    ({"CleanupAmisExcludeTags": "a|b"}, "may not contain '|'"),
    ({"ArtifactBucket": "elsewhere"}, "unknown parameter ArtifactBucket"),
])
def test_bad_overrides_are_refused_before_deploying(stack_sets: list[dict[str, Any]], overrides: dict[str, str],
                                                    message: str) -> None:
    with pytest.raises(DeployError, match=message):
        check_overrides(stack_sets, {PROD: overrides})


def test_each_target_gets_every_parameter_with_its_own_values(stack_sets: list[dict[str, Any]]) -> None:
    region = next(s for s in stack_sets if "cleanup-amis" in s["functions"])
    deploy = DeployValues(bucket="artifacts", prefix="v1/", hub_account="123456789012", hub_region="us-east-1",
                          home_region="us-east-1")
    prod = parameters_for(region, deploy, {"mode": "enforce", "CleanupAmisGraceDays": "14",
                                           "EbsSnapshotsSchedule": "rate(6 hours)"})
    default = parameters_for(region, deploy, {})
    assert set(prod) == set(default) == set(region["parameters"])
    cleanup = registry.get("cleanup-amis")
    assert unpack(cleanup, prod[settings_parameter_name(cleanup)])["grace_days"] == "14"
    assert unpack(cleanup, prod[settings_parameter_name(cleanup)])["mode"] == "enforce"
    assert unpack(cleanup, default[settings_parameter_name(cleanup)])["mode"] == "audit"  # the declared default
    assert prod["EbsSnapshotsSchedule"] == "rate(6 hours)"
    assert prod["ArtifactBucket"] == "artifacts" and prod["ArtifactPrefix"] == "v1/"
    base = next(s for s in stack_sets if not s["functions"])
    assert parameters_for(base, deploy, {"mode": "enforce"})["HubAccountId"] == "123456789012"


def test_an_empty_config_is_refused() -> None:
    with pytest.raises(DeployError, match="exactly one"):
        resolve(OrgConfig(regions=("us-east-1",)))
