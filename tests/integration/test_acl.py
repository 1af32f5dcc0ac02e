"""Canned ACLs through the wire: set by CreateBucket, PutObject, CreateMultipartUpload, CopyObject,
PutBucketAcl and PutObjectAcl; read back by GetBucketAcl and GetObjectAcl in AWS's shape."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, send
from tests.support.server import RunningServer
from tests.support.users import admin_client, client_for, create_user, unique_name, user_client

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def grants(acl: dict[str, Any]) -> list[tuple[str, str]]:
    """(grantee, permission) pairs: the owner as "owner", groups by URI."""
    out = []
    for grant in acl["Grants"]:
        grantee = grant["Grantee"]
        who = "owner" if grantee["Type"] == "CanonicalUser" else grantee["URI"]
        out.append((who, grant["Permission"]))
    return sorted(out)


@pytest.fixture
def alice(server: RunningServer) -> tuple[str, Any]:
    return user_client(server)


def test_new_buckets_and_objects_are_private(alice: tuple[str, Any]) -> None:
    name, s3 = alice
    bucket = unique_name("acl")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"]["DisplayName"] == name
        assert len(acl["Owner"]["ID"]) == 64
        assert grants(acl) == [("owner", "FULL_CONTROL")]
        assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize(
    ("canned", "expected"),
    [
        ("private", []),
        ("public-read", [(ALL_USERS, "READ")]),
        ("public-read-write", [(ALL_USERS, "READ"), (ALL_USERS, "WRITE")]),
        ("authenticated-read", [(AUTHENTICATED, "READ")]),
    ],
)
def test_canned_acls_read_back(alice: tuple[str, Any], canned: str, expected: list[tuple[str, str]]) -> None:
    _, s3 = alice
    bucket = unique_name("canned")
    s3.create_bucket(Bucket=bucket, ACL=canned)
    try:
        assert grants(s3.get_bucket_acl(Bucket=bucket)) == sorted([("owner", "FULL_CONTROL"), *expected])
        s3.put_object(Bucket=bucket, Key="put", Body=b"x", ACL=canned)
        assert grants(s3.get_object_acl(Bucket=bucket, Key="put")) == sorted(
            [("owner", "FULL_CONTROL"), *expected]
        )
        s3.put_object(Bucket=bucket, Key="later", Body=b"x")
        s3.put_object_acl(Bucket=bucket, Key="later", ACL=canned)
        assert grants(s3.get_object_acl(Bucket=bucket, Key="later")) == sorted(
            [("owner", "FULL_CONTROL"), *expected]
        )
        s3.put_bucket_acl(Bucket=bucket, ACL="private")
        assert grants(s3.get_bucket_acl(Bucket=bucket)) == [("owner", "FULL_CONTROL")]
        s3.put_bucket_acl(Bucket=bucket, ACL=canned)
        assert grants(s3.get_bucket_acl(Bucket=bucket)) == sorted([("owner", "FULL_CONTROL"), *expected])
    finally:
        for key in ("put", "later"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)


def test_acl_of_multipart_and_copies(alice: tuple[str, Any]) -> None:
    _, s3 = alice
    bucket = unique_name("mpacl")
    s3.create_bucket(Bucket=bucket)
    try:
        upload = s3.create_multipart_upload(Bucket=bucket, Key="big", ACL="public-read")
        part = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="big",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        assert (ALL_USERS, "READ") in grants(s3.get_object_acl(Bucket=bucket, Key="big"))
        # A copy does not take the source's ACL: private unless the copy request names one.
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "big"})
        assert grants(s3.get_object_acl(Bucket=bucket, Key="copy")) == [("owner", "FULL_CONTROL")]
        s3.copy_object(
            Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "big"}, ACL="authenticated-read"
        )
        assert (AUTHENTICATED, "READ") in grants(s3.get_object_acl(Bucket=bucket, Key="copy2"))
        # Overwriting an object resets its ACL, as on AWS.
        s3.put_object(Bucket=bucket, Key="big", Body=b"new")
        assert grants(s3.get_object_acl(Bucket=bucket, Key="big")) == [("owner", "FULL_CONTROL")]
    finally:
        for key in ("big", "copy", "copy2"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)


def user_grants(acl: dict[str, Any]) -> list[tuple[str, str]]:
    """(grantee, permission) pairs: users by DisplayName, groups by URI."""
    return sorted(
        (g["Grantee"].get("DisplayName") or g["Grantee"]["URI"], g["Permission"]) for g in acl["Grants"]
    )


def test_grant_bodies_name_users_and_groups(server: RunningServer, alice: tuple[str, Any]) -> None:
    name, s3 = alice
    bob, bob_s3 = user_client(server)
    bucket = unique_name("grants")
    s3.create_bucket(Bucket=bucket)
    try:
        owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
        bob_id = bob_s3.list_buckets()["Owner"]["ID"]
        policy = {
            "Owner": owner,
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "CanonicalUser", "ID": bob_id}, "Permission": "READ_ACP"},
                {"Grantee": {"Type": "Group", "URI": AUTHENTICATED}, "Permission": "WRITE"},
            ],
        }
        s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)
        assert user_grants(s3.get_bucket_acl(Bucket=bucket)) == sorted(
            [(name, "FULL_CONTROL"), (bob, "READ_ACP"), (AUTHENTICATED, "WRITE")]
        )
        # READ_ACP lets bob read the ACL, not replace it nor list the bucket; the group's WRITE lets
        # him write.
        assert user_grants(bob_s3.get_bucket_acl(Bucket=bucket)) == user_grants(
            s3.get_bucket_acl(Bucket=bucket)
        )
        for call in (
            lambda: bob_s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
            lambda: bob_s3.list_objects_v2(Bucket=bucket),
        ):
            with pytest.raises(ClientError) as err:
                call()
            assert client_error(err.value) == ("AccessDenied", 403)
        bob_s3.put_object(Bucket=bucket, Key="from-bob", Body=b"b")
        unknown = {
            **policy,
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "0" * 64}, "Permission": "READ"}],
        }
        with pytest.raises(ClientError) as err:
            s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=unknown)
        assert client_error(err.value) == ("InvalidArgument", 400)
        by_mail = {
            **policy,
            "Grants": [
                {
                    "Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "nobody@example.com"},
                    "Permission": "READ",
                }
            ],
        }
        with pytest.raises(ClientError) as err:
            s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=by_mail)
        assert client_error(err.value) == ("UnresolvableGrantByEmailAddress", 400)
        reply = send(
            server,
            "PUT",
            f"/{bucket}",
            query="acl",
            body=b"<AccessControlPolicy><Owner/></AccessControlPolicy>",
        )
        assert reply.status == 400 and reply.error_code() == "MalformedACLError"
        assert (bob, "READ_ACP") in user_grants(bob_s3.get_bucket_acl(Bucket=bucket))  # nothing changed
    finally:
        s3.delete_object(Bucket=bucket, Key="from-bob")
        s3.delete_bucket(Bucket=bucket)


def test_grant_headers_on_every_write(server: RunningServer, alice: tuple[str, Any]) -> None:
    _, s3 = alice
    bob, bob_s3 = user_client(server)
    bob_id = bob_s3.list_buckets()["Owner"]["ID"]
    bucket = unique_name("grhdr")
    s3.create_bucket(Bucket=bucket, GrantRead=f'id="{bob_id}"', GrantWriteACP=f'uri="{ALL_USERS}"')
    try:
        assert user_grants(s3.get_bucket_acl(Bucket=bucket)) == sorted(
            [(bob, "READ"), (ALL_USERS, "WRITE_ACP")]
        )
        bob_s3.list_objects_v2(Bucket=bucket)  # bob's READ lists the bucket
        # Recreating a bucket one owns is BucketAlreadyOwnedByYou, and leaves its ACL as it was.
        with pytest.raises(ClientError) as err:
            s3.create_bucket(Bucket=bucket, ACL="private")
        assert client_error(err.value) == ("BucketAlreadyOwnedByYou", 409)
        assert user_grants(s3.get_bucket_acl(Bucket=bucket)) == sorted(
            [(bob, "READ"), (ALL_USERS, "WRITE_ACP")]
        )
        s3.put_bucket_acl(Bucket=bucket, ACL="private")

        s3.put_object(
            Bucket=bucket, Key="put", Body=b"x", GrantRead=f'id="{bob_id}"', GrantReadACP=f"id={bob_id}"
        )
        assert bob_s3.get_object(Bucket=bucket, Key="put")["Body"].read() == b"x"
        assert user_grants(bob_s3.get_object_acl(Bucket=bucket, Key="put")) == [
            (bob, "READ"),
            (bob, "READ_ACP"),
        ]
        with pytest.raises(ClientError) as err:
            bob_s3.put_object_acl(Bucket=bucket, Key="put", ACL="public-read")  # READ_ACP is not WRITE_ACP
        assert client_error(err.value) == ("AccessDenied", 403)

        s3.copy_object(
            Bucket=bucket,
            Key="copy",
            CopySource={"Bucket": bucket, "Key": "put"},
            GrantFullControl=f'id="{bob_id}"',
        )
        assert user_grants(s3.get_object_acl(Bucket=bucket, Key="copy")) == [(bob, "FULL_CONTROL")]
        bob_s3.put_object_acl(Bucket=bucket, Key="copy", GrantRead=f'uri="{AUTHENTICATED}"')  # FULL_CONTROL
        assert user_grants(s3.get_object_acl(Bucket=bucket, Key="copy")) == [(AUTHENTICATED, "READ")]

        upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", GrantWriteACP=f'id="{bob_id}"')
        part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        bob_s3.put_object_acl(Bucket=bucket, Key="mp", ACL="public-read")  # WRITE_ACP
        with pytest.raises(ClientError) as err:
            bob_s3.get_object_acl(Bucket=bucket, Key="mp")  # but not READ_ACP
        assert client_error(err.value) == ("AccessDenied", 403)
        assert grants(s3.get_object_acl(Bucket=bucket, Key="mp")) == sorted(
            [("owner", "FULL_CONTROL"), (ALL_USERS, "READ")]
        )

        for headers, code in (
            ({"x-amz-grant-read": 'emailAddress="nobody@example.com"'}, "UnresolvableGrantByEmailAddress"),
            ({"x-amz-grant-read": f'id="{"0" * 64}"'}, "InvalidArgument"),
            ({"x-amz-grant-read": f'id="{bob_id}"', "x-amz-acl": "private"}, "InvalidRequest"),
        ):
            reply = send(server, "PUT", f"/{bucket}/bad", headers=headers, body=b"x")
            assert (reply.status, reply.error_code()) == (400, code)
            reply = send(server, "PUT", f"/{unique_name('badgrant')}", headers=headers)
            assert (reply.status, reply.error_code()) == (400, code)
        with pytest.raises(ClientError) as err:
            s3.head_object(Bucket=bucket, Key="bad")
        assert client_error(err.value) == ("404", 404)
    finally:
        for key in ("put", "copy", "mp"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)


def test_acl_errors(server: RunningServer, alice: tuple[str, Any]) -> None:
    _, s3 = alice
    bucket = unique_name("aclerr")
    s3.create_bucket(Bucket=bucket)
    try:
        reply = send(server, "PUT", f"/{bucket}", query="acl", headers={"x-amz-acl": "world-writable"})
        assert reply.status == 400 and reply.error_code() == "InvalidArgument"
        reply = send(server, "PUT", f"/{bucket}", query="acl")
        assert reply.status == 400 and reply.error_code() == "MissingSecurityHeader"
        reply = send(server, "PUT", f"/{bucket}", query="acl", body=b"<AccessControlPolicy><oops")
        assert reply.status == 400 and reply.error_code() == "MalformedXML"
        reply = send(server, "PUT", f"/{bucket}/k", headers={"x-amz-acl": "nope"}, body=b"x")
        assert reply.status == 400 and reply.error_code() == "InvalidArgument"
        with pytest.raises(ClientError) as err:
            s3.get_object_acl(Bucket=bucket, Key="missing")
        assert client_error(err.value) == ("NoSuchKey", 404)
        with pytest.raises(ClientError) as err:
            s3.put_object_acl(Bucket=bucket, Key="missing", ACL="public-read")
        assert client_error(err.value) == ("NoSuchKey", 404)
        with pytest.raises(ClientError) as err:
            s3.get_bucket_acl(Bucket=unique_name("gone"))
        assert client_error(err.value) == ("NoSuchBucket", 404)
        reply = send(server, "PUT", f"/{unique_name('badacl')}", headers={"x-amz-acl": "everyone"})
        assert reply.status == 400 and reply.error_code() == "InvalidArgument"
    finally:
        s3.delete_bucket(Bucket=bucket)


def test_grants_by_email_address_name_the_user_with_it(server: RunningServer, alice: tuple[str, Any]) -> None:
    _, s3 = alice
    bob = unique_name("bob")
    address = f"{bob}@example.com"
    _, access_key, secret_key = create_user(server, bob, email=address)
    bob_s3 = client_for(server, access_key, secret_key)
    bucket = unique_name("bymail")
    s3.create_bucket(Bucket=bucket, GrantRead=f'emailAddress="{address.upper()}"')
    try:
        acl = s3.get_bucket_acl(Bucket=bucket)
        assert user_grants(acl) == [(bob, "READ")]
        # Stored and read back as the user's canonical id, as AWS does.
        assert acl["Grants"][0]["Grantee"]["Type"] == "CanonicalUser"
        assert acl["Grants"][0]["Grantee"]["ID"] == bob_s3.list_buckets()["Owner"]["ID"]
        bob_s3.list_objects_v2(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"v")
        policy = {
            "Owner": s3.get_object_acl(Bucket=bucket, Key="k")["Owner"],
            "Grants": [
                {"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": address}, "Permission": "READ"}
            ],
        }
        s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=policy)
        assert bob_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
        with pytest.raises(ClientError) as err:
            s3.put_object_acl(Bucket=bucket, Key="k", GrantRead='emailAddress="nobody@example.com"')
        assert client_error(err.value) == ("UnresolvableGrantByEmailAddress", 400)
        assert bob_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"  # unchanged
        # The address can be changed through the admin API; grants then follow the new one.
        answer = admin_client(server).expect("PUT", f"/_admin/users/{bob}/email", {"email": f"new-{address}"})
        assert answer["email"] == f"new-{address}"
        with pytest.raises(ClientError) as err:
            s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'emailAddress="{address}"')
        assert client_error(err.value) == ("UnresolvableGrantByEmailAddress", 400)
        s3.put_object_acl(Bucket=bucket, Key="k", GrantReadACP=f'emailAddress="new-{address}"')
        assert user_grants(bob_s3.get_object_acl(Bucket=bucket, Key="k")) == [(bob, "READ_ACP")]
    finally:
        s3.delete_object(Bucket=bucket, Key="k")
        s3.delete_bucket(Bucket=bucket)
