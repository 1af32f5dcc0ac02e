"""Every access decision against a live server (both metadata backends): the bucket's owner, another
user, admins, anonymous callers with and without a policy or an ACL, presigned URLs, and the second
resource some operations touch (a copy's source, each key of DeleteObjects)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, fetch_url, object_path, send
from tests.support.server import RunningServer
from tests.support.users import admin_client, client_for, create_user, unique_name, user_client


@pytest.fixture
def alice(server: RunningServer) -> tuple[str, Any]:
    return user_client(server)


@pytest.fixture
def bob(server: RunningServer) -> tuple[str, Any]:
    return user_client(server)


@pytest.fixture
def anonymous(server: RunningServer) -> Any:
    return client_for(server, "unused", "unused", signature_version=UNSIGNED)


@pytest.fixture
def owned(server: RunningServer, alice: tuple[str, Any]) -> Iterator[str]:
    """A bucket of alice's holding `doc.txt` (private) and `dir/a.txt`."""
    _, s3 = alice
    name = unique_name("owned")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="doc.txt", Body=b"alice's words")
    s3.put_object(Bucket=name, Key="dir/a.txt", Body=b"a")
    yield name
    root = client_for(server, server.access_key, server.secret_key)
    for obj in root.list_objects_v2(Bucket=name).get("Contents", []):
        root.delete_object(Bucket=name, Key=obj["Key"])
    root.delete_bucket(Bucket=name)


def denied(call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as err:
        call(*args, **kwargs)
    code, status = client_error(err.value)
    assert status == 403, (code, status)
    assert code in ("AccessDenied", "403"), code  # HEAD answers carry no body, so no code


# -- owners and other users


def test_owner_does_everything(alice: tuple[str, Any], owned: str) -> None:
    _, s3 = alice
    assert s3.get_object(Bucket=owned, Key="doc.txt")["Body"].read() == b"alice's words"
    s3.head_bucket(Bucket=owned)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=owned)["Contents"]]
    assert keys == ["dir/a.txt", "doc.txt"]
    s3.put_object(Bucket=owned, Key="new", Body=b"x")
    s3.copy_object(Bucket=owned, Key="copy", CopySource={"Bucket": owned, "Key": "new"})
    s3.put_object_tagging(Bucket=owned, Key="new", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    s3.get_bucket_acl(Bucket=owned)
    s3.delete_object(Bucket=owned, Key="new")
    s3.delete_object(Bucket=owned, Key="copy")


def test_another_users_bucket_and_objects_are_denied(bob: tuple[str, Any], owned: str) -> None:
    _, s3 = bob
    denied(s3.get_object, Bucket=owned, Key="doc.txt")
    denied(s3.head_object, Bucket=owned, Key="doc.txt")
    denied(s3.get_object, Bucket=owned, Key="no-such-key")  # 403, not 404: no listing right
    denied(s3.put_object, Bucket=owned, Key="intruder", Body=b"x")
    denied(s3.delete_object, Bucket=owned, Key="doc.txt")
    denied(s3.list_objects_v2, Bucket=owned)
    denied(s3.list_objects, Bucket=owned)
    denied(s3.head_bucket, Bucket=owned)
    denied(s3.get_bucket_acl, Bucket=owned)
    denied(s3.get_object_acl, Bucket=owned, Key="doc.txt")
    denied(s3.put_bucket_acl, Bucket=owned, ACL="public-read")
    denied(s3.get_object_tagging, Bucket=owned, Key="doc.txt")
    denied(s3.delete_bucket, Bucket=owned)
    denied(s3.create_multipart_upload, Bucket=owned, Key="big")
    denied(s3.put_bucket_policy, Bucket=owned, Policy=json.dumps({"Statement": []}))


def test_creating_a_taken_bucket_name(bob: tuple[str, Any], owned: str) -> None:
    _, s3 = bob
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=owned)
    assert client_error(err.value) == ("BucketAlreadyExists", 409)


