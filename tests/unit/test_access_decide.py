"""The access decision (owner / admin / policy Deny / policy Allow / ACL / object), CORS rules and the
bucket configuration cache, decided without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from s3server.access import cors
from s3server.access.configs import BucketConfigs, config_of
from s3server.access.decide import Authorizer, Outcome, decide, policy_context
from s3server.identity.model import Credential
from s3server.metadata.base import Bucket, ObjectRecord
from s3server.s3.errors import S3Error

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = Credential("AKALICE", "secret-alice", "alice")
BOB = Credential("AKBOB", "secret-bob", "bob")
ADMIN = Credential("AKADMIN", "secret-admin", "ops", is_admin=True)
DENY_SECRET = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": "arn:aws:s3:::photos/secret/*",
}
ALLOW_BOB_UPLOADS = {
    "Effect": "Allow",
    "Principal": {"AWS": "bob"},
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::photos/uploads/*",
}


def bucket_config(acl: str = "private", *statements: dict[str, Any]) -> Any:
    policy = json.dumps({"Statement": list(statements)}) if statements else None
    return config_of(Bucket("photos", "alice", "us-east-1", NOW, acl=acl, policy=policy))


def record(acl: str = "private", owner: str = "alice") -> ObjectRecord:
    return ObjectRecord("photos", "k", 1, "e", NOW, [], owner=owner, acl=acl)


@pytest.mark.parametrize(
    ("principal", "permission", "config", "key", "expected"),
    [
        (ALICE, "s3:GetObject", bucket_config(), "k", Outcome.ALLOW),
        (ALICE, "s3:PutBucketPolicy", bucket_config("private", DENY_SECRET), None, Outcome.ALLOW),
        (ALICE, "s3:GetObject", bucket_config("private", DENY_SECRET), "secret/x", Outcome.ALLOW),
        (ADMIN, "s3:DeleteBucket", bucket_config(), None, Outcome.ALLOW),
        (BOB, "s3:ListBucket", bucket_config(), None, Outcome.DENY),
        (BOB, "s3:GetObject", bucket_config(), "k", Outcome.CHECK_OBJECT),
        (None, "s3:GetObject", bucket_config(), "k", Outcome.CHECK_OBJECT),
        (BOB, "s3:PutObject", bucket_config(), "k", Outcome.DENY),
        (BOB, "s3:PutObject", bucket_config("private", ALLOW_BOB_UPLOADS), "uploads/a", Outcome.ALLOW),
        (BOB, "s3:PutObject", bucket_config("private", ALLOW_BOB_UPLOADS), "elsewhere", Outcome.DENY),
        (None, "s3:ListBucket", bucket_config("public-read"), None, Outcome.ALLOW),
        (None, "s3:PutObject", bucket_config("public-read"), "k", Outcome.DENY),
        (None, "s3:PutObject", bucket_config("public-read-write"), "k", Outcome.ALLOW),
        (None, "s3:DeleteObject", bucket_config("public-read-write"), "k", Outcome.ALLOW),
        (None, "s3:ListBucket", bucket_config("authenticated-read"), None, Outcome.DENY),
        (BOB, "s3:ListBucket", bucket_config("authenticated-read"), None, Outcome.ALLOW),
        (None, "s3:GetObject", bucket_config("public-read", DENY_SECRET), "secret/x", Outcome.DENY),
        (None, "s3:GetBucketAcl", bucket_config("public-read"), None, Outcome.DENY),
        (None, "s3:GetObject", None, "k", Outcome.ALLOW),  # no bucket: the handler says NoSuchBucket
    ],
    ids=[
        "owner",
        "owner-despite-deny-policy-management",
        "owner-despite-deny",
        "admin",
        "other-user-list",
        "other-user-read-asks-object",
        "anonymous-read-asks-object",
        "other-user-write",
        "policy-allows-prefix",
        "policy-other-prefix",
        "public-read-lists",
        "public-read-no-write",
        "public-read-write-writes",
        "public-read-write-deletes",
        "authenticated-read-anonymous",
        "authenticated-read-user",
        "deny-beats-acl",
        "acl-never-grants-acp",
        "missing-bucket",
    ],
)
def test_bucket_level(
    principal: Credential | None, permission: str, config: Any, key: str | None, expected: Outcome
) -> None:
    assert decide(principal, permission, config, key) is expected


@pytest.mark.parametrize(
    ("principal", "permission", "obj", "expected"),
    [
        (None, "s3:GetObject", record("public-read"), Outcome.ALLOW),
        (None, "s3:GetObjectAttributes", record("public-read"), Outcome.ALLOW),
        (None, "s3:GetObject", record("private"), Outcome.DENY),
        (None, "s3:GetObject", None, Outcome.DENY),  # 403, not 404: no listing right
        (None, "s3:GetObjectAcl", record("public-read"), Outcome.DENY),
        (BOB, "s3:GetObject", record("authenticated-read"), Outcome.ALLOW),
        (None, "s3:GetObject", record("authenticated-read"), Outcome.DENY),
        (BOB, "s3:PutObjectAcl", record("private", owner="bob"), Outcome.ALLOW),  # the uploader
        (BOB, "s3:GetObject", record("private", owner="bob"), Outcome.ALLOW),
        (BOB, "s3:PutObjectAcl", record("public-read"), Outcome.DENY),
    ],
    ids=[
        "public-object",
        "public-attributes",
        "private-object",
        "missing-object",
        "public-object-not-its-acl",
        "authenticated-object-user",
        "authenticated-object-anonymous",
        "uploader-acl",
        "uploader-read",
        "reader-cannot-change-acl",
    ],
)
def test_object_level(
    principal: Credential | None, permission: str, obj: ObjectRecord | None, expected: Outcome
) -> None:
    assert decide(principal, permission, bucket_config(), "k", obj=obj, object_checked=True) is expected


def test_policy_context_is_built_only_when_a_policy_asks() -> None:
    calls = []

    def context() -> dict[str, str]:
        calls.append(1)
        return {"s3:prefix": "home/"}

    decide(BOB, "s3:ListBucket", bucket_config(), None, context)
    decide(ALICE, "s3:ListBucket", bucket_config("private", DENY_SECRET), None, context)
    assert calls == []
    decide(BOB, "s3:ListBucket", bucket_config("private", DENY_SECRET), None, context)
    assert calls == [1]
    built = policy_context(
        {"prefix": "a/", "delimiter": "/"}, {"x-amz-acl": "private"}, BOB, "10.0.0.1", True
    )
    assert built == {
        "s3:prefix": "a/",
        "s3:delimiter": "/",
        "s3:x-amz-acl": "private",
        "aws:username": "bob",
        "aws:SourceIp": "10.0.0.1",
        "aws:SecureTransport": "true",
    }


class FakeMeta:
    """The two reads the cache and the authorizer make, counted."""

    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}
        self.objects: dict[tuple[str, str], ObjectRecord] = {}
        self.bucket_reads = 0
        self.object_reads = 0

    async def get_bucket(self, name: str) -> Bucket | None:
        self.bucket_reads += 1
        return self.buckets.get(name)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        self.object_reads += 1
        return self.objects.get((bucket, key))


async def test_configs_read_the_row_every_time_and_reuse_the_parse() -> None:
    meta = FakeMeta()
    configs = BucketConfigs(meta)  # type: ignore[arg-type]
    assert await configs.get("photos") is None
    policy = json.dumps({"Statement": [DENY_SECRET]})
    meta.buckets["photos"] = Bucket("photos", "alice", "us-east-1", NOW, policy=policy)
    first = await configs.get("photos")
    assert first is not None and first.owner == "alice" and first.policy is not None
    assert await configs.get("photos") is first  # the same row: the parse is reused
    assert meta.bucket_reads == 3  # but the row is read on every call
    # A change made by anyone (another worker, another gateway) governs the very next call.
    meta.buckets["photos"] = Bucket("photos", "alice", "us-east-1", NOW)
    changed = await configs.get("photos")
    assert changed is not None and changed.policy is None
    del meta.buckets["photos"]
    assert await configs.get("photos") is None


async def test_authorizer_reads_the_object_only_when_needed() -> None:
    meta = FakeMeta()
    meta.buckets["photos"] = Bucket("photos", "alice", "us-east-1", NOW)
    meta.objects[("photos", "open")] = record("public-read")
    authorizer = Authorizer(BucketConfigs(meta), meta)  # type: ignore[arg-type]
    await authorizer.check(ALICE, "s3:GetObject", "photos", "open")
    assert meta.object_reads == 0
    await authorizer.check(None, "s3:GetObject", "photos", "open")
    assert meta.object_reads == 1
    with pytest.raises(S3Error) as err:
        await authorizer.check(None, "s3:GetObject", "photos", "closed")
    assert (err.value.code, err.value.status) == ("AccessDenied", 403)
    with pytest.raises(S3Error):
        await authorizer.check(BOB, "s3:ListBucket", "photos", None)
    assert meta.object_reads == 2


# -- CORS rules


RULES_XML = b"""<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <CORSRule>
    <ID>app</ID>
    <AllowedOrigin>https://*.example.com</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>x-amz-*</AllowedHeader>
    <AllowedHeader>Content-Type</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>300</MaxAgeSeconds>
  </CORSRule>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>HEAD</AllowedMethod>
  </CORSRule>
