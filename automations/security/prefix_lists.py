"""Managed prefix lists as a security group rule sees them: their CIDR entries, read once per decision.

A rule whose source is a prefix list (`PrefixListId`) lets in every entry of the list, so the list is
resolved (`ec2:GetManagedPrefixListEntries`, the list's current version) and its entries are judged
like any other range. A list that cannot be read (access denied, gone) is remembered with its error,
so the caller can report it instead of treating it as harmless.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from automations.core.runtime import describe_error
from automations.security.ip_ranges import Thresholds, Verdict, first_open


class PrefixLists:
    """The entries of the prefix lists one decision looks at; each list is read at most once."""

    def __init__(self, ec2: Any) -> None:
        self._ec2 = ec2
        self._entries: dict[str, list[str]] = {}
        #: prefix list id -> why its entries could not be read
        self.errors: dict[str, str] = {}

    def entries(self, prefix_list_id: str) -> list[str] | None:
        """The list's CIDRs, or None when they cannot be read (the reason is in `errors`)."""
        if prefix_list_id in self._entries:
            return self._entries[prefix_list_id]
        if prefix_list_id in self.errors:
            return None
        try:
            pages = self._ec2.get_paginator("get_managed_prefix_list_entries").paginate(PrefixListId=prefix_list_id)
            cidrs = [str(e["Cidr"]) for page in pages for e in page.get("Entries", []) if e.get("Cidr")]
        except ClientError as exc:
            self.errors[prefix_list_id] = describe_error(exc)
            return None
        self._entries[prefix_list_id] = cidrs
        return cidrs

    def first_open(self, prefix_list_id: str, thresholds: Thresholds) -> Verdict | None:
        """The list's first world-open entry; None when it has none or cannot be read."""
        return first_open(self.entries(prefix_list_id) or [], thresholds)
