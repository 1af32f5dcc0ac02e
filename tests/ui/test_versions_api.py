"""The console's versioning API without a browser: the bucket's state, a key's versions page by page,
downloading one version and deleting exactly one."""

from __future__ import annotations

import itertools
import os
from typing import Any
from urllib.parse import quote, urlencode

from tests.support.server import RunningServer
from tests.ui.test_console_api import Console

_names = itertools.count()


def signed_in(server: RunningServer) -> Console:
    console = Console(str(server.console))
    assert console.sign_in(server.access_key, server.secret_key)[0] == 200
    return console


def versioned_bucket(ui_s3) -> str:  # type: ignore[no-untyped-def]
    name = f"uiv-{os.getpid()}-{next(_names)}"
    ui_s3.create_bucket(Bucket=name)
    ui_s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def versions(console: Console, bucket: str, **params: str) -> dict[str, Any]:
    status, _, value = console.call("GET", f"/api/buckets/{bucket}/versions?{urlencode(params)}")
    assert status == 200, value
    return value


def test_versioning_state_is_shown_and_changed(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = f"uiv-{os.getpid()}-{next(_names)}"
    ui_s3.create_bucket(Bucket=bucket)
    path = f"/api/buckets/{bucket}/versioning"
    assert console.call("GET", path)[2] == {"status": "", "object_lock": False}
    assert console.change("PUT", path, {"status": "Enabled"})[0] == 200
    assert ui_s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert console.change("PUT", path, {"status": "Suspended"})[0] == 200
    assert console.call("GET", path)[2]["status"] == "Suspended"
    status, _, value = console.change("PUT", path, {"status": "Off"})
    assert status == 400 and value["error"]["message"] == "Versioning is either Enabled or Suspended."
    assert console.call("PUT", path, {"status": "Enabled"})[0] == 403  # no CSRF token

    locked = f"uiv-{os.getpid()}-{next(_names)}"
    ui_s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    assert console.call("GET", f"/api/buckets/{locked}/versioning")[2] == {
        "status": "Enabled",
        "object_lock": True,
    }
    status, _, value = console.change("PUT", f"/api/buckets/{locked}/versioning", {"status": "Suspended"})
    assert status == 409 and value["error"]["code"] == "InvalidBucketState"


def test_versions_of_one_key_page_by_page(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = versioned_bucket(ui_s3)
    ids = [
        ui_s3.put_object(Bucket=bucket, Key="doc", Body=body)["VersionId"] for body in (b"1", b"22", b"333")
    ]
    for other in ("doc2", "doc/inner", "doc+"):  # keys that start with "doc" are not its versions
        ui_s3.put_object(Bucket=bucket, Key=other, Body=b"other")
    status, _, value = console.change("POST", f"/api/buckets/{bucket}/delete", {"keys": ["doc"]})
    assert status == 200 and value["deleted"] == ["doc"]  # a delete marker now

    answer = versions(console, bucket, key="doc")
    listed = answer["versions"]
    assert [v["key"] for v in listed] == ["doc"] * 4 and answer["folders"] == []
    marker = listed[0]
    assert marker["delete_marker"] and marker["is_latest"] and marker["size"] == 0
    assert [v["version_id"] for v in listed[1:]] == ids[::-1]
    assert [v["size"] for v in listed[1:]] == [3, 2, 1]
    assert not any(v["is_latest"] or v["delete_marker"] for v in listed[1:])
    assert all(v["last_modified"] for v in listed) and listed[1]["etag"]
    assert answer["next_key_marker"] == answer["next_version_marker"] == ""

    seen: list[str] = []
    markers: dict[str, str] = {}
    for _ in range(4):
        page = versions(console, bucket, key="doc", max="3", **markers)
        seen += [v["version_id"] for v in page["versions"]]
        if not page["next_key_marker"]:
            break
        assert page["next_key_marker"] == "doc" and len(page["versions"]) == 3
        markers = {"key_marker": page["next_key_marker"], "version_marker": page["next_version_marker"]}
    assert seen == [v["version_id"] for v in listed]

    folder = versions(console, bucket, prefix="", delimiter="/")
    assert folder["folders"] == ["doc/"]
    assert [(v["key"], v["delete_marker"]) for v in folder["versions"]] == [
        ("doc", True),
        ("doc", False),
        ("doc", False),
        ("doc", False),
        ("doc+", False),
        ("doc2", False),
    ]


def test_download_an_old_version_and_delete_exactly_one(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = versioned_bucket(ui_s3)
    bodies = [b"first " * 100, b"second " * 50, b"third"]
    ids = [ui_s3.put_object(Bucket=bucket, Key="a b/é.txt", Body=body)["VersionId"] for body in bodies]
    ui_s3.put_object(Bucket=bucket, Key="a b/é.txt2", Body=b"neighbour")
    key = quote("a b/é.txt")
    for version_id, body in zip(ids, bodies, strict=True):
        url = f"{console.base}/api/buckets/{bucket}/download?key={key}&version_id={version_id}"
        with console.opener.open(url, timeout=20) as answer:
            assert answer.read() == body
            assert "attachment" in answer.headers["Content-Disposition"]
    url = f"{console.base}/api/buckets/{bucket}/download?key={key}"
    with console.opener.open(url, timeout=20) as answer:
        assert answer.read() == bodies[2]  # without a version: the current one

    path = f"/api/buckets/{bucket}/delete-version"
    assert console.call("POST", path, {"key": "a b/é.txt", "version_id": ids[0]})[0] == 403  # no token
    status, _, value = console.change("POST", path, {"key": "a b/é.txt", "version_id": ids[1]})
    assert status == 200 and value == {"key": "a b/é.txt", "version_id": ids[1], "delete_marker": False}
    left = ui_s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"]) for v in left["Versions"]] == [
        ("a b/é.txt", ids[2]),
        ("a b/é.txt", ids[0]),
        ("a b/é.txt2", left["Versions"][2]["VersionId"]),
    ]
    assert "DeleteMarkers" not in left

    # Deleting the current version makes the one before it current; a delete marker removed likewise.
    assert console.change("POST", path, {"key": "a b/é.txt", "version_id": ids[2]})[0] == 200
    assert ui_s3.get_object(Bucket=bucket, Key="a b/é.txt")["Body"].read() == bodies[0]
    marker = ui_s3.delete_object(Bucket=bucket, Key="a b/é.txt")["VersionId"]
    status, _, value = console.change("POST", path, {"key": "a b/é.txt", "version_id": marker})
    assert status == 200 and value["delete_marker"] is True
    assert ui_s3.get_object(Bucket=bucket, Key="a b/é.txt")["Body"].read() == bodies[0]

    anonymous = Console(console.base)
    assert anonymous.call("GET", f"/api/buckets/{bucket}/versions?key=x")[0] == 401


def test_statistics_and_bucket_list_count_older_versions(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = versioned_bucket(ui_s3)
    for size in (100, 200, 300):
        ui_s3.put_object(Bucket=bucket, Key="k", Body=b"x" * size)
    ui_s3.put_object(Bucket=bucket, Key="gone", Body=b"y" * 7)
    ui_s3.delete_object(Bucket=bucket, Key="gone")
    # Current: k (300). Older: k 100 and 200, gone 7, and gone's delete marker.
    expected = {"objects": 1, "bytes": 300, "versions": 4, "version_bytes": 307}
    status, _, stats = console.call("GET", "/api/ops/stats")
    assert status == 200 and stats["source"] == "statistics"
    assert stats["buckets"][bucket] == expected
    assert stats["versions"] >= 4 and stats["version_bytes"] >= 307
    status, _, listed = console.call("GET", "/api/buckets")
    assert status == 200
    [row] = [b for b in listed["buckets"] if b["name"] == bucket]
    assert {name: row[name] for name in expected} == expected