</CORSConfiguration>"""


def test_cors_rules_round_trip() -> None:
    rules = cors.parse_xml(RULES_XML)
    assert rules[0] == cors.CorsRule(
        allowed_origins=("https://*.example.com",),
        allowed_methods=("GET", "PUT"),
        allowed_headers=("x-amz-*", "Content-Type"),
        expose_headers=("ETag",),
        max_age=300,
        rule_id="app",
    )
    assert cors.loads(cors.dumps(rules)) == rules
    assert cors.parse_xml(cors.render_xml(rules)) == rules


@pytest.mark.parametrize(
    ("origin", "method", "headers", "rule"),
    [
        ("https://app.example.com", "PUT", ["X-Amz-Date", "content-type"], 0),
        ("https://app.example.com", "GET", [], 0),
        ("https://example.com", "GET", [], None),  # the wildcard needs its "." before it
        ("https://app.example.com", "DELETE", [], None),
        ("https://app.example.com", "PUT", ["authorization"], None),
        ("http://anything.test", "HEAD", [], 1),
        ("http://anything.test", "HEAD", ["x-custom"], None),
    ],
)
def test_cors_matching(origin: str, method: str, headers: list[str], rule: int | None) -> None:
    rules = cors.parse_xml(RULES_XML)
    found = cors.match(rules, origin, method, headers)
    assert found == (rules[rule] if rule is not None else None)


def test_cors_response_headers() -> None:
    rules = cors.parse_xml(RULES_XML)
    assert cors.response_headers(
        rules[0], "https://a.example.com", preflight=True, headers=["X-Amz-Date"]
    ) == {
        "Access-Control-Allow-Origin": "https://a.example.com",
        "Access-Control-Allow-Methods": "GET, PUT",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Headers": "x-amz-date",
        "Access-Control-Expose-Headers": "ETag",
        "Access-Control-Max-Age": "300",
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    actual = cors.response_headers(rules[1], "http://x.test", preflight=False)
    assert actual["Access-Control-Allow-Origin"] == "*" and "Access-Control-Allow-Credentials" not in actual


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<Nope/>", "MalformedXML"),
        (b"<CORSConfiguration/>", "MalformedXML"),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
            "MalformedXML",
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>"
            b"</CORSRule></CORSConfiguration>",
            "InvalidRequest",
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            b"<AllowedHeader>a*b*</AllowedHeader></CORSRule></CORSConfiguration>",
            "InvalidRequest",
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            b"<ExposeHeader>*</ExposeHeader></CORSRule></CORSConfiguration>",
            "InvalidRequest",
        ),
    ],
    ids=["root", "no-rules", "no-method", "lower-case-method", "two-wildcards", "expose-wildcard"],
)
def test_cors_validation(body: bytes, code: str) -> None:
    with pytest.raises(S3Error) as err:
        cors.parse_xml(body)
    assert err.value.code == code
