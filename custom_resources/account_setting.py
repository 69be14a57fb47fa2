"""The shared behaviour of custom resources that manage one account-wide setting.

A type implements `subject` (which setting), `read` (the settings in effect, or None when
there are none), `apply` (the resource's properties) and `restore` (put back what `read`
returned). This base class keeps the holder stack (`lineage`) so that:

* Create records the settings in effect before applying its own (write-ahead), and a
  Delete restores them;
* replacing the resource (a renamed logical id, a move to another stack, or a second stack
  declaring the same setting) never undoes the newer resource's settings: the Delete of an id
  that is no longer on top changes nothing in AWS.

Properties never require replacement: an Update applies them in place and keeps the id.
"""

from __future__ import annotations

import uuid
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from automations.core.codec import iso
from custom_resources.lineage import Holder, Lineage
from custom_resources.provider import ACCOUNT_WIDE, ProviderError, Request, ResourceType, Result

NOTHING = "none"  # how a missing setting is shown in records


class AccountSetting(ResourceType):
    """Base class of the account-wide setting types."""

    #: no stack owns an account-wide setting: the holders' lineage decides what each Delete does
    binding = ACCOUNT_WIDE
    #: the id prefix, e.g. "account-password-policy": ids look like caretaker:<kind>:<12 hex>
    kind: ClassVar[str]
    #: in words, for notes: "the IAM account password policy"
    what: ClassVar[str]

    @abstractmethod
    def subject(self, request: Request) -> str:
        """The setting this request is about, e.g. `iam:account-password-policy:<account>`."""

    @abstractmethod
    def read(self, request: Request) -> dict[str, Any] | None:
        """The settings in effect (JSON-able), or None when none are set."""

    @abstractmethod
    def apply(self, request: Request) -> None:
        """Make the settings what `request.props` says."""

    @abstractmethod
    def restore(self, request: Request, previous: Mapping[str, Any] | None) -> None:
        """Put back settings `read` returned (None: remove the setting)."""

    # ------------------------------------------------------------------ ids

    def new_id(self) -> str:
        return f"caretaker:{self.kind}:{uuid.uuid4().hex[:12]}"

    def owns(self, physical_id: str) -> bool:
        prefix = f"caretaker:{self.kind}:"
        return physical_id.startswith(prefix) and len(physical_id) > len(prefix)

    # ------------------------------------------------------------------ requests

    def create(self, request: Request) -> Result:
        physical_id = self.new_id()
        lineage = Lineage.beside(request.state, subject=self.subject(request))
        previous = self.read(request)
        lineage.push(self._holder(request, physical_id, previous))
        try:
            self._apply(request, physical_id, previous)
        except Exception as exc:
            raise ProviderError(str(exc) + self._undo_failed_create(request, lineage, physical_id, previous)) from exc
        return Result(physical_id)

    def update(self, request: Request) -> Result:
        physical_id = request.physical_id
        lineage = Lineage.beside(request.state, subject=self.subject(request))
        found, top = lineage.find(physical_id)
        previous: dict[str, Any] | None = None
        if found is None or top is None or top.physical_id != physical_id:
            # not on top (another resource applied its settings since) or unknown: this one takes over
            previous = self.read(request)
            lineage.push(self._holder(request, physical_id, previous))
        self._apply(request, physical_id, previous)
        return Result(physical_id)

    def delete(self, request: Request) -> Result:
        physical_id = request.physical_id
        lineage = Lineage.beside(request.state, subject=self.subject(request))
        found, top = lineage.find(physical_id)
        if found is None:
            return Result(physical_id, note=f"no record of {physical_id} in the state log; "
                                            f"{self.what} was left as it is")
        if top is not None and top.physical_id != physical_id:
            lineage.remove(physical_id)
            return Result(physical_id, note=f"superseded by {top.physical_id} ({top.logical_id} in "
                                            f"{_stack_name(top.stack_id)}); {self.what} was left as it is")
        request.act(lineage.subject, "restore", lambda: self.restore(request, found.restore),
                    reason=f"{request.logical_id} in {request.stack_name} deleted",
                    details={"physical_id": physical_id, "restore": found.restore or NOTHING})
        lineage.remove(physical_id)
        return Result(physical_id, note=f"restored {self.what} in effect before {physical_id}"
                                        if found.restore is not None else f"removed {self.what}")

    # ------------------------------------------------------------------ pieces

    def _undo_failed_create(self, request: Request, lineage: Lineage, physical_id: str,
                            previous: Mapping[str, Any] | None) -> str:
        """After a failed Create (possibly half applied), put the previous settings back and forget
        the holder: CloudFormation's Delete of a failed Create's id changes nothing. A note for the Reason."""
        try:
            request.act(lineage.subject, "restore", lambda: self.restore(request, previous),
                        reason="undo a Create that failed", details={"restore": previous or NOTHING})
            lineage.discard(physical_id)
        except Exception as exc:
            return f"; undoing it failed too, check {self.what}: {exc}"
        return f"; {self.what} was put back as it was"

    def _apply(self, request: Request, physical_id: str, previous: Mapping[str, Any] | None) -> None:
        details: dict[str, Any] = {"physical_id": physical_id}
        if request.request_type == "Create" or previous is not None:
            details["previous"] = previous or NOTHING
        request.act(self.subject(request), "apply", lambda: self.apply(request),
                    reason=f"{request.request_type} of {request.logical_id} in {request.stack_name}",
                    details=details)

    def _holder(self, request: Request, physical_id: str, previous: Mapping[str, Any] | None) -> Holder:
        return Holder(physical_id=physical_id, stack_id=request.stack_id, logical_id=request.logical_id,
                      restore=previous, at=iso(request.now()))


def _stack_name(stack_id: str) -> str:
    parts = stack_id.split("/")
    return parts[1] if len(parts) > 1 else stack_id
