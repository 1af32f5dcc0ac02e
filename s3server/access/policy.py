"""Bucket policies: parsed and validated once at PutBucketPolicy, evaluated on every request.

The subset implemented: Effect, Principal ("*" or users), Action/NotAction and Resource/NotResource
with `*`/`?` wildcards, and conditions with the String*, Numeric*, Bool, IpAddress/NotIpAddress and
Null operators (each but Null also as …IfExists) on the keys `decide.policy_context` builds.
Anything else is MalformedPolicy rather than silently ignored, so a
policy never grants or denies less than its author thinks.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from s3server.s3.errors import S3Error

MAX_POLICY_BYTES = 20 * 1024
ARN_PREFIX = "arn:aws:s3:::"
VERSIONS = ("2012-10-17", "2008-10-17")
STRING_OPERATORS = (
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
)
NUMERIC_OPERATORS = (
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
)
CONDITION_OPERATORS = (*STRING_OPERATORS, *NUMERIC_OPERATORS, "Bool", "IpAddress", "NotIpAddress", "Null")
# Operators that hold when the request lacks the key (without IfExists, the others fail).
NEGATED = frozenset(
    {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals", "NotIpAddress"}
)
EXISTING_TAG = "s3:ExistingObjectTag/"
# Condition keys whose fixed values make a statement non-public (AWS's "public" evaluation).
FIXED_KEYS = frozenset(
    {
        "aws:SourceIp",
        "aws:SourceArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceAccount",
        "aws:SourceOwner",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalOrgID",
        "aws:userid",
        "aws:username",
    }
)


class Decision(Enum):
    ALLOW = "allow"
    DENY = "deny"
    NONE = "none"  # the policy says nothing: ownership and ACLs decide


def malformed(message: str) -> S3Error:
    return S3Error("MalformedPolicy", message)


@lru_cache(maxsize=4096)
def _pattern(glob: str, case_insensitive: bool = False) -> re.Pattern[str]:
    """An IAM wildcard (`*` any run, `?` one character) as an anchored regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if case_insensitive else 0))


