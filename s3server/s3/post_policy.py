"""POST policy documents: parsing, expiration, conditions, and AWS's AccessDenied messages for them.

A policy is base64 JSON: ``{"expiration": "2026-01-01T00:00:00.000Z", "conditions": [...]}``. A
condition is an exact match (``{"acl": "public-read"}`` or ``["eq", "$acl", "public-read"]``), a
prefix (``["starts-with", "$key", "user/"]``) or the file's size (``["content-length-range", 1, 10]``).
Every form field must be named by a condition, except the ones that carry the policy and its signature,
the file itself, and ``x-ignore-*`` fields; ``$bucket`` is the bucket the form is posted to.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from s3server.s3.errors import S3Error

# Form fields no condition has to name.
EXEMPT = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file", "bucket"})
IGNORED_PREFIX = "x-ignore-"
_DENIED = "Invalid according to Policy: "


def _invalid(detail: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {detail}")


def denied(detail: str) -> S3Error:
    return S3Error("AccessDenied", _DENIED + detail)


@dataclass(frozen=True, slots=True)
class Condition:
    operation: str  # "eq", "starts-with"
    field: str  # lower-cased, without "$"
    value: str
    shown: str  # the condition as AWS echoes it in its message

    def holds(self, value: str | None) -> bool:
        actual = value or ""
        if self.operation == "eq":
            return actual == self.value
        if self.field == "content-type":  # each of a comma-separated list must match
            return all(part.strip().startswith(self.value) for part in actual.split(","))
        return actual.startswith(self.value)


@dataclass(frozen=True, slots=True)
class Policy:
    expiration: datetime
    conditions: tuple[Condition, ...]
    length_range: tuple[int, int] | None  # content-length-range, inclusive

    def check(self, fields: Mapping[str, str], now: datetime) -> None:
        """Expiration, then every condition, then fields no condition names → AccessDenied."""
        if now > self.expiration:
            raise denied("Policy expired.")
        for condition in self.conditions:
            if not condition.holds(fields.get(condition.field)):
                raise denied(f"Policy Condition failed: {condition.shown}")
        named = {condition.field for condition in self.conditions}
        extra = [
            name
            for name in fields
            if name not in named and name not in EXEMPT and not name.startswith(IGNORED_PREFIX)
        ]
        if extra:
            raise denied(f"Extra input fields: {', '.join(extra)}")


def _shown(operation: str, name: str, value: object) -> str:
    return f'["{operation}", "${name}", {json.dumps(value, ensure_ascii=False)}]'


def _field(raw: object) -> str:
    if not isinstance(raw, str) or not raw.startswith("$") or len(raw) < 2:
        raise _invalid(f"Invalid Condition: field name must start with $: {json.dumps(raw)}")
    return raw[1:]


def _length(value: object) -> int:
    if isinstance(value, bool):
        raise _invalid("Invalid content-length-range")
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        raise _invalid("Invalid content-length-range") from None


def parse(encoded: str) -> Policy:
    """A base64 policy document → Policy; anything malformed → InvalidPolicyDocument."""
    try:
        doc = json.loads(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(doc, dict):
        raise _invalid("Invalid JSON.")
    raw_expiration = doc.get("expiration")
    if raw_expiration is None:
        raise _invalid("Policy missing expiration.")
    try:
        expiration = datetime.fromisoformat(str(raw_expiration))
        if expiration.tzinfo is None:
            raise ValueError
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: '{raw_expiration}'") from None
    raw_conditions = doc.get("conditions")
    if raw_conditions is None:
        raise _invalid("Policy missing conditions.")
    if not isinstance(raw_conditions, list):
        raise _invalid("Invalid JSON.")
    conditions: list[Condition] = []
    length_range: tuple[int, int] | None = None
    for raw in raw_conditions:
        if isinstance(raw, dict):
            for name, value in raw.items():
                if not isinstance(value, str):
                    raise _invalid(f"Invalid Simple-Condition: value must be a string: {json.dumps(raw)}")
                field = name[1:] if name.startswith("$") else name
                conditions.append(Condition("eq", field.lower(), value, _shown("eq", field, value)))
        elif isinstance(raw, list) and raw and isinstance(raw[0], str):
            operation = raw[0].lower()
            if operation == "content-length-range":
                if len(raw) != 3:
                    raise _invalid("Invalid content-length-range")
                length_range = (_length(raw[1]), _length(raw[2]))
            elif operation in ("eq", "starts-with"):
                if len(raw) != 3 or not isinstance(raw[2], str):
                    raise _invalid(f"Invalid Condition: wrong format: {json.dumps(raw)}")
                field = _field(raw[1])
                conditions.append(Condition(operation, field.lower(), raw[2], _shown(raw[0], field, raw[2])))
            else:
                raise _invalid(f"Invalid Condition: unknown operation: {json.dumps(raw[0])}")
        else:
            raise _invalid(f"Invalid Condition: {json.dumps(raw)}")
    return Policy(expiration, tuple(conditions), length_range)
