"""`GET /_admin/stats`: totals, per-bucket counts and bytes and the top 10 buckets, from the counters
the metadata keeps, after puts, overwrites, multipart uploads and deletes, with noncurrent versions
and delete markers counted apart; admins only."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from s3server.admin_cli import AdminClient
from tests.conftest import BACKENDS, backend_args, make_client
from tests.integration.helpers import request
from tests.support.server import RunningServer, start_server
from tests.support.users import admin_client, client_for, create_user


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "data", args=backend_args(request, request.param))
    yield server
    assert server.stop() == 0, server.log()[-3000:]


def stats(server: RunningServer) -> dict[str, Any]:
    return admin_client(server).expect("GET", "/_admin/stats")


def usage(
    name: str, owner: str, objects: int, size: int, versions: int = 0, version_bytes: int = 0
) -> dict[str, Any]:
    return {
        "name": name,
        "owner": owner,
        "objects": objects,
        "bytes": size,
        "versions": versions,
        "version_bytes": version_bytes,
    }


def test_empty(fresh: RunningServer) -> None:
    assert stats(fresh) == {
        "buckets": 0,
        "objects": 0,
        "bytes": 0,
        "versions": 0,
        "version_bytes": 0,
        "per_bucket": [],
        "top_buckets": [],
    }


def test_after_puts_and_deletes(fresh: RunningServer) -> None:
    s3 = make_client(fresh)
    name, access_key, secret_key = create_user(fresh)
    theirs = client_for(fresh, access_key, secret_key)
    buckets = [f"b{i:02d}" for i in range(12)]
    for i, bucket in enumerate(buckets):
        (theirs if i == 0 else s3).create_bucket(Bucket=bucket)

    def fill(i: int) -> None:
        client = theirs if i == 0 else s3
        for n in range(i):
            client.put_object(Bucket=buckets[i], Key=f"k{n}", Body=b"x" * 10)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fill, range(12)))
    # b00 is the other user's and empty; bucket i holds i objects of 10 bytes.
    answer = stats(fresh)
    assert answer["buckets"] == 12
    assert answer["objects"] == sum(range(12)) == 66
    assert answer["bytes"] == 660
    assert answer["per_bucket"][0] == usage("b00", name, 0, 0)
    assert answer["per_bucket"][5] == usage("b05", "root", 5, 50)
    assert [b["name"] for b in answer["top_buckets"]] == [f"b{i:02d}" for i in range(11, 1, -1)]
    assert [b["objects"] for b in answer["top_buckets"]] == list(range(11, 1, -1))

    s3.put_object(Bucket="b03", Key="k0", Body=b"y" * 1000)  # an overwrite: same count, new size
    for n in range(11):
        s3.delete_object(Bucket="b11", Key=f"k{n}")
    s3.delete_object(Bucket="b11", Key="never-existed")
    s3.delete_objects(Bucket="b10", Delete={"Objects": [{"Key": "k0"}, {"Key": "k1"}]})
    upload = s3.create_multipart_upload(Bucket="b01", Key="parts")
    part = s3.upload_part(
        Bucket="b01", Key="parts", UploadId=upload["UploadId"], PartNumber=1, Body=b"z" * 123
    )
    s3.complete_multipart_upload(
        Bucket="b01",
        Key="parts",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    s3.delete_bucket(Bucket="b11")

    answer = stats(fresh)
    by_name = {b["name"]: b for b in answer["per_bucket"]}
    assert "b11" not in by_name and answer["buckets"] == 11
    assert by_name["b03"] == usage("b03", "root", 3, 1020)
    assert by_name["b10"]["objects"] == 8
    assert by_name["b01"] == usage("b01", "root", 2, 133)
    assert answer["objects"] == 66 - 11 - 2 + 1 == 54
    assert answer["bytes"] == 660 - 110 - 20 + 990 + 123
    # Most objects first; ties by name.
    top = [(b["name"], b["objects"]) for b in answer["top_buckets"]]
    assert top == [
        ("b09", 9),
        ("b08", 8),
        ("b10", 8),
        ("b07", 7),
        ("b06", 6),
        ("b05", 5),
        ("b04", 4),
        ("b03", 3),
        ("b01", 2),
        ("b02", 2),
    ]


def test_versions_and_delete_markers(fresh: RunningServer) -> None:
    """Noncurrent versions and delete markers count as versions, their bytes as version_bytes; the
    current versions stay in objects and bytes, whatever deletes by version id bring back."""
    s3 = make_client(fresh)
    s3.create_bucket(Bucket="plain")
    s3.put_object(Bucket="plain", Key="k", Body=b"a" * 4)
    s3.put_object(Bucket="plain", Key="k", Body=b"b" * 6)
    s3.create_bucket(Bucket="kept")
    s3.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket="kept", Key="k", Body=b"k" * n)["VersionId"] for n in (10, 20, 30)]
    s3.put_object(Bucket="kept", Key="j", Body=b"j" * 5)
    marker = s3.delete_object(Bucket="kept", Key="j")
    assert marker["DeleteMarker"] is True

    def kept() -> dict[str, Any]:
        return {b["name"]: b for b in stats(fresh)["per_bucket"]}["kept"]

    # k: 30 current, 10 and 20 noncurrent; j: 5 noncurrent under a delete marker.
    assert kept() == usage("kept", "root", 1, 30, versions=4, version_bytes=35)
    answer = stats(fresh)
    assert answer["versions"] == 4 and answer["version_bytes"] == 35
    assert {b["name"]: b for b in answer["per_bucket"]}["plain"] == usage("plain", "root", 1, 6)

    s3.delete_object(Bucket="kept", Key="k", VersionId=ids[0])  # a noncurrent version goes
    assert kept() == usage("kept", "root", 1, 30, versions=3, version_bytes=25)
    s3.delete_object(Bucket="kept", Key="j", VersionId=marker["VersionId"])  # j is back
    assert kept() == usage("kept", "root", 2, 35, versions=1, version_bytes=20)
    s3.delete_object(Bucket="kept", Key="k", VersionId=ids[2])  # the 20-byte one is current again
    assert kept() == usage("kept", "root", 2, 25)

    s3.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket="kept", Key="k", Body=b"n" * 7)  # the "null" version; 20 bytes noncurrent
    assert kept() == usage("kept", "root", 2, 12, versions=1, version_bytes=20)
    s3.put_object(Bucket="kept", Key="k", Body=b"n" * 8)  # replaces the null version
    assert kept() == usage("kept", "root", 2, 13, versions=1, version_bytes=20)
    s3.delete_objects(Bucket="kept", Delete={"Objects": [{"Key": "k", "VersionId": ids[1]}]})
    assert kept() == usage("kept", "root", 2, 13)


def test_admins_only(fresh: RunningServer) -> None:
    _, access_key, secret_key = create_user(fresh)
    status, answer = AdminClient(fresh.endpoint, access_key, secret_key).call("GET", "/_admin/stats")
    assert status == 403 and answer["error"]["code"] == "AccessDenied"
    assert request(fresh, "GET", "/_admin/stats", {}, b"").status == 403
    _, admin_key, admin_secret = create_user(fresh, admin=True)
    status, _ = AdminClient(fresh.endpoint, admin_key, admin_secret).call("GET", "/_admin/stats")
    assert status == 200
