"""Rotation function for generated passwords that their consumer applies itself.

The secret holds the password as its whole value, or as one field (`json_key`) of a JSON object
whose other fields are kept. The consumer reads AWSCURRENT and applies it (for example an
application that sets its own database user's password at start-up), so:

- createSecret: generate a password by the rules (length, character classes, excluded characters)
  and stage it as AWSPENDING;
- setSecret: nothing to do;
- testSecret: the staged value is well formed (same JSON fields, password follows the rules);
- finishSecret: AWSCURRENT moves to it (the old value stays as AWSPREVIOUS).

Passwords come from Python's `secrets` module (the operating system's CSPRNG), not from
`secretsmanager:GetRandomPassword`: no network call and no permission on `*` (that action has no
resource), and generation and testSecret's check share one definition of the rules.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automations.core.errors import SettingError, SettingsError
from automations.core.runtime import Run, entrypoint
from automations.core.settings import Settings
from automations.core.spec import Setting
from automations.rotation.errors import RotationError
from automations.rotation.protocol import CURRENT, STAGE_PENDING, RotationStep, rotate, rotation_spec

NAME = "rotate-password"

CLASSES: dict[str, str] = {
    "lowercase": string.ascii_lowercase,
    "uppercase": string.ascii_uppercase,
    "digits": string.digits,
    "punctuation": string.punctuation,
}

# enforce (ROTATION_MODE): it acts only on secrets whose owner enabled rotation with this function; it replaces a
# value the consumer applies itself, and the old value stays available as AWSPREVIOUS.
SPEC = rotation_spec(
    NAME, "Secrets Manager rotation function for generated passwords that their consumer applies itself.",
    permissions=(), timeout=60,
    settings=(
        Setting("password_length", "int", 32, "Length of generated passwords.", minimum=8, maximum=4096),
        Setting("character_classes", "list", tuple(CLASSES),
                "Character classes passwords are drawn from (comma-separated: lowercase, uppercase, digits, "
                "punctuation).", allowed=tuple(CLASSES)),
        Setting("exclude_characters", "str", "\"'`\\/@",
                "Characters never used (e.g. those the consumer's configuration format cannot hold)."),
        Setting("require_each_class", "bool", True, "Every password holds at least one character of each class."),
        Setting("json_key", "str", "password",
                "Field that holds the password when the secret's value is a JSON object.", pattern=r"\S{1,256}"),
    ),
)


@dataclass(frozen=True)
class PasswordRules:
    length: int
    classes: tuple[str, ...]
    exclude: str
    require_each: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordRules:
        """The rules, or `SettingsError` when the settings cannot make a password together."""
        rules = cls(settings["password_length"], tuple(dict.fromkeys(settings["character_classes"])),
                    settings["exclude_characters"], settings["require_each_class"])
        spec = settings.spec
        errors: list[SettingError] = []
        if not rules.classes:
            errors.append(SettingError(spec.setting("character_classes").env_name, "",
                                       "at least one of " + ", ".join(CLASSES)))
        emptied = [c for c, chars in rules.alphabets().items() if not chars]
        if emptied:
            errors.append(SettingError(spec.setting("exclude_characters").env_name, rules.exclude,
                                       f"characters that leave something of each class (it excludes all of "
                                       f"{', '.join(emptied)})"))
        if rules.require_each and rules.length < len(rules.classes):
            errors.append(SettingError(spec.setting("password_length").env_name, str(rules.length),
                                       f"at least the number of required classes ({len(rules.classes)})"))
        if errors:
            raise SettingsError(errors)
        return rules

    def alphabets(self) -> dict[str, str]:
        return {c: "".join(ch for ch in CLASSES[c] if ch not in self.exclude) for c in self.classes}

    def generate(self) -> str:
        alphabets = list(self.alphabets().values())
        pool = "".join(alphabets)
        chars = [secrets.choice(a) for a in alphabets] if self.require_each else []
        chars += [secrets.choice(pool) for _ in range(self.length - len(chars))]
        secrets.SystemRandom().shuffle(chars)
        return "".join(chars)

    def problems(self, password: str) -> list[str]:
        """What is wrong with `password`, without quoting any of it."""
        found: list[str] = []
        if len(password) != self.length:
            found.append(f"length {len(password)}, expected {self.length}")
        pool = set("".join(self.alphabets().values()))
        outside = sum(1 for ch in password if ch not in pool)
        if outside:
            found.append(f"{outside} character(s) outside the allowed classes or excluded")
        if self.require_each:
            missing = [c for c, chars in self.alphabets().items() if not set(chars) & set(password)]
            if missing:
                found.append("no character of " + ", ".join(missing))
        return found


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """One step of rotating a generated password."""
    return rotate(run, event, PasswordFlavour(PasswordRules.from_settings(run.settings),
                                              run.settings["json_key"]))


def _as_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class PasswordFlavour:
    name = NAME

    def __init__(self, rules: PasswordRules, json_key: str) -> None:
        self.rules = rules
        self.json_key = json_key

    def create_secret(self, rotation: RotationStep) -> None:
        if rotation.pending_value() is not None:
            rotation.skip("a password is already staged in this version (a retried createSecret)", STAGE_PENDING)
            return
        current = rotation.value(stage=CURRENT)
        if current is None:
            rotation.refuse("the secret has no AWSCURRENT value to take the format from")
        document = _as_object(current)
        if document is not None and not isinstance(document.get(self.json_key), str):
            rotation.refuse(f"the secret is a JSON object without a string field {self.json_key!r} "
                            "(set CARETAKER_JSON_KEY)")
        password = self.rules.generate()
        value = json.dumps({**document, self.json_key: password}) if document is not None else password
        form = f"field {self.json_key!r} of a JSON object" if document is not None else "the whole value"
        if not rotation.stage_pending(value, f"new password of {self.rules.length} characters, {form}",
                                      {"length": self.rules.length, "classes": list(self.rules.classes)}):
            if rotation.dry_run:
                return
            raise RotationError(f"createSecret of {rotation.secret.name}: the new password could not be staged")

    def set_secret(self, rotation: RotationStep) -> None:
        rotation.skip("nothing to set: the secret's consumer applies the new value itself")

    def test_secret(self, rotation: RotationStep) -> None:
        pending = rotation.value_to_test("the staged password is well formed")
        if pending is None:
            return
        current = rotation.value(stage=CURRENT)
        document = _as_object(current) if current is not None else None
        problems: list[str] = []
        if document is None:
            password = pending
        else:
            staged = _as_object(pending)
            if staged is None:
                problems.append("the staged value is not a JSON object, unlike AWSCURRENT")
                password = ""
            else:
                if set(staged) != set(document):
                    problems.append("the staged JSON fields differ from AWSCURRENT's")
                field = staged.get(self.json_key)
                password = field if isinstance(field, str) else ""
        if not problems:
            problems = self.rules.problems(password)
        rotation.test_result("the staged password is well formed", problems, {"length": self.rules.length})

    def finish_secret(self, rotation: RotationStep, previous_version: str | None) -> None:
        """Nothing to retire: the previous value stays as AWSPREVIOUS for the consumer to fall back to."""
