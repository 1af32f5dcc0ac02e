"""Conditional deletes against the live server, on both metadata backends: DeleteObject with If-Match,
x-amz-if-match-last-modified-time and x-amz-if-match-size (current object, and a version id in a
versioned bucket), DeleteObjects entries with ETag / LastModifiedTime / Size, and racing
conditional deletes and writes of which exactly one may win."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from tests.integration import test_versioning
from tests.integration.helpers import client_error, object_path, send
from tests.integration.test_conditional_writes import _race
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer

RACERS = 32
vbucket = test_versioning.vbucket  # the versioned-bucket fixture, shared


def error_of(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return client_error(info.value)


def exists(s3, bucket: str, key: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def test_delete_if_match(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    reply = send(server, "DELETE", object_path(bucket, "k"), headers={"If-Match": '"0000"'})
    assert (reply.status, reply.error_code()) == (412, "PreconditionFailed")
    assert reply.xml().findtext("Condition") == "If-Match"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    assert s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not exists(s3, bucket, "k")
    # No object: If-Match, even `*`, is 404 NoSuchKey, as AWS answers.
    for if_match in ("*", etag):
        assert error_of(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch=if_match)) == (  # noqa: B023
            "NoSuchKey",
            404,
        )
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2")
    s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert not exists(s3, bucket, "k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v3")
    s3.delete_object(
        Bucket=bucket, Key="k", IfMatch=s3.head_object(Bucket=bucket, Key="k")["ETag"].strip('"')
    )
    assert not exists(s3, bucket, "k")


def test_delete_if_match_size_and_last_modified_time(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"12345")
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    refused = [
        ({"IfMatchSize": 4}, "x-amz-if-match-size"),
        ({"IfMatchLastModifiedTime": modified - timedelta(seconds=1)}, "x-amz-if-match-last-modified-time"),
        ({"IfMatchSize": 5, "IfMatchLastModifiedTime": modified + timedelta(days=1)}, None),
        ({"IfMatch": '"0000"', "IfMatchSize": 5}, "If-Match"),
    ]
    for params, condition in refused:
        with pytest.raises(ClientError) as info:
            s3.delete_object(Bucket=bucket, Key="k", **params)
        assert client_error(info.value) == ("PreconditionFailed", 412)
        if condition is not None:
            assert info.value.response["Error"].get("Condition") == condition
    assert exists(s3, bucket, "k")
    for header, value in (("x-amz-if-match-size", "five"), ("x-amz-if-match-last-modified-time", "soon")):
        reply = send(server, "DELETE", object_path(bucket, "k"), headers={header: value})
        assert (reply.status, reply.error_code()) == (400, "InvalidArgument")
    assert exists(s3, bucket, "k")
    s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=5, IfMatchLastModifiedTime=modified)
    assert not exists(s3, bucket, "k")
    # Alone, the size and time conditions hold when there is no object (204, as the reference says).
    status = s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=5)["ResponseMetadata"]["HTTPStatusCode"]
    assert status == 204


def test_conditional_delete_in_a_versioned_bucket(s3, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    old = s3.put_object(Bucket=vbucket, Key="k", Body=b"old")
    new = s3.put_object(Bucket=vbucket, Key="k", Body=b"newer")
    assert error_of(lambda: s3.delete_object(Bucket=vbucket, Key="k", IfMatch=old["ETag"])) == (
        "PreconditionFailed",
        412,
    )
    assert len(s3.list_object_versions(Bucket=vbucket)["Versions"]) == 2
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket=vbucket)  # a refusal writes no marker
    done = s3.delete_object(Bucket=vbucket, Key="k", IfMatch=new["ETag"], IfMatchSize=5)
    assert done["DeleteMarker"] is True
    # The current version is now a delete marker: there is no object to match.
    assert error_of(lambda: s3.delete_object(Bucket=vbucket, Key="k", IfMatch="*")) == ("NoSuchKey", 404)
    assert len(s3.list_object_versions(Bucket=vbucket)["DeleteMarkers"]) == 1

    # By version id the conditions are checked on that version.
    assert error_of(
        lambda: s3.delete_object(Bucket=vbucket, Key="k", VersionId=old["VersionId"], IfMatch=new["ETag"])
    ) == ("PreconditionFailed", 412)
    assert error_of(
        lambda: s3.delete_object(Bucket=vbucket, Key="k", VersionId=old["VersionId"], IfMatchSize=5)
    ) == ("PreconditionFailed", 412)
    marker = s3.list_object_versions(Bucket=vbucket)["DeleteMarkers"][0]["VersionId"]
    assert error_of(lambda: s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker, IfMatch="*")) == (
        "NoSuchVersion",
        404,
    )
    removed = s3.delete_object(Bucket=vbucket, Key="k", VersionId=old["VersionId"], IfMatch=old["ETag"])
    assert removed["VersionId"] == old["VersionId"]
    versions = s3.list_object_versions(Bucket=vbucket)
    assert [v["VersionId"] for v in versions["Versions"]] == [new["VersionId"]]


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_racing_conditional_deletes_and_puts_have_one_winner(  # type: ignore[no-untyped-def]
    s3, server: RunningServer, bucket: str, versioned: bool
) -> None:
    """32 clients holding the same ETag: half delete, half overwrite, all If-Match. Whoever commits
    first changes the key, so exactly one request succeeds; the others are refused (412, or 404 once
    the key is gone) and leave no bytes behind."""
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    etag = s3.put_object(Bucket=bucket, Key="contested", Body=b"original")["ETag"]
    before = stored_blobs(server)
    path = object_path(bucket, "contested")

    def put(i: int):  # type: ignore[no-untyped-def]
        body = f"writer {i}".encode()
        return lambda: send(server, "PUT", path, body=body, headers={"If-Match": etag}).status

    def delete():  # type: ignore[no-untyped-def]
        return lambda: send(server, "DELETE", path, headers={"If-Match": etag}).status

    statuses = _race([put(i) if i % 2 else delete() for i in range(RACERS)])
    winners = [i for i, status in enumerate(statuses) if status in (200, 204)]
    assert len(winners) == 1, statuses
    assert all(status in (412, 404) for i, status in enumerate(statuses) if i != winners[0]), statuses
    winner = winners[0]
    if winner % 2:
        assert s3.get_object(Bucket=bucket, Key="contested")["Body"].read() == f"writer {winner}".encode()
    else:
        assert not exists(s3, bucket, "contested")
    kept = stored_blobs(server) - before
    # Only the winning writer's bytes were added; unversioned, the original's were freed too.
    assert len(kept) == (1 if winner % 2 else 0)
    if versioned:
        versions = s3.list_object_versions(Bucket=bucket)
        assert len(versions.get("Versions", [])) + len(versions.get("DeleteMarkers", [])) == 2
        for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key="contested", VersionId=entry["VersionId"])


def test_delete_objects_with_conditions(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    etags = {key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode())["ETag"] for key in "abcdef"}
    modified = s3.head_object(Bucket=bucket, Key="e")["LastModified"]
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "a", "ETag": etags["a"]},
                {"Key": "b", "ETag": etags["a"]},
                {"Key": "c", "Size": 1},
                {"Key": "d", "Size": 2},
                {"Key": "e", "LastModifiedTime": modified, "ETag": etags["e"].strip('"')},
                {"Key": "f", "LastModifiedTime": modified - timedelta(seconds=5)},
                {"Key": "never", "ETag": etags["a"]},
                {"Key": "plain"},
            ]
        },
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "c", "e", "plain"]
    errors = {e["Key"]: e["Code"] for e in result["Errors"]}
    assert errors == {
        "b": "PreconditionFailed",
        "d": "PreconditionFailed",
        "f": "PreconditionFailed",
        "never": "NoSuchKey",
    }
    failed = next(e for e in result["Errors"] if e["Key"] == "b")
    assert failed["Message"] == "At least one of the pre-conditions you specified did not hold"
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == ["b", "d", "f"]


def test_delete_objects_with_an_unreadable_condition(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    body = b"<Delete><Object><Key>a</Key><Size>big</Size></Object></Delete>"
    headers = {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}
    reply = send(server, "POST", f"/{bucket}", query="delete", body=body, headers=headers)
    assert (reply.status, reply.error_code()) == (400, "MalformedXML")
    assert exists(s3, bucket, "a")