def _as_list(value: object, field: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise malformed(f"Policy has an invalid {field}")


def _user_of(principal: str) -> str:
    """'*', a plain user name, or an IAM user ARN (arn:aws:iam::ACCOUNT:user/NAME) → the name."""
    if principal == "*":
        return "*"
    if principal.startswith("arn:aws:iam::"):
        rest = principal.split(":", 5)[-1]
        if rest == "root":
            return "root"
        if rest.startswith("user/") and len(rest) > 5:
            return rest[5:]
        raise malformed("Invalid principal in policy")
    if not principal or any(c.isspace() for c in principal):
        raise malformed("Invalid principal in policy")
    return principal


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _in_network(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def _numeric(op: str, actual: float, value: float) -> bool:
    return {
        "NumericEquals": actual == value,
        "NumericNotEquals": actual != value,
        "NumericLessThan": actual < value,
        "NumericLessThanEquals": actual <= value,
        "NumericGreaterThan": actual > value,
        "NumericGreaterThanEquals": actual >= value,
    }[op]


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str  # without its IfExists suffix
    key: str
    values: tuple[str, ...]
    if_exists: bool = False  # …IfExists: a request without the key passes

    @property
    def is_fixed(self) -> bool:
        """Whether the condition confines a statement to known callers, so it is not public."""
        if self.if_exists or self.key not in FIXED_KEYS:
            return False
        if self.operator == "IpAddress":
            # A narrow enough range pins the caller; 0.0.0.0/1 and the like still admit the world.
            networks = [ipaddress.ip_network(v, strict=False) for v in self.values]
            return all(n.prefixlen >= (8 if n.version == 4 else 32) for n in networks)
        if self.operator in ("StringEquals", "StringEqualsIgnoreCase"):
            return True
        return self.operator == "StringLike" and not any("*" in v or "?" in v for v in self.values)

    def holds(self, context: Mapping[str, str]) -> bool:
        actual = context.get(self.key)
        op = self.operator
        if op == "Null":
            return (actual is None) == (self.values[0].lower() == "true")
        if actual is None:
            # A missing key: IfExists passes; otherwise only the negated operators hold, as in IAM.
            return self.if_exists or op in NEGATED
        if op in ("StringEquals", "StringNotEquals"):
            return (actual in self.values) == (op == "StringEquals")
        if op in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
            hit = actual.lower() in {v.lower() for v in self.values}
            return hit == (op == "StringEqualsIgnoreCase")
        if op in ("StringLike", "StringNotLike"):
            hit = any(_pattern(v).match(actual) for v in self.values)
            return hit == (op == "StringLike")
        if op == "Bool":
            return actual.lower() in {v.lower() for v in self.values}
        if op in ("IpAddress", "NotIpAddress"):
            return _in_network(actual, self.values) == (op == "IpAddress")
        number = _number(actual)
        if number is None:
            return op == "NumericNotEquals"
        hits = [_numeric(op, number, float(v)) for v in self.values]
        return all(hits) if op == "NumericNotEquals" else any(hits)


@dataclass(frozen=True, slots=True)
class Statement:
    effect: str
    principals: tuple[str, ...]  # user names, or "*"
    actions: tuple[str, ...]
    not_actions: bool
    resources: tuple[str, ...]  # without the arn:aws:s3::: prefix, e.g. "bucket/photos/*"
    not_resources: bool
    conditions: tuple[Condition, ...]

    def applies(self, user: str | None, action: str, resource: str, context: Mapping[str, str]) -> bool:
        if "*" not in self.principals and (user is None or user not in self.principals):
            return False
        action_hit = any(_pattern(a, case_insensitive=True).match(action) for a in self.actions)
        if action_hit == self.not_actions:
            return False
        resource_hit = any(_pattern(r).match(resource) for r in self.resources)
        if resource_hit == self.not_resources:
            return False
        return all(c.holds(context) for c in self.conditions)


@dataclass(frozen=True, slots=True)
class Policy:
    document: str  # as the client sent it; GetBucketPolicy returns it unchanged
    statements: tuple[Statement, ...]

    def evaluate(
        self, user: str | None, action: str, resource: str, context: Mapping[str, str] | None = None
    ) -> Decision:
        """Explicit Deny wins over Allow; no matching statement is NONE."""
        ctx = context or {}
        decision = Decision.NONE
        for statement in self.statements:
            if statement.applies(user, action, resource, ctx):
                if statement.effect == "Deny":
                    return Decision.DENY
                decision = Decision.ALLOW
        return decision

    @property
    def needs_object_tags(self) -> bool:
        """Whether a condition tests s3:ExistingObjectTag/…, so the object's tags must be read first."""
        return any(c.key.startswith(EXISTING_TAG) for s in self.statements for c in s.conditions)

    @property
    def is_public(self) -> bool:
        """AWS's "public": some Allow statement admits everyone ("*") without a condition that pins
        the caller to fixed values (a source address range, a user, an account, …)."""
        return any(
            s.effect == "Allow" and "*" in s.principals and not any(c.is_fixed for c in s.conditions)
            for s in self.statements
        )


def _principals(raw: object) -> tuple[str, ...]:
    if raw == "*":
        return ("*",)
    if isinstance(raw, dict) and set(raw) <= {"AWS"} and "AWS" in raw:
        return tuple(_user_of(p) for p in _as_list(raw["AWS"], "principal"))
    raise malformed("Invalid principal in policy")


def _actions(raw: object) -> tuple[str, ...]:
    actions = _as_list(raw, "action")
    for action in actions:
        if action != "*" and not re.fullmatch(r"s3:[A-Za-z*?]+", action):
            raise malformed("Policy has invalid action")
    return tuple(actions)


def _resources(raw: object, bucket: str) -> tuple[str, ...]:
    out = []
    for arn in _as_list(raw, "resource"):
        if not arn.startswith(ARN_PREFIX):
            raise malformed("Policy has invalid resource")
        path = arn[len(ARN_PREFIX) :]
        target_bucket = path.split("/", 1)[0]
        if not _pattern(target_bucket).match(bucket):
            raise malformed("Policy has invalid resource")
        out.append(path)
    return tuple(out)


def _conditions(raw: object) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise malformed("Policy has an invalid condition")
    out = []
    for name, block in raw.items():
        operator, if_exists = (name[: -len("IfExists")], True) if name.endswith("IfExists") else (name, False)
        if (
            operator not in CONDITION_OPERATORS
            or (if_exists and operator == "Null")
            or not isinstance(block, dict)
        ):
            raise malformed(f"Policy has an invalid condition operator: {name}")
        for key, raw_values in block.items():
            if isinstance(raw_values, bool | int | float) and not isinstance(raw_values, str):
                raw_values = str(raw_values).lower() if isinstance(raw_values, bool) else str(raw_values)
            values = tuple(_as_list(raw_values, "condition value"))
            _check_values(operator, values)
            out.append(Condition(operator, key, values, if_exists))
    return tuple(out)


def _check_values(operator: str, values: tuple[str, ...]) -> None:
    """Values an operator cannot compare are MalformedPolicy, not a condition that never holds."""
    if operator in ("Bool", "Null") and any(v.lower() not in ("true", "false") for v in values):
        raise malformed(f"Invalid value for {operator}: {values}")
    if operator in NUMERIC_OPERATORS and any(_number(v) is None for v in values):
        raise malformed(f"Invalid value for {operator}: {values}")
    if operator in ("IpAddress", "NotIpAddress"):
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as exc:
                raise malformed(f"Invalid IP address for {operator}: {value}") from exc


_STATEMENT_FIELDS = {
    "Sid",
    "Effect",
    "Principal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}


def parse_policy(document: bytes | str, bucket: str) -> Policy:
    """Validate a bucket policy document as AWS does (MalformedPolicy on anything off)."""
    text = document.decode("utf-8", "replace") if isinstance(document, bytes) else document
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise malformed("Policies must be 20 KB or smaller")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise malformed("This policy contains invalid Json") from exc
    if not isinstance(raw, dict):
        raise malformed("This policy contains invalid Json")
    version = raw.get("Version")
    if version is not None and version not in VERSIONS:
        raise malformed("The policy must contain a valid version string")
    body = raw.get("Statement")
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise malformed("Missing required field Statement")
    statements = []
    for item in body:
        if not isinstance(item, dict) or set(item) - _STATEMENT_FIELDS:
            raise malformed("Policy has an invalid statement")
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise malformed("Invalid effect: " + str(effect))
        if "Principal" not in item:
            raise malformed("Missing required field Principal")
        if ("Action" in item) == ("NotAction" in item):
            raise malformed("Missing required field Action")
        if ("Resource" in item) == ("NotResource" in item):
            raise malformed("Missing required field Resource")
        statements.append(
            Statement(
                effect=effect,
                principals=_principals(item["Principal"]),
                actions=_actions(item.get("Action", item.get("NotAction"))),
                not_actions="NotAction" in item,
                resources=_resources(item.get("Resource", item.get("NotResource")), bucket),
                not_resources="NotResource" in item,
                conditions=_conditions(item.get("Condition")),
            )
        )
    return Policy(document=text, statements=tuple(statements))
