"""The public access block through the wire: Put/Get/DeletePublicAccessBlock, each switch enforced on
ACL and policy writes and on access, and GetBucketPolicyStatus."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, send
from tests.support.server import RunningServer
from tests.support.users import client_for, unique_name, user_client

ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def refused(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    return client_error(err.value)


def public_policy(bucket: str, **condition: Any) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def switches(**on: bool) -> dict[str, bool]:
    return {name: on.get(name, False) for name in ALL_ON}


@pytest.fixture
def owned(server: RunningServer) -> Any:
    _, s3 = user_client(server)
    bucket = unique_name("pab")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    yield bucket, s3
    for key in ("k", "new"):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


def test_public_access_block_round_trip(server: RunningServer, owned: tuple[str, Any]) -> None:
    bucket, s3 = owned
    missing = ("NoSuchPublicAccessBlockConfiguration", 404)
    assert refused(lambda: s3.get_public_access_block(Bucket=bucket)) == missing
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=switches(IgnorePublicAcls=True))
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == switches(IgnorePublicAcls=True)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=ALL_ON)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == ALL_ON
    for body in (
        b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>",
        b"<PublicAccessBlockConfiguration><Other>true</Other></PublicAccessBlockConfiguration>",
        b"<Nope/>",
    ):
        reply = send(server, "PUT", f"/{bucket}", query="publicAccessBlock", body=body)
        assert (reply.status, reply.error_code()) == (400, "MalformedXML")
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == ALL_ON
    s3.delete_public_access_block(Bucket=bucket)
    assert refused(lambda: s3.get_public_access_block(Bucket=bucket)) == missing
    _, bob_s3 = user_client(server)
    assert refused(
        lambda: bob_s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=ALL_ON)
    ) == (
        "AccessDenied",
        403,
    )


def test_block_public_acls(owned: tuple[str, Any]) -> None:
    bucket, s3 = owned
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=switches(BlockPublicAcls=True))
    denied = ("AccessDenied", 403)
    assert refused(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read")) == denied
    assert refused(lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="authenticated-read")) == denied
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"n", ACL="public-read")) == denied
    group = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'
    assert refused(lambda: s3.create_multipart_upload(Bucket=bucket, Key="new", GrantRead=group)) == denied
    assert (
        refused(
            lambda: s3.copy_object(
                Bucket=bucket, Key="new", CopySource={"Bucket": bucket, "Key": "k"}, ACL="public-read"
            )
        )
        == denied
    )
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="new")) == ("404", 404)
    s3.put_object(Bucket=bucket, Key="new", Body=b"n", ACL="private")  # a private ACL is fine


def test_ignore_public_acls(server: RunningServer, owned: tuple[str, Any]) -> None:
    bucket, s3 = owned
    anonymous = client_for(server, "unused", "unused", signature_version=UNSIGNED)
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert anonymous.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=switches(IgnorePublicAcls=True))
    assert refused(lambda: anonymous.get_object(Bucket=bucket, Key="k")) == ("AccessDenied", 403)
    s3.delete_public_access_block(Bucket=bucket)
    assert anonymous.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_block_and_restrict_public_policies(server: RunningServer, owned: tuple[str, Any]) -> None:
    bucket, s3 = owned
    anonymous = client_for(server, "unused", "unused", signature_version=UNSIGNED)
    assert refused(lambda: s3.get_bucket_policy_status(Bucket=bucket)) == ("NoSuchBucketPolicy", 404)
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    assert anonymous.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=switches(RestrictPublicBuckets=True)
    )
    assert refused(lambda: anonymous.get_object(Bucket=bucket, Key="k")) == ("AccessDenied", 403)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"  # the owner still may
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=switches(BlockPublicPolicy=True))
    assert anonymous.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"  # an existing policy stays
    assert refused(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket))) == (
        "AccessDenied",
        403,
    )
    # A statement pinned to an address range is not public, so it may be put.
    pinned = public_policy(bucket, IpAddress={"aws:SourceIp": "127.0.0.0/8"})
    s3.put_bucket_policy(Bucket=bucket, Policy=pinned)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    assert anonymous.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"  # from loopback
