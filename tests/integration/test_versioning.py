"""Bucket versioning against the live server, on both metadata backends: every write keeps a version,
delete markers, the null version of suspended buckets, versionId on every object operation, and
ListObjectVersions' order and paging."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import S3_NS, client_error, encode_query, send
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer

_numbers = itertools.count()


def empty_versioned(s3, name: str) -> None:  # type: ignore[no-untyped-def]
    """Remove every version and marker, then the bucket."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=entry["Key"], VersionId=entry["VersionId"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def vbucket(s3) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh bucket with versioning Enabled; every version is removed afterwards."""
    name = f"ver-{os.getpid()}-{next(_numbers)}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    empty_versioned(s3, name)


def error_of(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return client_error(info.value)


def versions_of(server: RunningServer, bucket: str, **query: str) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker) in the order ListObjectVersions puts them on
    the wire (boto3 splits versions from markers, losing the interleaving)."""
    resp = send(server, "GET", f"/{bucket}", query=encode_query({"versions": "", **query}))
    assert resp.status == 200, resp.body
    root = ET.fromstring(resp.body)
    out = []
    for entry in root:
        tag = entry.tag.removeprefix(S3_NS)
        if tag in ("Version", "DeleteMarker"):
            out.append(
                (
                    entry.findtext(S3_NS + "Key") or "",
                    entry.findtext(S3_NS + "VersionId") or "",
                    entry.findtext(S3_NS + "IsLatest") == "true",
                    tag == "DeleteMarker",
                )
            )
    return out


def test_versioning_configuration(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    # MFA delete cannot be turned on without an MFA device; nothing changes.
    code = error_of(
        lambda: s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}
        )
    )
    assert code == ("AccessDenied", 403)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert error_of(lambda: s3.get_bucket_versioning(Bucket="no-such-bucket-here")) == ("NoSuchBucket", 404)


def test_malformed_versioning_configuration(server: RunningServer, bucket: str) -> None:
    for body in (b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>", b"<nope/>", b"x"):
        resp = send(server, "PUT", f"/{bucket}?versioning", body=body)
        assert resp.status == 400, resp.body
        assert b"<Code>MalformedXML</Code>" in resp.body


def test_every_write_keeps_a_version(s3, server: RunningServer, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    bodies = [b"first", b"second version", b"third"]
    ids = [s3.put_object(Bucket=vbucket, Key="k", Body=body)["VersionId"] for body in bodies]
    assert len(set(ids)) == 3 and all(len(v) == 32 and v != "null" for v in ids)
    assert all(set(v) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for v in ids)
    for version_id, body in zip(ids, bodies, strict=True):
        got = s3.get_object(Bucket=vbucket, Key="k", VersionId=version_id)
        assert got["Body"].read() == body and got["VersionId"] == version_id
        assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        head = s3.head_object(Bucket=vbucket, Key="k", VersionId=version_id)
        assert head["ContentLength"] == len(body)
    current = s3.get_object(Bucket=vbucket, Key="k")
    assert current["Body"].read() == b"third" and current["VersionId"] == ids[-1]
    assert versions_of(server, vbucket) == [
        ("k", ids[2], True, False),
        ("k", ids[1], False, False),
        ("k", ids[0], False, False),
    ]
    # ListObjects shows only the current version.
    listed = s3.list_objects_v2(Bucket=vbucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", len(b"third"))]
    # Three versions, three blobs: nothing was freed by the overwrites.
    assert len(stored_blobs(server)) >= 3


def test_delete_marker(s3, server: RunningServer, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    v1 = s3.put_object(Bucket=vbucket, Key="doc", Body=b"v1")["VersionId"]
    deleted = s3.delete_object(Bucket=vbucket, Key="doc")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] not in (v1, "null")
    marker = deleted["VersionId"]
    # The key looks gone: 404 that says a delete marker is why.
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=vbucket, Key="doc")
    assert client_error(info.value) == ("NoSuchKey", 404)
    headers = info.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=vbucket, Key="doc")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # The marker itself, by id: 405 MethodNotAllowed.
    for call in (
        lambda: s3.get_object(Bucket=vbucket, Key="doc", VersionId=marker),
        lambda: s3.head_object(Bucket=vbucket, Key="doc", VersionId=marker),
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
        assert info.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    # The old version is still readable by id.
    assert s3.get_object(Bucket=vbucket, Key="doc", VersionId=v1)["Body"].read() == b"v1"
    assert "Contents" not in s3.list_objects_v2(Bucket=vbucket)
    assert versions_of(server, vbucket) == [("doc", marker, True, True), ("doc", v1, False, False)]
    # Another delete adds another marker.
    again = s3.delete_object(Bucket=vbucket, Key="doc")["VersionId"]
    assert again != marker
    # Removing the newest marker leaves the older marker newest: still deleted.
    s3.delete_object(Bucket=vbucket, Key="doc", VersionId=again)
    assert error_of(lambda: s3.get_object(Bucket=vbucket, Key="doc")) == ("NoSuchKey", 404)
    # Removing the last marker brings the version back.
    removed = s3.delete_object(Bucket=vbucket, Key="doc", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket=vbucket, Key="doc")["Body"].read() == b"v1"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["doc"]


def test_delete_version_by_id(s3, server: RunningServer, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    ids = [s3.put_object(Bucket=vbucket, Key="k", Body=f"body {i}".encode())["VersionId"] for i in range(3)]
    blobs = stored_blobs(server)
    # A noncurrent version goes alone, with its bytes.
    done = s3.delete_object(Bucket=vbucket, Key="k", VersionId=ids[1])
    assert done["VersionId"] == ids[1] and "DeleteMarker" not in done
    assert error_of(lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId=ids[1])) == (
        "NoSuchVersion",
        404,
    )
    assert len(stored_blobs(server)) == len(blobs) - 1
    # The current version goes: the newest remaining version becomes current.
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=ids[2])
    current = s3.get_object(Bucket=vbucket, Key="k")
    assert current["VersionId"] == ids[0] and current["Body"].read() == b"body 0"
    assert versions_of(server, vbucket) == [("k", ids[0], True, False)]
    # A version id that never existed: deleting it is a no-op success, reading it NoSuchVersion.
    ghost = "A" * 32
    assert s3.delete_object(Bucket=vbucket, Key="k", VersionId=ghost)["VersionId"] == ghost
    assert error_of(lambda: s3.head_object(Bucket=vbucket, Key="k", VersionId=ghost))[1] == 404
    assert error_of(lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId=ghost)) == ("NoSuchVersion", 404)


def test_bad_version_ids(server: RunningServer, s3, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    for value in ("not-a-version", "", "A" * 31):
        resp = send(server, "GET", f"/{vbucket}/k", query=encode_query({"versionId": value}))
        assert resp.status == 400, (value, resp.body)
        assert b"<Code>InvalidArgument</Code>" in resp.body
        assert b"<ArgumentName>versionId</ArgumentName>" in resp.body
    resp = send(server, "DELETE", f"/{vbucket}/k", query=encode_query({"versionId": "bad!"}))
    assert resp.status == 400 and b"<Code>InvalidArgument</Code>" in resp.body


def test_suspended_bucket_writes_the_null_version(s3, server: RunningServer, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    kept = s3.put_object(Bucket=vbucket, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    first = s3.put_object(Bucket=vbucket, Key="k", Body=b"null one")
    assert first["VersionId"] == "null"
    blobs = stored_blobs(server)
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null two")  # replaces the null version only
    assert len(stored_blobs(server)) == len(blobs)  # the first null version's bytes were freed
    assert versions_of(server, vbucket) == [("k", "null", True, False), ("k", kept, False, False)]
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId="null")["Body"].read() == b"null two"
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=kept)["Body"].read() == b"versioned"
    # A delete in a suspended bucket writes a null marker in place of the null version.
    deleted = s3.delete_object(Bucket=vbucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    assert versions_of(server, vbucket) == [("k", "null", True, True), ("k", kept, False, False)]
    # Back on: new writes get ids again, the null marker stays history.
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Enabled"})
    newest = s3.put_object(Bucket=vbucket, Key="k", Body=b"again")["VersionId"]
    assert [v[1] for v in versions_of(server, vbucket)] == [newest, "null", kept]


def test_unversioned_bucket_never_reports_versions(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "VersionId" not in put
    assert "VersionId" not in s3.get_object(Bucket=bucket, Key="k")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"x"
    assert versions_of(server, bucket) == [("k", "null", True, False)]
    assert "VersionId" not in s3.delete_object(Bucket=bucket, Key="k")
    assert versions_of(server, bucket) == []


def test_version_id_on_other_operations(s3, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    old = s3.put_object(Bucket=vbucket, Key="src", Body=b"old bytes")["VersionId"]
    new = s3.put_object(Bucket=vbucket, Key="src", Body=b"new bytes")["VersionId"]
    # CopyObject from a version.
    copied = s3.copy_object(
        Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": old}
    )
    assert copied["CopySourceVersionId"] == old and copied["VersionId"] not in (old, new)
    assert s3.get_object(Bucket=vbucket, Key="dst")["Body"].read() == b"old bytes"
    # Tagging per version.
    s3.put_object_tagging(
        Bucket=vbucket, Key="src", VersionId=old, Tagging={"TagSet": [{"Key": "a", "Value": "1"}]}
    )
    assert s3.get_object_tagging(Bucket=vbucket, Key="src", VersionId=old)["TagSet"] == [
        {"Key": "a", "Value": "1"}
    ]
    assert s3.get_object_tagging(Bucket=vbucket, Key="src")["TagSet"] == []
    tagged = s3.get_object_tagging(Bucket=vbucket, Key="src", VersionId=old)
    assert tagged["VersionId"] == old
    s3.delete_object_tagging(Bucket=vbucket, Key="src", VersionId=old)
    assert s3.get_object_tagging(Bucket=vbucket, Key="src", VersionId=old)["TagSet"] == []
    # ACLs per version.
    s3.put_object_acl(Bucket=vbucket, Key="src", VersionId=old, ACL="public-read")
    grants = s3.get_object_acl(Bucket=vbucket, Key="src", VersionId=old)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    grants = s3.get_object_acl(Bucket=vbucket, Key="src")["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    # GetObjectAttributes of a version.
    attrs = s3.get_object_attributes(
        Bucket=vbucket, Key="src", VersionId=old, ObjectAttributes=["ObjectSize"]
    )
    assert attrs["ObjectSize"] == len(b"old bytes") and attrs["VersionId"] == old
    # Missing versions answer NoSuchVersion everywhere.
    ghost = "B" * 32
    for call in (
        lambda: s3.get_object_tagging(Bucket=vbucket, Key="src", VersionId=ghost),
        lambda: s3.get_object_acl(Bucket=vbucket, Key="src", VersionId=ghost),
        lambda: s3.copy_object(
            Bucket=vbucket, Key="x", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": ghost}
        ),
    ):
        assert error_of(call) == ("NoSuchVersion", 404)
    # A delete marker cannot be a copy source by id.
    marker = s3.delete_object(Bucket=vbucket, Key="src")["VersionId"]
    code, status = error_of(
        lambda: s3.copy_object(
            Bucket=vbucket, Key="x", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": marker}
        )
    )
    assert (code, status) == ("InvalidRequest", 400)


def test_multipart_and_part_copy_make_versions(s3, server: RunningServer, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    first = s3.put_object(Bucket=vbucket, Key="big", Body=b"a" * 10)["VersionId"]
    upload = s3.create_multipart_upload(Bucket=vbucket, Key="big")["UploadId"]
    part = s3.upload_part_copy(
        Bucket=vbucket,
        Key="big",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": vbucket, "Key": "big", "VersionId": first},
    )
    assert part["CopySourceVersionId"] == first
    done = s3.complete_multipart_upload(
        Bucket=vbucket,
        Key="big",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert done["VersionId"] not in (first, "null")
    assert [v[1] for v in versions_of(server, vbucket)] == [done["VersionId"], first]
    assert s3.get_object(Bucket=vbucket, Key="big")["ETag"].endswith('-1"')


def test_delete_objects_with_versions(s3, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    a1 = s3.put_object(Bucket=vbucket, Key="a", Body=b"a1")["VersionId"]
    a2 = s3.put_object(Bucket=vbucket, Key="a", Body=b"a2")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="b", Body=b"b")
    result = s3.delete_objects(
        Bucket=vbucket,
        Delete={"Objects": [{"Key": "a", "VersionId": a1}, {"Key": "b"}, {"Key": "c", "VersionId": "bad"}]},
    )
    deleted = {(d["Key"], d.get("VersionId")): d for d in result["Deleted"]}
    assert deleted[("a", a1)].get("DeleteMarker") is None
    marker = deleted[("b", None)]
    assert marker["DeleteMarker"] is True and len(marker["DeleteMarkerVersionId"]) == 32
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("c", "NoSuchVersion")]  # an id never ours
    assert s3.get_object(Bucket=vbucket, Key="a")["VersionId"] == a2
    # Removing a marker through DeleteObjects reports it as one.
    again = s3.delete_objects(
        Bucket=vbucket, Delete={"Objects": [{"Key": "b", "VersionId": marker["DeleteMarkerVersionId"]}]}
    )["Deleted"][0]
    assert again["DeleteMarker"] is True and again["DeleteMarkerVersionId"] == marker["DeleteMarkerVersionId"]
    assert s3.get_object(Bucket=vbucket, Key="b")["Body"].read() == b"b"


def test_list_object_versions_order_and_paging(s3, server: RunningServer, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    expected: list[tuple[str, str]] = []
    keys = ["a+b", "a/b", "a/c/d", "B", "b", "z"]  # byte order: "B" < "a+b" < "a/b" < "a/c/d" < "b" < "z"
    written: dict[str, list[str]] = {}
    for round_ in range(3):
        for key in keys:
            if round_ == 1 and key == "b":
                written.setdefault(key, []).append(s3.delete_object(Bucket=vbucket, Key=key)["VersionId"])
            else:
                body = f"{key} {round_}".encode()
                written.setdefault(key, []).append(
                    s3.put_object(Bucket=vbucket, Key=key, Body=body)["VersionId"]
                )
    for key in sorted(keys, key=lambda k: k.encode()):
        expected.extend((key, vid) for vid in reversed(written[key]))
    # One page in full, in AWS's order.
    full = versions_of(server, vbucket)
    assert [(k, v) for k, v, _, _ in full] == expected
    assert [latest for _, _, latest, _ in full] == [i % 3 == 0 for i in range(len(expected))]
    # Paging by twos and by sevens reads the same sequence, each entry once.
    for size in (1, 2, 7):
        seen: list[tuple[str, str]] = []
        kwargs: dict[str, object] = {}
        while True:
            page = s3.list_object_versions(Bucket=vbucket, MaxKeys=size, **kwargs)
            wire = page.get("Versions", []) + page.get("DeleteMarkers", [])
            assert len(wire) <= size
            seen.extend((e["Key"], e["VersionId"]) for e in wire)
            if not page["IsTruncated"]:
                break
            kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
        assert sorted(seen) == sorted(expected) and len(seen) == len(expected), size
    # A key marker alone starts after every version of that key.
    after = s3.list_object_versions(Bucket=vbucket, KeyMarker="a/b")
    assert {e["Key"] for e in after.get("Versions", []) + after.get("DeleteMarkers", [])} == {
        "a/c/d",
        "b",
        "z",
    }
    # Prefix and delimiter roll keys up into common prefixes.
    rolled = s3.list_object_versions(Bucket=vbucket, Prefix="a", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/"]
    assert {v["Key"] for v in rolled["Versions"]} == {"a+b"}
    nested = s3.list_object_versions(Bucket=vbucket, Prefix="a/", Delimiter="/")
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["a/c/"]
    assert {v["Key"] for v in nested["Versions"]} == {"a/b"}


def test_list_object_versions_wire_shape(server: RunningServer, s3, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=vbucket, Key="a&b", Body=b"x")
    s3.delete_object(Bucket=vbucket, Key="a&b")
    query = encode_query({"versions": "", "encoding-type": "url", "max-keys": "1"})
    resp = send(server, "GET", f"/{vbucket}", query=query)
    assert resp.status == 200
    body = resp.body.decode()
    assert "<DeleteMarker>" in body and "<Version>" not in body  # the marker is newest
    assert "<Key>a%26b</Key>" in body and "<IsTruncated>true</IsTruncated>" in body
    assert "<NextKeyMarker>a%26b</NextKeyMarker>" in body and "<NextVersionIdMarker>" in body
    assert "<EncodingType>url</EncodingType>" in body
    # A version-id-marker needs a key-marker; a malformed one is refused.
    resp = send(
        server, "GET", f"/{vbucket}", query=encode_query({"versions": "", "version-id-marker": "A" * 32})
    )
    assert resp.status == 400 and b"<Code>InvalidArgument</Code>" in resp.body
    query = encode_query({"versions": "", "key-marker": "a", "version-id-marker": "?"})
    resp = send(server, "GET", f"/{vbucket}", query=query)
    assert resp.status == 400 and b"<Code>InvalidArgument</Code>" in resp.body


def test_versioned_bucket_cannot_be_deleted_until_empty(s3) -> None:  # type: ignore[no-untyped-def]
    name = f"ver-{os.getpid()}-{next(_numbers)}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=name, Key="k")["VersionId"]
    assert error_of(lambda: s3.delete_bucket(Bucket=name)) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k", VersionId=version)
    assert error_of(lambda: s3.delete_bucket(Bucket=name)) == ("BucketNotEmpty", 409)  # the marker remains
    s3.delete_object(Bucket=name, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=name)


def test_version_headers_on_the_wire(server: RunningServer, s3, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    resp = send(server, "PUT", f"/{vbucket}/k", body=b"bytes")
    version = resp.headers["x-amz-version-id"]
    resp = send(server, "DELETE", f"/{vbucket}/k")
    assert resp.status == 204 and resp.headers["x-amz-delete-marker"] == "true"
    marker = resp.headers["x-amz-version-id"]
    resp = send(server, "GET", f"/{vbucket}/k", query=encode_query({"versionId": marker}))
    assert resp.status == 405 and b"<Code>MethodNotAllowed</Code>" in resp.body
    assert resp.headers["x-amz-version-id"] == marker
    resp = send(server, "GET", f"/{vbucket}/k", query=encode_query({"versionId": version}))
    assert resp.status == 200 and resp.body == b"bytes" and resp.headers["x-amz-version-id"] == version


def test_aws_cli_list_object_versions(aws_cli, s3, vbucket: str) -> None:  # type: ignore[no-untyped-def]
    v1 = s3.put_object(Bucket=vbucket, Key="cli", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="cli", Body=b"2")["VersionId"]
    out = aws_cli("s3api", "list-object-versions", "--bucket", vbucket)
    listed = json.loads(out.stdout)
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(v2, True), (v1, False)]