def test_list_buckets_shows_the_callers_own(
    server: RunningServer, alice: tuple[str, Any], bob: tuple[str, Any], owned: str
) -> None:
    _, alice_s3 = alice
    bob_name, bob_s3 = bob
    bobs = unique_name("bobs")
    bob_s3.create_bucket(Bucket=bobs)
    try:
        assert [b["Name"] for b in bob_s3.list_buckets()["Buckets"]] == [bobs]
        assert bob_s3.list_buckets()["Owner"]["DisplayName"] == bob_name
        assert [b["Name"] for b in alice_s3.list_buckets()["Buckets"]] == [owned]
        everything = {
            b["Name"]
            for b in client_for(server, server.access_key, server.secret_key).list_buckets()["Buckets"]
        }
        assert {owned, bobs} <= everything  # root sees every bucket
    finally:
        bob_s3.delete_bucket(Bucket=bobs)


def test_root_sees_and_changes_everything(server: RunningServer, owned: str) -> None:
    root = client_for(server, server.access_key, server.secret_key)
    assert root.get_object(Bucket=owned, Key="doc.txt")["Body"].read() == b"alice's words"
    root.put_object(Bucket=owned, Key="from-root", Body=b"r")
    root.delete_object(Bucket=owned, Key="from-root")


def test_an_admin_user_is_like_root(server: RunningServer, owned: str) -> None:
    _, access_key, secret_key = create_user(server, admin=True)
    admin = client_for(server, access_key, secret_key)
    assert admin.get_object(Bucket=owned, Key="doc.txt")["Body"].read() == b"alice's words"
    assert owned in {b["Name"] for b in admin.list_buckets()["Buckets"]}


def test_a_deactivated_key_cannot_sign(server: RunningServer) -> None:
    _, access_key, secret_key = create_user(server)
    s3 = client_for(server, access_key, secret_key)
    s3.list_buckets()
    admin_client(server).expect("POST", f"/_admin/keys/{access_key}/deactivate")
    with pytest.raises(ClientError) as err:
        s3.list_buckets()
    assert client_error(err.value) == ("InvalidAccessKeyId", 403)
    admin_client(server).expect("POST", f"/_admin/keys/{access_key}/activate")
    s3.list_buckets()


# -- anonymous callers


def test_anonymous_is_denied_without_a_grant(anonymous: Any, owned: str) -> None:
    denied(anonymous.get_object, Bucket=owned, Key="doc.txt")
    denied(anonymous.list_objects_v2, Bucket=owned)
    denied(anonymous.put_object, Bucket=owned, Key="anon", Body=b"x")
    denied(anonymous.list_buckets)
    denied(anonymous.create_bucket, Bucket=unique_name("anon"))


def test_anonymous_to_a_missing_bucket_is_no_such_bucket(anonymous: Any) -> None:
    with pytest.raises(ClientError) as err:
        anonymous.get_object(Bucket=unique_name("missing"), Key="k")
    assert client_error(err.value) == ("NoSuchBucket", 404)


def test_public_read_object_acl(
    alice: tuple[str, Any], anonymous: Any, bob: tuple[str, Any], owned: str
) -> None:
    _, s3 = alice
    s3.put_object(Bucket=owned, Key="shared.txt", Body=b"for everyone", ACL="public-read")
    assert anonymous.get_object(Bucket=owned, Key="shared.txt")["Body"].read() == b"for everyone"
    assert anonymous.head_object(Bucket=owned, Key="shared.txt")["ContentLength"] == 12
    assert bob[1].get_object(Bucket=owned, Key="shared.txt")["Body"].read() == b"for everyone"
    # The object's ACL opens that object only: not the listing, not its neighbours, not writes.
    denied(anonymous.get_object, Bucket=owned, Key="doc.txt")
    denied(anonymous.list_objects_v2, Bucket=owned)
    denied(anonymous.put_object, Bucket=owned, Key="shared.txt", Body=b"defaced")
    denied(anonymous.get_object_acl, Bucket=owned, Key="shared.txt")
    s3.put_object_acl(Bucket=owned, Key="shared.txt", ACL="private")
    denied(anonymous.get_object, Bucket=owned, Key="shared.txt")


