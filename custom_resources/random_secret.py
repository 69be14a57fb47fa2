"""Custom::RandomSecret: a generated password or token, stored in Secrets Manager or as an SSM
SecureString parameter.

The value is generated in the function (the `secrets` module), with at least one character
of each included class. It is returned only with ReturnValue=true, and then with NoEcho.
An Update regenerates the value only when a generation property changes; a new Name or
Storage makes a new resource (a new PhysicalResourceId) that carries the current value over
unless a generation property changed too. Delete removes the stored value.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from custom_resources import secret_storage as storage
from custom_resources.properties import Prop, Schema
from custom_resources.provider import Provider, Request, ResourceType, Result, provider_spec

NAME = "random-secret"
RESOURCE_TYPE = "Custom::RandomSecret"
SECRETS_MANAGER, SSM = "SecretsManager", "SSM"

#: (property, characters) of each character class.
CLASSES: tuple[tuple[str, str], ...] = (
    ("IncludeUppercase", string.ascii_uppercase),
    ("IncludeLowercase", string.ascii_lowercase),
    ("IncludeDigits", string.digits),
    ("IncludeSymbols", string.punctuation),
)

SPEC = provider_spec(
    NAME, RESOURCE_TYPE, "generated passwords in Secrets Manager or SSM.",
    permissions=(*storage.secret_permissions(NAME), *storage.parameter_permissions(NAME, read=True)),
)


def _name_fits_storage(values: Mapping[str, Any]) -> str | None:
    name, where = values["Name"], values["Storage"]
    if where == SSM:
        lo, hi = storage.SSM_NAME_LENGTH
        if not (lo <= len(name) <= hi and re.fullmatch(storage.SSM_NAME_PATTERN, name)):
            return (f"Name must be an SSM parameter name when Storage is SSM ({lo} to {hi} characters "
                    f"A-Z a-z 0-9 _ . -, a path starting with /, not under aws or ssm), got {name!r}")
    elif not re.fullmatch(storage.SECRET_NAME_PATTERN, name):
        return f"Name must be a Secrets Manager name when Storage is SecretsManager (A-Z a-z 0-9 / _ + = . @ -), " \
               f"got {name!r}"
    return None


def _classes_possible(values: Mapping[str, Any]) -> str | None:
    included = [prop for prop, _ in CLASSES if values[prop]]
    if not included:
        return "at least one of " + ", ".join(p for p, _ in CLASSES) + " must be true"
    excluded = set(values["ExcludeCharacters"])
    emptied = [prop for prop, chars in CLASSES if values[prop] and not set(chars) - excluded]
    if emptied:
        return f"ExcludeCharacters removes every character of {', '.join(emptied)}"
    if values["Length"] < len(included):
        return f"Length must be at least {len(included)} (one character of each included class), " \
               f"got {values['Length']}"
    return None


SCHEMA = Schema((
    Prop("Name", "str", "Secret name, or SSM parameter name.", required=True, replaces=True,
         length=storage.SECRET_NAME_LENGTH),
    Prop("Storage", "str", "Where the value is stored.", default=SECRETS_MANAGER, allowed=(SECRETS_MANAGER, SSM),
         replaces=True),
    Prop("Length", "int", "Characters in the value.", default=32, ranges=((8, 4096),), generation=True),
    *(Prop(prop, "bool", f"Use {label}.", default=True, generation=True) for prop, label in (
        ("IncludeUppercase", "uppercase letters A-Z"), ("IncludeLowercase", "lowercase letters a-z"),
        ("IncludeDigits", "digits 0-9"), ("IncludeSymbols", "ASCII punctuation"))),
    Prop("ExcludeCharacters", "str", "Characters never used.", default="", length=(0, 256), generation=True),
    Prop("ReturnValue", "bool", "Return the value as attribute Value (the response then has NoEcho).",
         default=False),
    Prop("RecoveryWindowInDays", "int", "Secrets Manager only: days a deleted secret can be restored; "
         "0 deletes it at once without recovery.", default=30, ranges=((0, 0), (7, 30))),
), checks=(_name_fits_storage, _classes_possible))

EXAMPLE_PROPERTIES: dict[str, Any] = {
    "Name": "${AWS::StackName}/example/database-password",
    "Length": "32",
    "ExcludeCharacters": "\"'@/\\",
    "RecoveryWindowInDays": "7",
}


def generate(props: Mapping[str, Any]) -> str:
    """A random value of `Length` characters with at least one of each included class."""
    excluded = set(props["ExcludeCharacters"])
    pools = ["".join(c for c in chars if c not in excluded) for prop, chars in CLASSES if props[prop]]
    chars = [secrets.choice(pool) for pool in pools]
    alphabet = "".join(pools)
    chars += [secrets.choice(alphabet) for _ in range(int(props["Length"]) - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class RandomSecret(ResourceType):
    resource_type = RESOURCE_TYPE
    schema = SCHEMA
    binding = storage.STORED_VALUE_OWNER

    def owns(self, physical_id: str) -> bool:
        return storage.is_secret_arn(physical_id) or storage.is_parameter_arn(physical_id)

    def create(self, request: Request) -> Result:
        value = request.keep_secret(generate(request.props))
        return self._result(request, self._store_new(request, value), value)

    def update(self, request: Request) -> Result:
        old_id = request.physical_id
        regenerate = bool(request.changed("generation"))
        if not self._designates(request, old_id):  # Name or Storage changed: a new resource
            value = (request.keep_secret(generate(request.props)) if regenerate
                     else self._read(request, old_id, request.old_props or {}))
            return self._result(request, self._store_new(request, value), value,
                                note=f"replaced {old_id}" + ("; new value" if regenerate else "; value carried over"))
        if regenerate:
            value = request.keep_secret(generate(request.props))
            if storage.is_secret_arn(old_id):
                storage.put_secret_value(request, old_id, value)
            else:
                name = storage.parameter_name(request, old_id, request.props["Name"])
                storage.put_parameter(request, name, value, key_id=None, overwrite=True)
            return self._result(request, old_id, value, note="regenerated the value")
        current = self._read(request, old_id, request.props) if request.props["ReturnValue"] else None
        return self._result(request, old_id, current, note="value unchanged")

    def delete(self, request: Request) -> Result:
        physical_id = request.physical_id
        if storage.is_secret_arn(physical_id):
            note = storage.delete_secret(request, physical_id, int(request.props["RecoveryWindowInDays"]))
        else:
            note = storage.delete_parameter(request, storage.parameter_name(request, physical_id,
                                                                            request.props["Name"]))
        return Result(physical_id, note=note)

    # ------------------------------------------------------------------ pieces

    @staticmethod
    def _designates(request: Request, physical_id: str) -> bool:
        """Whether the existing resource is the one the properties ask for (decided from its id, so
        that a rollback, which sends the old properties to the old id, keeps that resource)."""
        name = request.props["Name"]
        if request.props["Storage"] == SSM:
            old_name = (request.old_props or {}).get("Name") if storage.is_parameter_arn(physical_id) else None
            return storage.parameter_designated(request, physical_id, name, old_name)
        return storage.secret_designated(physical_id, name)

    @staticmethod
    def _store_new(request: Request, value: str) -> str:
        name = request.props["Name"]
        if request.props["Storage"] == SSM:
            storage.put_parameter(request, name, value, key_id=None, overwrite=False)
            return storage.parameter_arn(request, name)
        return storage.create_secret(request, name, value)

    @staticmethod
    def _read(request: Request, physical_id: str, props: Mapping[str, Any]) -> str:
        if storage.is_secret_arn(physical_id):
            return storage.read_secret(request, physical_id)
        return storage.read_parameter(request, storage.parameter_name(request, physical_id, props.get("Name")))

    @staticmethod
    def _result(request: Request, physical_id: str, value: str | None, note: str = "") -> Result:
        data: dict[str, Any] = {"Arn": physical_id, "Name": request.props["Name"]}
        if request.props["ReturnValue"] and value is not None:
            data["Value"] = value
        return Result(physical_id, data=data, no_echo="Value" in data, note=note)


handler = Provider(SPEC, RandomSecret())
