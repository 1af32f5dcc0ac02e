"""Bucket policies: parsed and validated once at PutBucketPolicy, evaluated on every request.

The subset implemented is what public-read buckets and per-user prefixes need: Effect, Principal
("*" or users), Action/NotAction and Resource/NotResource with `*`/`?` wildcards, and String* conditions
on request keys such as s3:prefix. Anything else is MalformedPolicy rather than silently ignored, so a
policy never grants or denies less than its author thinks.
"""

from __future__ import annotations

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
CONDITION_OPERATORS = ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike")


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


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str
    key: str
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, str]) -> bool:
        actual = context.get(self.key)
        if self.operator == "StringEquals":
            return actual is not None and actual in self.values
        if self.operator == "StringNotEquals":
            return actual is None or actual not in self.values
        matched = actual is not None and any(_pattern(v).match(actual) for v in self.values)
        return matched if self.operator == "StringLike" else not matched


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
    def is_public(self) -> bool:
        """GetBucketPolicyStatus: some Allow statement admits everyone without conditions."""
        return any(s.effect == "Allow" and "*" in s.principals and not s.conditions for s in self.statements)


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
    for operator, block in raw.items():
        if operator not in CONDITION_OPERATORS or not isinstance(block, dict):
            raise malformed(f"Policy has an invalid condition operator: {operator}")
        for key, values in block.items():
            out.append(Condition(operator, key, tuple(_as_list(values, "condition value"))))
    return tuple(out)


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