def test_public_read_bucket_acl_lists_but_does_not_read(
    alice: tuple[str, Any], anonymous: Any, owned: str
) -> None:
    _, s3 = alice
    s3.put_bucket_acl(Bucket=owned, ACL="public-read")
    keys = [o["Key"] for o in anonymous.list_objects_v2(Bucket=owned)["Contents"]]
    assert keys == ["dir/a.txt", "doc.txt"]
    anonymous.head_bucket(Bucket=owned)
    denied(anonymous.get_object, Bucket=owned, Key="doc.txt")  # objects keep their own (private) ACL
    denied(anonymous.put_object, Bucket=owned, Key="x", Body=b"x")
    s3.put_bucket_acl(Bucket=owned, ACL="private")
    denied(anonymous.list_objects_v2, Bucket=owned)


def test_public_read_write_bucket_acl(
    alice: tuple[str, Any], anonymous: Any, bob: tuple[str, Any], owned: str
) -> None:
    _, s3 = alice
    s3.put_bucket_acl(Bucket=owned, ACL="public-read-write")
    anonymous.put_object(Bucket=owned, Key="dropbox/anon", Body=b"from nobody")
    bob_s3 = bob[1]
    bob_s3.put_object(Bucket=owned, Key="dropbox/bob", Body=b"from bob")
    # An uploader has full control of what they uploaded; the bucket's owner owns it all.
    assert bob_s3.get_object(Bucket=owned, Key="dropbox/bob")["Body"].read() == b"from bob"
    bob_s3.put_object_acl(Bucket=owned, Key="dropbox/bob", ACL="public-read")
    assert anonymous.get_object(Bucket=owned, Key="dropbox/bob")["Body"].read() == b"from bob"
    denied(anonymous.get_object, Bucket=owned, Key="dropbox/anon")
    assert s3.get_object(Bucket=owned, Key="dropbox/anon")["Body"].read() == b"from nobody"
    denied(bob_s3.get_object, Bucket=owned, Key="doc.txt")
    denied(bob_s3.put_bucket_acl, Bucket=owned, ACL="private")
    anonymous.delete_object(Bucket=owned, Key="dropbox/anon")  # WRITE includes deleting
    s3.put_bucket_acl(Bucket=owned, ACL="private")
    denied(anonymous.put_object, Bucket=owned, Key="dropbox/late", Body=b"x")


def test_authenticated_read(alice: tuple[str, Any], anonymous: Any, bob: tuple[str, Any], owned: str) -> None:
    _, s3 = alice
    s3.put_object(Bucket=owned, Key="members.txt", Body=b"members only", ACL="authenticated-read")
    assert bob[1].get_object(Bucket=owned, Key="members.txt")["Body"].read() == b"members only"
    denied(anonymous.get_object, Bucket=owned, Key="members.txt")


