"""Object Ownership through the wire: Put/Get/DeleteBucketOwnershipControls, CreateBucket's
x-amz-object-ownership, and what BucketOwnerEnforced and BucketOwnerPreferred do to ACLs and owners."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, send
from tests.support.server import RunningServer
from tests.support.users import unique_name, user_client

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def controls(value: str) -> dict[str, Any]:
    return {"Rules": [{"ObjectOwnership": value}]}


def refused(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    return client_error(err.value)


def test_ownership_controls_round_trip(server: RunningServer) -> None:
    _, s3 = user_client(server)
    bucket = unique_name("own")
    s3.create_bucket(Bucket=bucket)
    try:
        assert refused(lambda: s3.get_bucket_ownership_controls(Bucket=bucket)) == (
            "OwnershipControlsNotFoundError",
            404,
        )
        for value in ("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"):
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=controls(value))
            got = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
            assert got == controls(value)
        s3.delete_bucket_ownership_controls(Bucket=bucket)
        assert (
            refused(lambda: s3.get_bucket_ownership_controls(Bucket=bucket))[0]
            == "OwnershipControlsNotFoundError"
        )
        for body in (
            b"<OwnershipControls><Rule><ObjectOwnership>Everyone</ObjectOwnership></Rule></OwnershipControls>",
            b"<OwnershipControls></OwnershipControls>",
            b"<Other/>",
        ):
            reply = send(server, "PUT", f"/{bucket}", query="ownershipControls", body=body)
            assert (reply.status, reply.error_code()) == (400, "MalformedXML")
        assert (
            refused(lambda: s3.get_bucket_ownership_controls(Bucket=bucket))[0]
            == "OwnershipControlsNotFoundError"
        )
        # Disabling ACLs while the bucket's ACL grants to others is refused, as on AWS.
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
        assert refused(
            lambda: s3.put_bucket_ownership_controls(
                Bucket=bucket, OwnershipControls=controls("BucketOwnerEnforced")
            )
        ) == ("InvalidBucketAclWithObjectOwnership", 400)
        assert (
            refused(lambda: s3.get_bucket_ownership_controls(Bucket=unique_name("none")))[0] == "NoSuchBucket"
        )
    finally:
        s3.delete_bucket(Bucket=bucket)


def test_bucket_owner_enforced_disables_acls(server: RunningServer) -> None:
    owner, s3 = user_client(server)
    _, bob_s3 = user_client(server)
    bucket = unique_name("enforced")
    s3.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerEnforced")
    try:
        assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"] == controls(
            "BucketOwnerEnforced"
        )
        unsupported = ("AccessControlListNotSupported", 400)
        assert refused(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read")) == unsupported
        assert (
            refused(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read"))
            == unsupported
        )
        assert (
            refused(
                lambda: s3.create_multipart_upload(Bucket=bucket, Key="m", GrantRead=f'uri="{ALL_USERS}"')
            )
            == unsupported
        )
        # The bucket owner's full control, in any of its forms, is still accepted.
        s3.put_bucket_acl(Bucket=bucket, ACL="private")
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
        s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
        assert (
            refused(
                lambda: s3.copy_object(
                    Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"}, ACL="public-read"
                )
            )
            == unsupported
        )
        acl = s3.get_object_acl(Bucket=bucket, Key="k")
        assert acl["Owner"]["DisplayName"] == owner
        assert [(g["Grantee"]["Type"], g["Permission"]) for g in acl["Grants"]] == [
            ("CanonicalUser", "FULL_CONTROL")
        ]
        # A bucket created with ACLs disabled refuses a public canned ACL from the start.
        assert refused(
            lambda: s3.create_bucket(
                Bucket=unique_name("e2"), ACL="public-read", ObjectOwnership="BucketOwnerEnforced"
            )
        ) == ("InvalidBucketAclWithObjectOwnership", 400)
        reply = send(server, "PUT", f"/{unique_name('e3')}", headers={"x-amz-object-ownership": "Nobody"})
        assert (reply.status, reply.error_code()) == (400, "InvalidArgument")
        # ACLs stop granting: a public-read-write bucket switched to enforced admits no one else.
        s3.delete_bucket_ownership_controls(Bucket=bucket)
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
        assert bob_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
        s3.put_bucket_acl(Bucket=bucket, ACL="private")
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=controls("BucketOwnerEnforced"))
        assert refused(lambda: bob_s3.get_object(Bucket=bucket, Key="k")) == ("AccessDenied", 403)
    finally:
        for key in ("k", "plain"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)


def test_bucket_owner_preferred_takes_objects_written_with_full_control(server: RunningServer) -> None:
    owner, s3 = user_client(server)
    bob, bob_s3 = user_client(server)
    bucket = unique_name("preferred")
    s3.create_bucket(Bucket=bucket, ACL="public-read-write")
    try:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=controls("BucketOwnerPreferred"))
        bob_s3.put_object(Bucket=bucket, Key="given", Body=b"g", ACL="bucket-owner-full-control")
        bob_s3.put_object(Bucket=bucket, Key="kept", Body=b"k")
        assert s3.get_object_acl(Bucket=bucket, Key="given")["Owner"]["DisplayName"] == owner
        assert s3.get_object_acl(Bucket=bucket, Key="kept")["Owner"]["DisplayName"] == bob
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=controls("ObjectWriter"))
        bob_s3.put_object(Bucket=bucket, Key="given", Body=b"g", ACL="bucket-owner-full-control")
        assert s3.get_object_acl(Bucket=bucket, Key="given")["Owner"]["DisplayName"] == bob
    finally:
        for key in ("given", "kept"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)
