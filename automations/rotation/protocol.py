"""The Secrets Manager rotation protocol, shared by every rotation flavour.

Secrets Manager rotates a secret by invoking its rotation function four times with
`{"SecretId", "ClientRequestToken", "Step"}`; the token is the id of the new version, which
Secrets Manager has already labelled AWSPENDING:

- `createSecret`: put the new value into that version (only when it holds none yet);
- `setSecret`: make the protected service accept the new value;
- `testSecret`: prove that the new value works;
- `finishSecret`: move AWSCURRENT to the new version (the old one becomes AWSPREVIOUS).

Each invocation is one Caretaker run (`entrypoint`): settings, mode, the run summary and a record
per action. Every step is idempotent, because Secrets Manager retries a rotation whose step failed:
a value already staged is not staged again, a version already AWSCURRENT is not moved again.
A request for a secret that has rotation disabled, or for a version that is neither AWSPENDING nor
AWSCURRENT, is refused (the invocation fails, nothing is changed).

Audit mode plans and records what each step would do and changes nothing: the rotation then does
not complete (see docs/credential-rotation.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.keys import SecretInfo, describe_secret
from automations.core.registry import register
from automations.core.runtime import Run
from automations.core.selection import is_protected
from automations.core.spec import FunctionSpec, Permission, Rotation, Setting
from automations.rotation.errors import RotationError, RotationEventError, RotationRefused, RotationTestFailed
from automations.rotation.token_log import TokenLog

#: The secrets a rotation function may rotate: Caretaker's namespace only.
SECRETS_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:caretaker/*"
#: What the four-step protocol itself needs, shared by every rotation function.
PROTOCOL_PERMISSION = Permission(
    ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
     "secretsmanager:UpdateSecretVersionStage"), (SECRETS_ARN,),
    why="the rotation protocol on caretaker/* secrets: read the versions, stage AWSPENDING, move AWSCURRENT")

#: Rotation functions act (mode `enforce`): they run only for secrets whose owner turned rotation on with them
#: (docs/architecture.md says why not `audit`).
ROTATION_MODE: Literal["enforce"] = "enforce"
ROTATION_MEMORY_MB = 256


def rotation_spec(name: str, description: str, permissions: tuple[Permission, ...], *, timeout: int,
                  settings: tuple[Setting, ...] = ()) -> FunctionSpec:
    """Declare and register a Secrets Manager rotation function: the protocol's permission, then its own."""
    return register(FunctionSpec(name=name, description=description, trigger=Rotation(), default_mode=ROTATION_MODE,
                                 timeout=timeout, memory=ROTATION_MEMORY_MB,
                                 permissions=(PROTOCOL_PERMISSION, *permissions), settings=settings))


CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
CREATE, SET, TEST, FINISH = "createSecret", "setSecret", "testSecret", "finishSecret"
STEPS = (CREATE, SET, TEST, FINISH)
REQUIRED_FIELDS = ("SecretId", "ClientRequestToken", "Step")

#: The action recorded for each step as a whole (refusals, nothing-to-do); a step's changes have their own.
STEP_ACTIONS = {CREATE: "create-secret", SET: "set-secret", TEST: "test-secret", FINISH: "finish-secret"}
STAGE_PENDING = "stage-pending"
MOVE_CURRENT = "move-current-stage"


@dataclass(frozen=True)
class RotationRequest:
    secret_id: str
    token: str
    step: str

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> RotationRequest:
        """The request, or `RotationEventError` naming every missing or invalid field."""
        missing = [f for f in REQUIRED_FIELDS if not isinstance(event.get(f), str) or not event.get(f)]
        if missing:
            raise RotationEventError(f"not a Secrets Manager rotation request: {', '.join(missing)} missing or not a "
                                     f"non-empty string (expected {', '.join(REQUIRED_FIELDS)})")
        step = str(event["Step"])
        if step not in STEPS:
            raise RotationEventError(f"unknown rotation Step {step!r}: expected one of {', '.join(STEPS)}")
        return cls(str(event["SecretId"]), str(event["ClientRequestToken"]), step)


