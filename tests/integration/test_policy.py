"""Bucket policies through the wire: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy,
GetBucketPolicyStatus, and MalformedPolicy for documents AWS refuses. (What a policy allows and
denies is tests/integration/test_access.py's.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, send
from tests.support.server import RunningServer
from tests.support.users import unique_name, user_client


@pytest.fixture
def owned(server: RunningServer) -> Iterator[tuple[str, Any]]:
    _, s3 = user_client(server)
    bucket = unique_name("policy")
    s3.create_bucket(Bucket=bucket)
    yield bucket, s3
    s3.delete_bucket(Bucket=bucket)


def public_read(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowPublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        },
        indent=2,
    )


def test_put_get_delete(owned: tuple[str, Any]) -> None:
    bucket, s3 = owned
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket=bucket)
    assert client_error(err.value) == ("NoSuchBucketPolicy", 404)
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy_status(Bucket=bucket)
    assert client_error(err.value) == ("NoSuchBucketPolicy", 404)

    document = public_read(bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=document)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == document  # byte for byte, as sent
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {"IsPublic": True}

    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket=bucket)
    assert client_error(err.value) == ("NoSuchBucketPolicy", 404)
    s3.delete_bucket_policy(Bucket=bucket)  # deleting nothing is fine, as on AWS


def test_policy_status_of_a_restricted_policy(owned: tuple[str, Any]) -> None:
    bucket, s3 = owned
    document = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["someone"]},
                "Action": ["s3:GetObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
            },
        ]
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {"IsPublic": False}
    # As on AWS, a condition on what is asked for (not on who asks) leaves a "*" statement public.
    document["Statement"][1]["Condition"] = {"StringEquals": {"s3:prefix": "public/"}}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {"IsPublic": True}
    document["Statement"][1]["Condition"] = {"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {"IsPublic": True}


def test_policy_status_xml(server: RunningServer, owned: tuple[str, Any]) -> None:
    bucket, s3 = owned
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    reply = send(server, "GET", f"/{bucket}", query="policyStatus")
    assert reply.status == 200
    assert b"<PolicyStatus" in reply.body and b"<IsPublic>true</IsPublic>" in reply.body
    reply = send(server, "GET", f"/{bucket}", query="policy")
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "document",
    [
        "not json at all",
        "[]",
        json.dumps({"Statement": []}),
        json.dumps({"Version": "2099-01-01", "Statement": [{}]}),
        json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}),
        json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::B/*"}]}
        ),
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Resource": "arn:aws:s3:::B/*"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}),
        json.dumps(
            {
                "Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "ec2:Run", "Resource": "arn:aws:s3:::B/*"}
                ]
            }
        ),
        json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::other/*",
                    }
                ]
            }
        ),
        json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::B/*",
                        "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
                    }
                ]
            }
        ),
        json.dumps(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "x" * 30000}]}
        ),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "no-statements",
        "bad-version",
        "bad-effect",
        "no-principal",
        "no-action",
        "no-resource",
        "not-an-s3-action",
        "another-buckets-resource",
        "unsupported-condition",
        "too-large",
    ],
)
def test_malformed_policies(owned: tuple[str, Any], document: str) -> None:
    bucket, s3 = owned
    with pytest.raises(ClientError) as err:
        s3.put_bucket_policy(Bucket=bucket, Policy=document.replace(":::B/", f":::{bucket}/"))
    assert client_error(err.value) == ("MalformedPolicy", 400)
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_policy(Bucket=bucket)
    assert client_error(missing.value) == ("NoSuchBucketPolicy", 404)


def test_policy_of_a_missing_bucket(owned: tuple[str, Any]) -> None:
    _, s3 = owned
    gone = unique_name("gone")
    with pytest.raises(ClientError) as err:
        s3.put_bucket_policy(Bucket=gone, Policy=public_read(gone))
    assert client_error(err.value) == ("NoSuchBucket", 404)


def test_policy_conditions_on_the_wire(server: RunningServer, owned: tuple[str, Any]) -> None:
    """aws:SourceIp (loopback), aws:SecureTransport, s3:ExistingObjectTag, s3:RequestObjectTag,
    s3:max-keys with …IfExists, s3:x-amz-copy-source and s3:x-amz-metadata-directive, for another user."""
    bucket, s3 = owned
    _, bob_s3 = user_client(server)
    arn = f"arn:aws:s3:::{bucket}"
    statements = [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]},
                       "StringEquals": {"s3:ExistingObjectTag/share": "yes"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/tls-only/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": arn,
         "Condition": {"NumericLessThanEqualsIfExists": {"s3:max-keys": "2"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"{arn}/in/*",
         "Condition": {"StringEquals": {"s3:RequestObjectTag/team": "blue"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"{arn}/copies/*",
         "Condition": {"StringLike": {"s3:x-amz-copy-source": f"{bucket}/shared*"},
                       "StringEqualsIfExists": {"s3:x-amz-metadata-directive": "COPY"}}},
    ]  # fmt: skip
    s3.put_object(Bucket=bucket, Key="shared", Body=b"s", Tagging="share=yes")
    s3.put_object(Bucket=bucket, Key="closed", Body=b"c", Tagging="share=no")
    s3.put_object(Bucket=bucket, Key="tls-only/x", Body=b"t", Tagging="share=yes")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))

    def code(call: Any) -> tuple[str, int] | None:
        try:
            call()
        except ClientError as err:
            return client_error(err)
        return None

    denied = ("AccessDenied", 403)
    assert bob_s3.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"s"
    assert code(lambda: bob_s3.get_object(Bucket=bucket, Key="closed")) == denied
    assert code(lambda: bob_s3.get_object(Bucket=bucket, Key="tls-only/x")) == denied  # plain HTTP
    assert code(lambda: bob_s3.list_objects(Bucket=bucket, MaxKeys=2)) is None
    assert code(lambda: bob_s3.list_objects(Bucket=bucket, MaxKeys=3)) == denied
    assert code(lambda: bob_s3.put_object(Bucket=bucket, Key="in/a", Body=b"a", Tagging="team=blue")) is None
    assert code(lambda: bob_s3.put_object(Bucket=bucket, Key="in/b", Body=b"b", Tagging="team=red")) == denied
    assert code(lambda: bob_s3.put_object(Bucket=bucket, Key="in/c", Body=b"c")) == denied
    copy = {"Bucket": bucket, "Key": "shared"}
    assert code(lambda: bob_s3.copy_object(Bucket=bucket, Key="copies/1", CopySource=copy)) is None
    replace = {"MetadataDirective": "REPLACE", "Metadata": {"a": "b"}}
    assert (
        code(lambda: bob_s3.copy_object(Bucket=bucket, Key="copies/2", CopySource=copy, **replace)) == denied
    )
    other = {"Bucket": bucket, "Key": "closed"}
    assert code(lambda: bob_s3.copy_object(Bucket=bucket, Key="copies/3", CopySource=other)) == denied
    for key in ("shared", "closed", "tls-only/x", "in/a", "copies/1"):
        s3.delete_object(Bucket=bucket, Key=key)


def test_secure_transport_is_true_over_https(tls_server: RunningServer) -> None:
    """aws:SecureTransport: a Deny of plain-HTTP requests leaves HTTPS ones (here, every one) alone."""
    _, s3 = user_client(tls_server)
    _, bob_s3 = user_client(tls_server)
    bucket = unique_name("tlspolicy")
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v")
        arn = f"arn:aws:s3:::{bucket}/*"
        statements = [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": arn},
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": statements}))
        assert bob_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
        statements[1]["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": statements}))
        with pytest.raises(ClientError) as err:
            bob_s3.get_object(Bucket=bucket, Key="k")
        assert client_error(err.value) == ("AccessDenied", 403)
    finally:
        s3.delete_object(Bucket=bucket, Key="k")
        s3.delete_bucket(Bucket=bucket)
