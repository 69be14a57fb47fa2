"""The account-level S3 Block Public Access, as `s3-public-bucket` watches it.

CloudTrail records the S3 Control calls `PutPublicAccessBlock` / `DeletePublicAccessBlock` with
event source `s3.amazonaws.com` and the names `PutAccountPublicAccessBlock` /
`DeleteAccountPublicAccessBlock`. The decision is taken on the account's current configuration:

* all four flags on: nothing to restore (a notifying skip when the event shows there was a gap);
* Caretaker manages the setting (a `Custom::S3AccountPublicAccessBlock` holds it: its lineage item
  in the state table has a holder): the full block is put back, write-ahead;
* otherwise: reported (a `notify` record and a notification), nothing changed.

The lineage records who holds the setting, not the values each holder declared, so the restore is
the full block (the resource's defaults): never weaker than any configuration a holder could
declare, so a stale or forged lineage item can only make Caretaker stricter, never weaker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from automations.core import state_schema as schema
from automations.core.errors import error_code
from automations.core.runtime import Run
from automations.security.findings import CloudTrailEvent
from automations.security.reactive import Decision, Remediate, Report, Skip

ACTION = "restore-account-public-access-block"
EVENT_NAMES = ("PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock")
FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
FULL_BLOCK: Mapping[str, bool] = dict.fromkeys(FLAGS, True)
NOT_SET = "NoSuchPublicAccessBlockConfiguration"
#: The sort key of a custom resource lineage item (custom_resources/lineage.py, docs/state-log.md).
LINEAGE_SORT_KEY = "LINEAGE"


def setting_id(account: str) -> str:
    """The setting's id: the resource id of these records and the subject of the custom resource's lineage."""
    return f"s3:account-public-access-block:{account}"


def decide_account(run: Run, event: CloudTrailEvent) -> Decision:
    """Restore the account's Block Public Access where Caretaker manages it; report it where it does not."""
    s3control = run.clients("s3control", event.region)
    resource = setting_id(event.account)
    before = current_block(s3control, event.account)
    off = [flag for flag in FLAGS if not before.get(flag)]
    details: dict[str, Any] = {"account": event.account, "before": {f: bool(before.get(f)) for f in FLAGS},
                               "flags_off": off}
    requested = event.request.get("PublicAccessBlockConfiguration")
    if isinstance(requested, Mapping):
        details["requested"] = {flag: requested.get(flag) for flag in FLAGS}
    headline = (f"account {event.account}'s S3 Block Public Access was weakened by {event.name} "
                f"(off now: {', '.join(off) or 'none'})")
    if not off:
        gap = event.name == "DeleteAccountPublicAccessBlock" or (
            isinstance(requested, Mapping) and not all(requested.get(f) is True for f in FLAGS))
        return Skip(resource, ACTION, "all four flags are on again: only the gap is reported" if gap else
                    "the account already blocks all public access", details, notify=gap, headline=headline)
    holder = managing_holder(run, event.account)
    if holder is None:
        return Report(resource, f"{headline}; Caretaker does not manage this setting (no "
                      "Custom::S3AccountPublicAccessBlock holds it), so it is only reported", details)
    details.update(managed_by=holder, after=dict(FULL_BLOCK))
    return Remediate(resource, ACTION, headline,
                     f"restore the full account-level Block Public Access (held by {holder['logical_id']})",
                     lambda: put_full_block(s3control, event.account), details)


def current_block(s3control: Any, account: str) -> Mapping[str, Any]:
    """The account's flags; no configuration at all means every flag is off."""
    try:
        config: Mapping[str, Any] = s3control.get_public_access_block(AccountId=account)[
            "PublicAccessBlockConfiguration"]
        return config
    except ClientError as exc:
        if error_code(exc) == NOT_SET:
            return {}
        raise


def managing_holder(run: Run, account: str) -> dict[str, str] | None:
    """The custom resource in effect for the account's setting (the top of its lineage), or None.
    A read of the state table that fails raises StateLogError: the rule then does not act."""
    key = {schema.PARTITION_KEY: f"CR#{setting_id(account)}", schema.SORT_KEY: LINEAGE_SORT_KEY}
    item, _ = run.state.get_versioned(key, what=f"holders of {setting_id(account)}")
    holders = (item or {}).get("holders")
    if not isinstance(holders, list) or not holders or not isinstance(holders[-1], Mapping):
        return None
    top = holders[-1]
    return {name: str(top.get(name, "")) for name in ("physical_id", "stack_id", "logical_id")}


def put_full_block(s3control: Any, account: str) -> None:
    s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=dict(FULL_BLOCK))
