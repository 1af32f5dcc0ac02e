"""Bucket policies, canned ACLs and rate limits, decided without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from s3server.access import acl
from s3server.access.decide import policy_context
from s3server.access.policy import Decision, parse_policy
from s3server.gateway.ratelimit import Rate, RateLimiter, parse_rate
from s3server.s3.common import owner_id
from s3server.s3.errors import S3Error


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


PUBLIC_READ = doc(
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}
)
PER_USER_PREFIX = doc(
    {
        "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::123456789012:user/alice"]},
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::team/home/alice/*",
    },
    {
        "Effect": "Allow",
        "Principal": {"AWS": "alice"},
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::team",
        "Condition": {"StringLike": {"s3:prefix": ["home/alice/*"]}},
    },
    {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::team/secret/*",
    },
)


@pytest.mark.parametrize(
    ("document", "bucket", "user", "action", "resource", "context", "expected"),
    [
        (PUBLIC_READ, "photos", None, "s3:GetObject", "photos/cat.jpg", {}, Decision.ALLOW),
        (PUBLIC_READ, "photos", "bob", "s3:GetObject", "photos/a/b", {}, Decision.ALLOW),
        (PUBLIC_READ, "photos", None, "s3:PutObject", "photos/cat.jpg", {}, Decision.NONE),
        (PUBLIC_READ, "photos", None, "s3:ListBucket", "photos", {}, Decision.NONE),
        (PER_USER_PREFIX, "team", "alice", "s3:PutObject", "team/home/alice/x", {}, Decision.ALLOW),
        (PER_USER_PREFIX, "team", "alice", "s3:GetObject", "team/home/bob/x", {}, Decision.NONE),
        (PER_USER_PREFIX, "team", "bob", "s3:GetObject", "team/home/alice/x", {}, Decision.NONE),
        (
            PER_USER_PREFIX,
            "team",
            "alice",
            "s3:ListBucket",
            "team",
            {"s3:prefix": "home/alice/"},
            Decision.ALLOW,
        ),
        (PER_USER_PREFIX, "team", "alice", "s3:ListBucket", "team", {"s3:prefix": "home/"}, Decision.NONE),
        (PER_USER_PREFIX, "team", "alice", "s3:ListBucket", "team", {}, Decision.NONE),
        (PER_USER_PREFIX, "team", "alice", "s3:GetObject", "team/secret/plan", {}, Decision.DENY),
        (PER_USER_PREFIX, "team", None, "s3:GetObject", "team/secret/plan", {}, Decision.DENY),
    ],
    ids=[
        "public-anonymous-get",
        "public-user-get",
        "public-put-unsaid",
        "public-list-unsaid",
        "prefix-own-put",
        "prefix-other-home",
        "prefix-other-user",
        "prefix-list-own",
        "prefix-list-parent",
        "prefix-list-no-prefix",
        "deny-wins-user",
        "deny-wins-anonymous",
    ],
)
def test_policy_decisions(document, bucket, user, action, resource, context, expected) -> None:  # type: ignore[no-untyped-def]
    assert parse_policy(document, bucket).evaluate(user, action, resource, context) is expected


def test_action_wildcards_and_not_action() -> None:
    policy = parse_policy(
        doc(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Principal": "*", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
        ),
        "b",
    )
    assert policy.evaluate(None, "s3:GetObject", "b/k") is Decision.ALLOW
    assert policy.evaluate(None, "s3:GetObjectTagging", "b/k") is Decision.DENY
    assert policy.evaluate(None, "s3:PutObject", "b/k") is Decision.DENY
    assert policy.is_public


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "This policy contains invalid Json"),
        ("[]", "This policy contains invalid Json"),
        (json.dumps({"Version": "2012-10-17"}), "Missing required field Statement"),
        (
            doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
            "Missing required field Principal",
        ),
        (
            doc(
                {
                    "Effect": "Maybe",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::b/*",
                }
            ),
            "Invalid effect: Maybe",
        ),
        (
            doc(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "ec2:RunInstances",
                    "Resource": "arn:aws:s3:::b/*",
                }
            ),
            "Policy has invalid action",
        ),
        (
            doc(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::other/*",
                }
            ),
            "Policy has invalid resource",
        ),
        (
            doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "b/*"}),
            "Policy has invalid resource",
        ),
        (
            doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "x"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::b/*",
                }
            ),
            "Invalid principal in policy",
        ),
        (
            doc(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::b/*",
                    "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
                }
            ),
            "Policy has an invalid condition operator: DateGreaterThan",
        ),
        (
            doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}),
            "Missing required field Resource",
        ),
    ],
    ids=[
        "json",
        "not-object",
        "no-statement",
        "no-principal",
        "effect",
        "action",
        "other-bucket",
        "not-arn",
        "principal",
        "condition",
        "no-resource",
    ],
)
def test_malformed_policies(document: str, message: str) -> None:
    with pytest.raises(S3Error) as info:
        parse_policy(document, "b")
    assert info.value.code == "MalformedPolicy"
    assert info.value.message == message


@pytest.mark.parametrize(
    ("canned", "anonymous_read", "authenticated_read", "anonymous_write"),
    [
        ("private", False, False, False),
        ("public-read", True, True, False),
        ("public-read-write", True, True, True),
        ("authenticated-read", False, True, False),
    ],
)
def test_canned_acl_grants(
    canned: str, anonymous_read: bool, authenticated_read: bool, anonymous_write: bool
) -> None:
    assert acl.allows(canned, None, "READ") is anonymous_read
    assert acl.allows(canned, "bob", "READ") is authenticated_read
    assert acl.allows(canned, None, "WRITE") is anonymous_write


@pytest.mark.parametrize("canned", ["private", "public-read", "public-read-write", "authenticated-read"])
async def test_acl_xml_round_trips(canned: str) -> None:
    async def directory(kind: str, value: str) -> str | None:
        return "alice" if kind == acl.USER and value == owner_id("alice") else None

    stored = await acl.resolved(acl.from_request({}, acl.render("alice", canned)), directory)
    assert acl.grants_of(stored, "alice") == acl.grants_of(canned, "alice")
    assert acl.render("alice", stored) == acl.render("alice", canned)


async def _directory(kind: str, value: str) -> str | None:
    known = {(acl.USER, owner_id("bob")): "bob", (acl.USER, owner_id("carol")): "carol"}
    return known.get((kind, value))


async def test_grant_headers_name_users_and_groups() -> None:
    headers = {
        "x-amz-grant-read": f'id="{owner_id("bob")}", uri="{acl.AUTHENTICATED_USERS}"',
        "x-amz-grant-write-acp": f"id={owner_id('carol')}",
        "x-amz-grant-full-control": f'id="{owner_id("bob")}"',
    }
    stored = await acl.resolved(acl.from_headers(headers), _directory)
    assert sorted(acl.grants_of(stored, "alice")) == sorted(
        [
            acl.Grant(acl.USER, owner_id("bob"), "READ", "bob"),
            acl.Grant(acl.GROUP, acl.AUTHENTICATED_USERS, "READ"),
            acl.Grant(acl.USER, owner_id("carol"), "WRITE_ACP", "carol"),
            acl.Grant(acl.USER, owner_id("bob"), "FULL_CONTROL", "bob"),
        ]
    )
    assert acl.allows(stored, "carol", "WRITE_ACP") and not acl.allows(stored, "carol", "READ_ACP")
    assert acl.allows(stored, "bob", "WRITE")  # FULL_CONTROL
    assert acl.allows(stored, "dave", "READ") and not acl.allows(stored, None, "READ")
    assert acl.is_public(stored)  # AuthenticatedUsers counts as public, as on AWS


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"x-amz-grant-read": 'emailAddress="nobody@example.com"'}, "UnresolvableGrantByEmailAddress"),
        ({"x-amz-grant-read": f'id="{owner_id("nobody")}"'}, "InvalidArgument"),
        ({"x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/Nobody"'}, "InvalidArgument"),
        ({"x-amz-grant-read": "name=bob"}, "InvalidArgument"),
        ({"x-amz-grant-read": 'id="x"', "x-amz-acl": "private"}, "InvalidRequest"),
    ],
    ids=["unknown-email", "unknown-id", "unknown-group", "bad-form", "canned-and-grants"],
)
async def test_bad_grants(headers: dict[str, str], code: str) -> None:
    with pytest.raises(S3Error) as info:
        await acl.resolved(acl.from_headers(headers), _directory)
    assert (info.value.code, info.value.status) == (code, 400)


def test_unknown_canned_acl() -> None:
    with pytest.raises(S3Error) as info:
        acl.from_request({"x-amz-acl": "everyone"}, b"")
    assert info.value.code == "InvalidArgument"


def test_rate_parsing() -> None:
    assert parse_rate("100/min") == Rate(100, 60.0)
    assert parse_rate("5/s") == Rate(5, 1.0)
    assert parse_rate("off") is None
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_token_bucket_bursts_then_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(Rate(3, 60.0), clock=lambda: now[0])
    assert [limiter.allow("k") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("other")  # callers are independent
    now[0] += 20.0  # a third of the period refills one token
    assert limiter.allow("k")
    assert not limiter.allow("k")
    with pytest.raises(S3Error) as info:
        limiter.check("k")
    assert (info.value.code, info.value.status) == ("SlowDown", 503)
    assert limiter.throttled == 3


def _condition_policy(condition: dict[str, Any]) -> Any:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
    return parse_policy(json.dumps({"Statement": [{**statement, "Condition": condition}]}), "b")


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, True),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, False),
        ({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1/128"]}}, {"aws:SourceIp": "127.0.0.1"}, True),
        ({"IpAddress": {"aws:SourceIp": "::1"}}, {"aws:SourceIp": "::1"}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"}, False),
        ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"}, True),
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
        ({"NumericLessThanEquals": {"s3:max-keys": 10}}, {"s3:max-keys": "11"}, False),
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {}, False),
        ({"NumericLessThanEqualsIfExists": {"s3:max-keys": "10"}}, {}, True),
        ({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}, {}, True),
        ({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}, {"s3:x-amz-acl": "public-read"}, False),
        ({"StringEquals": {"s3:x-amz-acl": "private"}}, {}, False),
        ({"StringNotEquals": {"s3:x-amz-acl": "public-read"}}, {}, True),
        (
            {"StringEqualsIgnoreCase": {"s3:x-amz-metadata-directive": "copy"}},
            {"s3:x-amz-metadata-directive": "COPY"},
            True,
        ),
        (
            {"StringEquals": {"s3:ExistingObjectTag/team": "blue"}},
            {"s3:ExistingObjectTag/team": "blue"},
            True,
        ),
        (
            {"StringLike": {"s3:x-amz-copy-source": "b/public/*"}},
            {"s3:x-amz-copy-source": "b/secret/x"},
            False,
        ),
        ({"Null": {"s3:RequestObjectTag/team": "true"}}, {}, True),
        ({"Null": {"s3:RequestObjectTag/team": "false"}}, {"s3:RequestObjectTag/team": "x"}, True),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, str], allowed: bool) -> None:
    decision = _condition_policy(condition).evaluate(None, "s3:GetObject", "b/k", context)
    assert (decision is Decision.ALLOW) is allowed


@pytest.mark.parametrize(
    "condition",
    [
        {"IpAddress": {"aws:SourceIp": "not-an-ip"}},
        {"NumericEquals": {"s3:max-keys": "many"}},
        {"Bool": {"aws:SecureTransport": "maybe"}},
        {"NullIfExists": {"s3:prefix": "true"}},
    ],
)
def test_condition_values_are_checked(condition: dict[str, Any]) -> None:
    with pytest.raises(S3Error) as info:
        _condition_policy(condition)
    assert (info.value.code, info.value.status) == ("MalformedPolicy", 400)


def test_policy_context_carries_request_headers() -> None:
    headers = {
        "x-amz-copy-source": "b/src",
        "x-amz-metadata-directive": "REPLACE",
        "x-amz-grant-read": 'uri="x"',
        "x-amz-tagging": "team=blue&x=",
    }
    context = policy_context({"max-keys": "5"}, headers, None, "127.0.0.1", False)
    assert context["s3:x-amz-copy-source"] == "b/src"
    assert context["s3:x-amz-metadata-directive"] == "REPLACE"
    assert context["s3:x-amz-grant-read"] == 'uri="x"'
    assert context["s3:RequestObjectTag/team"] == "blue" and context["s3:RequestObjectTag/x"] == ""
    assert context["s3:max-keys"] == "5" and context["aws:SourceIp"] == "127.0.0.1"
    assert context["aws:SecureTransport"] == "false"
