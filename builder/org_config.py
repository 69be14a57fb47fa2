"""`caretaker.toml`: where an organization deployment goes and what differs per OU or account.

```toml
targets = ["ou-ab12-prod0001", "ou-ab12-sandbox1"]   # OU ids (SERVICE_MANAGED) ...
# accounts = ["111111111111"]                         # ... or account ids (SELF_MANAGED), not both
regions = ["us-east-1", "eu-west-1"]
home_region = "us-east-1"                             # where the account-scoped stack set goes

[overrides."ou-ab12-prod0001"]
mode = "enforce"                                      # every function's mode
CleanupAmisGraceDays = 14                             # a setting, by its single-account parameter name

[overrides."ou-ab12-sandbox1"]
mode = "audit"
EbsSnapshotsSchedule = "rate(1 day)"
```

Flags win over the file, the file over the defaults. Every error names the key and what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.errors import DeployError

KEYS = ("targets", "accounts", "regions", "home_region", "overrides")
DEFAULT_HOME_REGION = "us-east-1"
#: StackSets operation preferences' defaults (here, not in org_deploy: `build.py --help` imports no boto3)
DEFAULT_MAX_CONCURRENT_PERCENTAGE = 25
DEFAULT_FAILURE_TOLERANCE_PERCENTAGE = 10
OU_RE = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True)
class OrgConfig:
    """Targets: OU (or root) ids or account ids for SERVICE_MANAGED; `accounts` for SELF_MANAGED."""

    targets: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    home_region: str = DEFAULT_HOME_REGION
    #: target (OU or account id) -> parameter name (or `mode`) -> value
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def self_managed(self) -> bool:
        return bool(self.accounts)


def _strings(name: str, value: Any, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DeployError(f"{name} must be a list of {what}, got {value!r}")
    for item in value:
        if not pattern.match(item):
            raise DeployError(f"{name}: {item!r} is not {what}")
    return tuple(value)


def _value(target: str, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return ",".join(str(v) for v in value)
    raise DeployError(f"overrides for {target}: {key} must be a string, number, boolean or list, got {value!r}")


def parse_config(data: Mapping[str, Any], source: str = "caretaker.toml") -> OrgConfig:
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise DeployError(f"{source}: unknown key {', '.join(unknown)} (known: {', '.join(KEYS)})")
    targets = _strings("targets", data.get("targets", []), re.compile(f"{OU_RE.pattern}|{ACCOUNT_RE.pattern}"),
                       "OU, root or account ids")
    accounts = _strings("accounts", data.get("accounts", []), ACCOUNT_RE, "12-digit account ids")
    regions = _strings("regions", data.get("regions", []), REGION_RE, "region names")
    home = data.get("home_region", DEFAULT_HOME_REGION)
    if not isinstance(home, str) or not REGION_RE.match(home):
        raise DeployError(f"{source}: home_region must be a region name, got {home!r}")
    raw = data.get("overrides", {})
    if not isinstance(raw, dict):
        raise DeployError(f"{source}: overrides must be a table of tables ([overrides.\"<OU or account>\"])")
    overrides: dict[str, dict[str, str]] = {}
    for target, values in raw.items():
        if not isinstance(values, dict):
            raise DeployError(f"{source}: overrides.{target} must be a table of parameter = value")
        overrides[target] = {key: _value(target, key, value) for key, value in values.items()}
    return OrgConfig(targets=targets, accounts=accounts, regions=regions, home_region=home, overrides=overrides)


def load_config(path: Path) -> OrgConfig:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DeployError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise DeployError(f"{path}: not valid TOML: {error}") from None
    return parse_config(data, str(path))


def _split(value: str | None, name: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    return _strings(name, [v.strip() for v in value.split(",") if v.strip()], pattern, what)


def resolve(config: OrgConfig | None, *, targets: str | None = None, accounts: str | None = None,
            regions: str | None = None, home_region: str | None = None) -> OrgConfig:
    """The configuration a deploy uses: flags (comma-separated) over the file over the defaults; checked whole."""
    base = config or OrgConfig()
    flag_targets = _split(targets, "--targets", re.compile(f"{OU_RE.pattern}|{ACCOUNT_RE.pattern}"),
                          "OU, root or account ids")
    flag_accounts = _split(accounts, "--accounts", ACCOUNT_RE, "12-digit account ids")
    flag_regions = _split(regions, "--regions", REGION_RE, "region names")
    if home_region is not None and not REGION_RE.match(home_region):
        raise DeployError(f"--home-region: {home_region!r} is not a region name")
    resolved = OrgConfig(
        targets=flag_targets if flag_targets is not None else base.targets,
        accounts=flag_accounts if flag_accounts is not None else base.accounts,
        regions=flag_regions if flag_regions is not None else base.regions,
        home_region=home_region or base.home_region,
        overrides=base.overrides,
    )
    check(resolved)
    return resolved


def check(config: OrgConfig) -> None:
    if bool(config.targets) == bool(config.accounts):
        raise DeployError("name the members with --targets (OU or account ids, SERVICE_MANAGED) or --accounts "
                          "(SELF_MANAGED), exactly one of them")
    if not config.regions:
        raise DeployError("no regions: pass --regions r1,r2 or set regions in caretaker.toml")
    if config.home_region not in config.regions:
        raise DeployError(f"home region {config.home_region} is not among the regions {', '.join(config.regions)} "
                          "(the account-scoped stack set uses the home region's state table)")
    members: Sequence[str] = config.accounts or config.targets
    stray = sorted(set(config.overrides) - set(members))
    if stray:
        raise DeployError(f"overrides for {', '.join(stray)}: not a target ({', '.join(members)})")