def describe(sm: Any, secret_id: str) -> SecretInfo:
    secret = describe_secret(sm, secret_id)
    if not secret.exists:
        raise RotationRefused(f"secret {secret_id} does not exist")
    return secret


class Flavour(Protocol):
    """What differs between kinds of secret. `finish_secret` runs after AWSCURRENT moved (or had moved)."""

    name: str

    def create_secret(self, rotation: RotationStep) -> None: ...

    def set_secret(self, rotation: RotationStep) -> None: ...

    def test_secret(self, rotation: RotationStep) -> None: ...

    def finish_secret(self, rotation: RotationStep, previous_version: str | None) -> None: ...


class RotationStep:
    """One step of one rotation: the request, the secret as described at the start, and helpers."""

    def __init__(self, run: Run, request: RotationRequest, secret: SecretInfo, sm: Any) -> None:
        self.run = run
        self.request = request
        self.secret = secret
        self.sm = sm
        self.log = TokenLog.beside(run.state, secret_arn=secret.arn, token=request.token)

    @property
    def token(self) -> str:
        return self.request.token

    @property
    def dry_run(self) -> bool:
        return self.run.dry_run

    # ------------------------------------------------------------------ reading values

    def value(self, *, stage: str | None = None, version: str | None = None) -> str | None:
        """A version's SecretString, or None when that version holds no value (or none at all)."""
        kwargs: dict[str, str] = {"SecretId": self.secret.arn}
        if stage:
            kwargs["VersionStage"] = stage
        if version:
            kwargs["VersionId"] = version
        try:
            value = self.sm.get_secret_value(**kwargs).get("SecretString")
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        return value if isinstance(value, str) else None

    def pending_value(self) -> str | None:
        """The value staged for this rotation, if createSecret has staged one."""
        return self.value(stage=PENDING, version=self.token)

    def value_to_test(self, what: str) -> str | None:
        """testSecret's staged value. None when nothing was staged: in audit mode that is a skip, otherwise
        the test `what` fails (and the invocation with it)."""
        pending = self.pending_value()
        if pending is None:
            if self.dry_run:
                self.skip(f"{self.run.mode} mode: nothing was staged to test")
            else:
                self.test_result(what, ["this version holds no value: createSecret did not complete"])
        return pending

    # ------------------------------------------------------------------ acting and recording

    def stage_pending(self, value: str, reason: str, details: Mapping[str, Any] | None = None) -> bool:
        """Put `value` into this rotation's AWSPENDING version. False when it failed or (audit) was only planned."""
        result = self.run.act(self.secret.arn, STAGE_PENDING, reason,
                              lambda: self.sm.put_secret_value(SecretId=self.secret.arn, ClientRequestToken=self.token,
                                                               SecretString=value, VersionStages=[PENDING]),
                              details={"secret": self.secret.name, "version": self.token, **(details or {})})
        return result is not None

    def skip(self, reason: str, action: str | None = None, details: Mapping[str, Any] | None = None) -> None:
        self.run.skip(self.secret.arn, action or STEP_ACTIONS[self.request.step], reason,
                      {"secret": self.secret.name, "version": self.token, **(details or {})})

    def refuse(self, reason: str) -> NoReturn:
        """Record why nothing is done, and fail the invocation."""
        self.skip("refused: " + reason)
        raise RotationRefused(f"{self.request.step} of {self.secret.name}: {reason}")

    def test_result(self, what: str, problems: list[str], details: Mapping[str, Any] | None = None) -> None:
        """Record testSecret's verdict; when there are problems, fail the invocation (AWSCURRENT stays)."""
        record = self.run.state.plan(self.secret.arn, STEP_ACTIONS[TEST], what, dry_run=self.dry_run,
                                     details={"secret": self.secret.name, "version": self.token, **(details or {})})
        if problems:
            reason = "; ".join(problems)
            self.run.fail(record, reason)
            raise RotationTestFailed(f"testSecret of {self.secret.name}: {reason}")
        self.run.state.outcome(record, "succeeded")

    # ------------------------------------------------------------------ preconditions

    def check(self) -> bool:
        """Refuse what must not be rotated; True when this version is already AWSCURRENT (rotation done)."""
        if is_protected(self.secret.tags):
            self.refuse("the secret is protected: tagged caretaker:protect=true")
        if not self.secret.rotation_enabled:
            self.refuse("rotation is not enabled for this secret (configure it with RotateSecret or an "
                        "AWS::SecretsManager::RotationSchedule before invoking its rotation function)")
        stages = self.secret.versions.get(self.token)
        if stages is None:
            self.refuse(f"version {self.token} is not a version of this secret")
        if CURRENT in stages:
            return True
        if PENDING not in stages:
            self.refuse(f"version {self.token} is not staged for rotation: its labels are "
                        f"{', '.join(stages) or 'none'}, not AWSPENDING")
        return False