def test_public_read_policy(alice: tuple[str, Any], anonymous: Any, owned: str) -> None:
    _, s3 = alice
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{owned}/*"],
            }
        ],
    }
    s3.put_bucket_policy(Bucket=owned, Policy=json.dumps(policy))
    assert anonymous.get_object(Bucket=owned, Key="doc.txt")["Body"].read() == b"alice's words"
    assert anonymous.get_object(Bucket=owned, Key="dir/a.txt")["Body"].read() == b"a"
    denied(anonymous.list_objects_v2, Bucket=owned)
    denied(anonymous.put_object, Bucket=owned, Key="doc.txt", Body=b"x")
    s3.delete_bucket_policy(Bucket=owned)
    denied(anonymous.get_object, Bucket=owned, Key="doc.txt")


def test_policy_deny_beats_an_acl(alice: tuple[str, Any], anonymous: Any, owned: str) -> None:
    _, s3 = alice
    s3.put_object(Bucket=owned, Key="secret/plan", Body=b"p", ACL="public-read")
    s3.put_object(Bucket=owned, Key="open/readme", Body=b"r", ACL="public-read")
    policy = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": f"arn:aws:s3:::{owned}/secret/*",
            }
        ]
    }
    s3.put_bucket_policy(Bucket=owned, Policy=json.dumps(policy))
    denied(anonymous.get_object, Bucket=owned, Key="secret/plan")
    assert anonymous.get_object(Bucket=owned, Key="open/readme")["Body"].read() == b"r"
    assert s3.get_object(Bucket=owned, Key="secret/plan")["Body"].read() == b"p"  # never its owner


def test_per_user_prefix_policy(server: RunningServer, alice: tuple[str, Any], owned: str) -> None:
    _, s3 = alice
    carol, access_key, secret_key = create_user(server)
    carol_s3 = client_for(server, access_key, secret_key)
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::000000000000:user/{carol}"]},
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{owned}/home/{carol}/*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": carol},
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{owned}",
                "Condition": {"StringLike": {"s3:prefix": [f"home/{carol}/*"]}},
            },
        ]
    }
    s3.put_bucket_policy(Bucket=owned, Policy=json.dumps(policy))
    carol_s3.put_object(Bucket=owned, Key=f"home/{carol}/notes", Body=b"mine")
    assert carol_s3.get_object(Bucket=owned, Key=f"home/{carol}/notes")["Body"].read() == b"mine"
    listed = carol_s3.list_objects_v2(Bucket=owned, Prefix=f"home/{carol}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"home/{carol}/notes"]
    denied(carol_s3.list_objects_v2, Bucket=owned)
    denied(carol_s3.list_objects_v2, Bucket=owned, Prefix="home/")
    denied(carol_s3.get_object, Bucket=owned, Key="doc.txt")
    denied(carol_s3.put_object, Bucket=owned, Key="home/someone-else/x", Body=b"x")
    # DeleteObjects is decided key by key, as on AWS.
    carol_s3.put_object(Bucket=owned, Key=f"home/{carol}/old", Body=b"o")
    result = carol_s3.delete_objects(
        Bucket=owned, Delete={"Objects": [{"Key": f"home/{carol}/old"}, {"Key": "doc.txt"}]}
    )
    assert [d["Key"] for d in result["Deleted"]] == [f"home/{carol}/old"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("doc.txt", "AccessDenied")]
    assert s3.get_object(Bucket=owned, Key="doc.txt")["Body"].read() == b"alice's words"


# -- presigned URLs and second resources


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"], ids=["sigv2-query", "sigv4-query"])
def test_presigned_urls_carry_the_signers_identity(
    server: RunningServer, signature_version: str, owned: str, alice: tuple[str, Any]
) -> None:
    """A presigned URL acts as the user who made it: an owner's works, a stranger's is refused.
    ("s3" is boto3's default for presigned URLs: SigV2 query parameters.)"""
    _, alice_s3 = alice
    owner_keys = admin_client(server).expect("GET", f"/_admin/users/{alice[0]}")["access_keys"]
    assert owner_keys  # alice's key id is known; her secret only to her client
    _, stranger_key, stranger_secret = create_user(server)
    stranger = client_for(server, stranger_key, stranger_secret, signature_version=signature_version)
    owner = client_for(server, *_keys_of(alice_s3), signature_version=signature_version)

    mine = owner.generate_presigned_url(
        "get_object", Params={"Bucket": owned, "Key": "doc.txt"}, ExpiresIn=300
    )
    reply = fetch_url(mine)
    assert reply.status == 200 and reply.body == b"alice's words"

    theirs = stranger.generate_presigned_url(
        "get_object", Params={"Bucket": owned, "Key": "doc.txt"}, ExpiresIn=300
    )
    reply = fetch_url(theirs)
    assert reply.status == 403 and reply.error_code() == "AccessDenied", reply.body
    put_url = stranger.generate_presigned_url(
        "put_object", Params={"Bucket": owned, "Key": "doc.txt"}, ExpiresIn=300
    )
    assert fetch_url(put_url, "PUT", b"overwritten").status == 403
    assert alice_s3.get_object(Bucket=owned, Key="doc.txt")["Body"].read() == b"alice's words"

    # The same stranger's URL works once the object is theirs to read.
    alice_s3.put_object_acl(Bucket=owned, Key="doc.txt", ACL="authenticated-read")
    assert fetch_url(theirs).status == 200


def _keys_of(client: Any) -> tuple[str, str]:
    credentials = client._get_credentials()
    return credentials.access_key, credentials.secret_key


def test_copy_needs_read_access_to_the_source(
    alice: tuple[str, Any], bob: tuple[str, Any], owned: str
) -> None:
    _, alice_s3 = alice
    _, bob_s3 = bob
    mine = unique_name("bobcopy")
    bob_s3.create_bucket(Bucket=mine)
    try:
        with pytest.raises(ClientError) as err:
            bob_s3.copy_object(Bucket=mine, Key="stolen", CopySource={"Bucket": owned, "Key": "doc.txt"})
        assert client_error(err.value) == ("AccessDenied", 403)
        upload = bob_s3.create_multipart_upload(Bucket=mine, Key="parts")
        with pytest.raises(ClientError) as err:
            bob_s3.upload_part_copy(
                Bucket=mine,
                Key="parts",
                UploadId=upload["UploadId"],
                PartNumber=1,
                CopySource={"Bucket": owned, "Key": "doc.txt"},
            )
        assert client_error(err.value) == ("AccessDenied", 403)
        bob_s3.abort_multipart_upload(Bucket=mine, Key="parts", UploadId=upload["UploadId"])
        # Once the object is readable by everyone, copying it is fine.
        alice_s3.put_object_acl(Bucket=owned, Key="doc.txt", ACL="public-read")
        bob_s3.copy_object(Bucket=mine, Key="copied", CopySource={"Bucket": owned, "Key": "doc.txt"})
        assert bob_s3.get_object(Bucket=mine, Key="copied")["Body"].read() == b"alice's words"
        bob_s3.delete_object(Bucket=mine, Key="copied")
    finally:
        bob_s3.delete_bucket(Bucket=mine)


def test_delete_objects_in_another_users_bucket(
    bob: tuple[str, Any], owned: str, alice: tuple[str, Any]
) -> None:
    _, bob_s3 = bob
    result = bob_s3.delete_objects(
        Bucket=owned, Delete={"Objects": [{"Key": "doc.txt"}, {"Key": "dir/a.txt"}]}
    )
    assert sorted((e["Key"], e["Code"]) for e in result["Errors"]) == [
        ("dir/a.txt", "AccessDenied"),
        ("doc.txt", "AccessDenied"),
    ]
    assert len(alice[1].list_objects_v2(Bucket=owned)["Contents"]) == 2


def test_anonymous_raw_requests(server: RunningServer, alice: tuple[str, Any], owned: str) -> None:
    """Without any client library: an unsigned GET and HEAD of private and public objects."""
    _, s3 = alice
    reply = send(server, "GET", object_path(owned, "doc.txt"), auth="none")
    assert reply.status == 403 and reply.error_code() == "AccessDenied"
    assert reply.headers["x-amz-request-id"]
    head = send(server, "HEAD", object_path(owned, "doc.txt"), auth="none")
    assert head.status == 403 and head.body == b""
    s3.put_object_acl(Bucket=owned, Key="doc.txt", ACL="public-read")
    reply = send(server, "GET", object_path(owned, "doc.txt"), auth="none")
    assert reply.status == 200 and reply.body == b"alice's words"


def test_copy_of_an_unreadable_object_within_a_writable_bucket(
    server: RunningServer, alice: tuple[str, Any], bob: tuple[str, Any], owned: str
) -> None:
    """Bob may write into the bucket (its ACL) but not read alice's object: the copy is refused."""
    _, alice_s3 = alice
    _, bob_s3 = bob
    alice_s3.put_bucket_acl(Bucket=owned, ACL="public-read-write")
    with pytest.raises(ClientError) as err:
        bob_s3.copy_object(Bucket=owned, Key="mine", CopySource={"Bucket": owned, "Key": "doc.txt"})
    assert client_error(err.value) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as err:
        bob_s3.head_object(Bucket=owned, Key="mine")
    assert client_error(err.value) == ("404", 404)
    reply = send(server, "GET", "/", auth="none")
    assert (reply.status, reply.error_code()) == (403, "AccessDenied")