def rotate(run: Run, event: Mapping[str, Any], flavour: Flavour) -> dict[str, Any]:
    """Carry out the requested step with `flavour`; the run function of every rotation handler."""
    request = RotationRequest.parse(event)
    sm = run.clients("secretsmanager")
    rotation = RotationStep(run, request, describe(sm, request.secret_id), sm)
    already_current = rotation.check()
    steps: dict[str, Callable[[], None]] = {
        CREATE: lambda: flavour.create_secret(rotation),
        SET: lambda: flavour.set_secret(rotation),
        TEST: lambda: flavour.test_secret(rotation),
        FINISH: lambda: finish(rotation, flavour),
    }
    if already_current and request.step != FINISH:
        rotation.skip(f"version {request.token} is already AWSCURRENT: its rotation has finished, nothing to do")
    else:
        steps[request.step]()
    if rotation.dry_run:
        if request.step == CREATE:
            _notify_audit(rotation)
    else:
        rotation.log.step_done(request.step)
    return {"secret": rotation.secret.name, "step": request.step, "version": request.token,
            "already_current": already_current}


def finish(rotation: RotationStep, flavour: Flavour) -> None:
    """Move AWSCURRENT to this rotation's version, then let the flavour retire the previous value."""
    secret, token = rotation.secret, rotation.token
    current = secret.version_with(CURRENT)
    if current == token:  # a retried finishSecret: the move is done; finish what follows it
        flavour.finish_secret(rotation, secret.version_with(PREVIOUS))
        return
    if not rotation.dry_run and rotation.pending_value() is None:
        rotation.refuse("nothing is staged in this version: createSecret did not complete")
    move: dict[str, str] = {"SecretId": secret.arn, "VersionStage": CURRENT, "MoveToVersionId": token}
    if current:
        move["RemoveFromVersionId"] = current
    moved = rotation.run.act(secret.arn, MOVE_CURRENT, f"version {token} passed testSecret: it becomes AWSCURRENT",
                             lambda: rotation.sm.update_secret_version_stage(**move),
                             details={"secret": secret.name, "version": token, "previous_version": current})
    if moved is None and not rotation.dry_run:
        raise RotationError(f"finishSecret of {secret.name}: AWSCURRENT could not be moved (see the failed record)")
    flavour.finish_secret(rotation, current)


def _notify_audit(rotation: RotationStep) -> None:
    run = rotation.run
    run.notify(f"Caretaker {run.spec.name}: rotation not performed (audit)",
               f"{rotation.secret.name} was not rotated: {run.spec.name} is in {run.mode} mode "
               f"({run.mode_source}). AWSCURRENT is unchanged; Secrets Manager will report the rotation as "
               f"failed and leave version {rotation.token} labelled AWSPENDING without a value.",
               {"secret": rotation.secret.name, "version": rotation.token, "step": rotation.request.step},
               outcome="planned", severity="medium")
