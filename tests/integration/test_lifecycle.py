"""Bucket lifecycle against live servers on both metadata backends, with `--lifecycle-day-seconds 1` (a
rule's day is one second): the configuration operations and their validation, `x-amz-expiration`,
and the worker applying every rule action through the saga, on demand (`s3server admin lifecycle
run`) and periodically, resuming a saved pass, and exactly once with two worker processes.

A rule's due time is the start plus its days, rounded up to the next whole second here (the next
midnight UTC with real days), so a test waits until that moment has passed before it asks for a pass.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3server.admin_cli import AdminClient
from s3server.metadata.postgres import PostgresMetadataStore
from s3server.metadata.sqlite import SqliteMetadataStore
from tests.conftest import backend_args, make_client
from tests.integration.helpers import client_error, send
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer, start_server

DAY = ["--lifecycle-day-seconds", "1"]
_numbers = itertools.count()


class Lifecycle:
    """A running server with one-second lifecycle days, its client and its metadata location."""

    def __init__(self, server: RunningServer, metadata_url: str | None) -> None:
        self.server = server
        self.metadata_url = metadata_url
        self.s3: Any = make_client(server)
        self.admin = AdminClient(server.endpoint, server.access_key, server.secret_key)

    def run(self, bucket: str | None = None) -> dict[str, Any]:
        """One lifecycle pass now (the admin API's), its report."""
        return self.admin.expect("POST", "/_admin/lifecycle", {"bucket": bucket} if bucket else {})

    def store(self) -> SqliteMetadataStore | PostgresMetadataStore:
        if self.metadata_url is None:
            return SqliteMetadataStore(self.server.data_dir / "metadata.db")
        return PostgresMetadataStore(self.metadata_url)


def start(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, *extra: str) -> Lifecycle:
    args = backend_args(request, request.param)
    url = args[1] if args else None
    data_dir = tmp_path_factory.mktemp(f"lifecycle-{request.param}") / "data"
    return Lifecycle(start_server(data_dir, args=[*DAY, *args, *extra]), url)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def lc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lifecycle]:
    """A server whose periodic pass (hourly) stays out of the way: these tests ask for passes."""
    running = start(request, tmp_path_factory)
    yield running
    assert running.server.stop() == 0, running.server.log()[-4000:]


def new_bucket(lc: Lifecycle, versioned: bool = False, **create: Any) -> str:
    name = f"lc-{os.getpid()}-{next(_numbers)}"
    lc.s3.create_bucket(Bucket=name, **create)
    if versioned:
        lc.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def put_rules(lc: Lifecycle, bucket: str, *rules: dict[str, Any]) -> None:
    lc.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def keys(lc: Lifecycle, bucket: str) -> list[str]:
    return [o["Key"] for o in lc.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def versions(lc: Lifecycle, bucket: str) -> list[tuple[str, str, bool]]:
    """(key, version id, is a delete marker) of every version, newest first per key."""
    answer = lc.s3.list_object_versions(Bucket=bucket)
    entries = [(v["Key"], v["VersionId"], False, v["LastModified"]) for v in answer.get("Versions", [])]
    entries += [(m["Key"], m["VersionId"], True, m["LastModified"]) for m in answer.get("DeleteMarkers", [])]
    entries.sort(key=lambda e: (e[0], -e[3].timestamp()))
    return [(k, v, marker) for k, v, marker, _ in entries]


def wait_until(moment: float) -> None:
    """Sleep until the wall clock has passed `moment` (a due time computed from the server's dates)."""
    while time.time() <= moment:
        time.sleep(max(0.01, moment - time.time() + 0.05))


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the lifecycle effect did not happen in time")
        time.sleep(0.2)


def due(last_modified: datetime, days: int) -> float:
    """A one-second-day rule's due time: start + days, rounded up to the next whole second."""
    return float(-(-int((last_modified.timestamp() + days) * 1e6) // 1_000_000))


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    return client_error(info.value)


# -- configuration


def test_configuration_round_trip(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    assert error_of(lambda: lc.s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == (
        "NoSuchLifecycleConfiguration",
        404,
    )
    rules = [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
        {
            "ID": "tagged-small",
            "Status": "Disabled",
            "Filter": {
                "And": {
                    "Prefix": "tmp/",
                    "Tags": [{"Key": "kind", "Value": "scratch"}, {"Key": "team", "Value": "a"}],
                    "ObjectSizeGreaterThan": 10,
                    "ObjectSizeLessThan": 1000,
                }
            },
            "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=UTC)},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 3},
        },
        {
            "ID": "markers",
            "Status": "Enabled",
            "Filter": {},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
        {
            "ID": "uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
        },
        {
            "ID": "tag",
            "Status": "Enabled",
            "Filter": {"Tag": {"Key": "k", "Value": "v"}},
            "Expiration": {"Days": 1},
        },
        {"ID": "big", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 5}, "Expiration": {"Days": 1}},
    ]
    put_rules(lc, bucket, *rules)
    assert lc.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == rules
    # A rule without an ID gets one.
    put_rules(lc, bucket, {"Status": "Enabled", "Filter": {"Prefix": "a"}, "Expiration": {"Days": 1}})
    (named,) = lc.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert named["ID"]
    lc.s3.delete_bucket_lifecycle(Bucket=bucket)
    assert error_of(lambda: lc.s3.get_bucket_lifecycle_configuration(Bucket=bucket))[0] == (
        "NoSuchLifecycleConfiguration"
    )
    lc.s3.delete_bucket(Bucket=bucket)
    missing = f"{bucket}-gone"
    assert error_of(lambda: lc.s3.get_bucket_lifecycle_configuration(Bucket=missing)) == ("NoSuchBucket", 404)


def test_legacy_put_bucket_lifecycle(lc: Lifecycle) -> None:
    """PutBucketLifecycle's shape (a rule-level Prefix) is the same request, answered the same way."""
    bucket = new_bucket(lc)
    lc.s3.put_bucket_lifecycle(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [{"ID": "old", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 3}}]
        },
    )
    rules = lc.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules == [{"ID": "old", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 3}}]
    legacy = lc.s3.get_bucket_lifecycle(Bucket=bucket)["Rules"]
    assert legacy[0]["Prefix"] == "logs/" and legacy[0]["Expiration"] == {"Days": 3}


def test_configuration_goes_with_its_bucket(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    put_rules(lc, bucket, {"ID": "r", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
    lc.s3.delete_bucket(Bucket=bucket)
    lc.s3.create_bucket(Bucket=bucket)
    assert error_of(lambda: lc.s3.get_bucket_lifecycle_configuration(Bucket=bucket))[0] == (
        "NoSuchLifecycleConfiguration"
    )


def _document(*rules: str) -> bytes:
    return (
        "<LifecycleConfiguration>" + "".join(f"<Rule>{r}</Rule>" for r in rules) + "</LifecycleConfiguration>"
    ).encode()


GOOD = (
    "<ID>good</ID><Filter><Prefix>p/</Prefix></Filter><Status>Enabled</Status>"
    "<Expiration><Days>1</Days></Expiration>"
)
INVALID = [
    pytest.param(b"<LifecycleConfiguration></LifecycleConfiguration>", "MalformedXML", id="no-rules"),
    pytest.param(b"<Lifecycle><Rule/></Lifecycle>", "MalformedXML", id="wrong-root"),
    pytest.param(b"<LifecycleConfiguration><Rule>", "MalformedXML", id="not-xml"),
    pytest.param(
        _document(*[GOOD.replace("good", f"r{i}") for i in range(1001)]), "InvalidRequest", id="1001-rules"
    ),
    pytest.param(_document(GOOD, GOOD), "InvalidArgument", id="duplicate-id"),
    pytest.param(_document(GOOD.replace("good", "x" * 256)), "InvalidArgument", id="id-too-long"),
    pytest.param(_document(GOOD.replace("Enabled", "On")), "MalformedXML", id="bad-status"),
    pytest.param(_document(GOOD.replace("<Status>Enabled</Status>", "")), "MalformedXML", id="no-status"),
    pytest.param(_document("<ID>a</ID><Filter/><Status>Enabled</Status>"), "InvalidRequest", id="no-action"),
    pytest.param(
        _document(GOOD.replace("<Days>1</Days>", "<Days>0</Days>")), "InvalidArgument", id="zero-days"
    ),
    pytest.param(
        _document(GOOD.replace("<Days>1</Days>", "<Days>soon</Days>")), "MalformedXML", id="days-not-int"
    ),
    pytest.param(
        _document(GOOD.replace("<Days>1</Days>", "<Days>1</Days><Date>2030-01-01T00:00:00Z</Date>")),
        "MalformedXML",
        id="days-and-date",
    ),
    pytest.param(
        _document(GOOD.replace("<Days>1</Days>", "<Date>2030-01-01T10:00:00Z</Date>")),
        "InvalidArgument",
        id="date-not-midnight",
    ),
    pytest.param(
        _document(
            GOOD.replace(
                "<Days>1</Days>", "<Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
            )
        ),
        "MalformedXML",
        id="marker-with-days",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>"
            "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
        ),
        "InvalidRequest",
        id="marker-with-tags",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>"
            "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
        ),
        "MalformedXML",
        id="two-predicates-without-and",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter><And><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>k</Key><Value>w</Value></Tag>"
            "</And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
        ),
        "InvalidRequest",
        id="duplicate-tag-keys",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
            "<ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter><Status>Enabled</Status>"
            "<Expiration><Days>1</Days></Expiration>"
        ),
        "InvalidArgument",
        id="empty-size-range",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Prefix>p</Prefix><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
        ),
        "MalformedXML",
        id="prefix-and-filter",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter/><Status>Enabled</Status>"
            "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>"
        ),
        "InvalidArgument",
        id="zero-noncurrent-days",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "<NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
        ),
        "InvalidArgument",
        id="too-many-newer-versions",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter/><Status>Enabled</Status>"
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
        ),
        "InvalidArgument",
        id="zero-days-after-initiation",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>"
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
        ),
        "InvalidRequest",
        id="abort-with-tags",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter/><Status>Enabled</Status>"
            "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>"
        ),
        "InvalidStorageClass",
        id="transition-to-a-class-not-here",
    ),
    pytest.param(
        _document(
            "<ID>a</ID><Filter/><Status>Enabled</Status>"
            "<Transition><Days>30</Days><StorageClass>TAPE</StorageClass></Transition>"
        ),
        "MalformedXML",
        id="transition-to-no-class",
    ),
    pytest.param(
        _document(GOOD.replace("<ID>good</ID>", "<ID>good</ID><Colour>red</Colour>")),
        "MalformedXML",
        id="unknown-element",
    ),
]


@pytest.mark.parametrize(("body", "code"), INVALID)
def test_invalid_configuration_changes_nothing(lc: Lifecycle, body: bytes, code: str) -> None:
    bucket = new_bucket(lc)
    put_rules(lc, bucket, {"ID": "kept", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 5}})
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    reply = send(lc.server, "PUT", f"/{bucket}", query="lifecycle", body=body, headers={"Content-MD5": md5})
    assert (reply.status, reply.error_code()) == (400, code), reply.body
    rules = lc.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in rules] == ["kept"]


def test_put_needs_an_integrity_header(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    reply = send(lc.server, "PUT", f"/{bucket}", query="lifecycle", body=_document(GOOD))
    assert (reply.status, reply.error_code()) == (400, "InvalidRequest")


# -- x-amz-expiration


def parse_expiration(header: str) -> tuple[datetime, str]:
    date_part, rule_part = header.split('", rule-id="')
    return parsedate_to_datetime(date_part.removeprefix('expiry-date="')), rule_part.rstrip('"')


def test_expiration_header(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    put_rules(
        lc,
        bucket,
        {"ID": "slow", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 100}},
        {"ID": "fast", "Status": "Enabled", "Filter": {"Prefix": "logs/a"}, "Expiration": {"Days": 50}},
        {"ID": "off", "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 1}},
        {
            "ID": "date",
            "Status": "Enabled",
            "Filter": {"Prefix": "dated/"},
            "Expiration": {"Date": datetime(2031, 5, 1, tzinfo=UTC)},
        },
    )
    put = lc.s3.put_object(Bucket=bucket, Key="logs/a.txt", Body=b"x")
    head = lc.s3.head_object(Bucket=bucket, Key="logs/a.txt")
    expected = due(head["LastModified"], 50)
    for answer in (put, head, lc.s3.get_object(Bucket=bucket, Key="logs/a.txt")):
        when, rule = parse_expiration(answer["Expiration"])
        assert rule == "fast"
        # The HTTP date has whole seconds; Last-Modified too, so allow the sub-second it dropped.
        assert abs(when.timestamp() - expected) <= 1
    copied = lc.s3.copy_object(
        Bucket=bucket, Key="logs/b.txt", CopySource={"Bucket": bucket, "Key": "logs/a.txt"}
    )
    assert parse_expiration(copied["Expiration"])[1] == "slow"
    lc.s3.put_object(Bucket=bucket, Key="dated/x", Body=b"x")
    when, rule = parse_expiration(lc.s3.head_object(Bucket=bucket, Key="dated/x")["Expiration"])
    assert (when, rule) == (datetime(2031, 5, 1, tzinfo=UTC), "date")
    lc.s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert "Expiration" not in lc.s3.head_object(Bucket=bucket, Key="other")


# -- the worker, on demand


def test_expiration_by_days_and_prefix(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    put_rules(
        lc,
        bucket,
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}},
    )
    for key in ("logs/1", "logs/2", "logsx", "data/1"):
        lc.s3.put_object(Bucket=bucket, Key=key, Body=b"12345")
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="logs/2")["LastModified"], 1) + 1)
    report = lc.run(bucket)
    assert sorted(keys(lc, bucket)) == ["data/1", "logsx"]
    assert (report["expired"], report["expired_bytes"]) == (2, 10)
    assert sorted((r["key"], r["action"], r["rule"]) for r in report["removed"]) == [
        ("logs/1", "Expiration", "logs"),
        ("logs/2", "Expiration", "logs"),
    ]
    assert lc.run(bucket)["expired"] == 0  # nothing is expired twice


def test_expiration_by_date(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    put_rules(
        lc,
        bucket,
        {"ID": "past", "Status": "Enabled", "Filter": {"Prefix": "old/"}, "Expiration": {"Date": today}},
        {
            "ID": "future",
            "Status": "Enabled",
            "Filter": {"Prefix": "new/"},
            "Expiration": {"Date": today + timedelta(days=2)},
        },
    )
    lc.s3.put_object(Bucket=bucket, Key="old/a", Body=b"a")
    lc.s3.put_object(Bucket=bucket, Key="new/a", Body=b"a")
    report = lc.run(bucket)
    assert keys(lc, bucket) == ["new/a"]
    assert [(r["key"], r["rule"]) for r in report["removed"]] == [("old/a", "past")]


def test_expiration_by_tag(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    put_rules(
        lc,
        bucket,
        {
            "ID": "scratch",
            "Status": "Enabled",
            "Filter": {
                "And": {
                    "Prefix": "t/",
                    "Tags": [{"Key": "kind", "Value": "scratch"}, {"Key": "team", "Value": "a"}],
                }
            },
            "Expiration": {"Days": 1},
        },
    )
    lc.s3.put_object(Bucket=bucket, Key="t/both", Body=b"x", Tagging="kind=scratch&team=a&extra=1")
    lc.s3.put_object(Bucket=bucket, Key="t/one", Body=b"x", Tagging="kind=scratch")
    lc.s3.put_object(Bucket=bucket, Key="t/none", Body=b"x")
    lc.s3.put_object(Bucket=bucket, Key="t/later", Body=b"x")
    lc.s3.put_object_tagging(
        Bucket=bucket,
        Key="t/later",
        Tagging={"TagSet": [{"Key": "kind", "Value": "scratch"}, {"Key": "team", "Value": "a"}]},
    )
    assert "Expiration" in lc.s3.head_object(Bucket=bucket, Key="t/both")
    assert "Expiration" not in lc.s3.head_object(Bucket=bucket, Key="t/one")
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="t/later")["LastModified"], 1) + 1)
    lc.run(bucket)
    assert sorted(keys(lc, bucket)) == ["t/none", "t/one"]


def test_expiration_by_size(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    put_rules(
        lc,
        bucket,
        {
            "ID": "mid",
            "Status": "Enabled",
            "Filter": {"And": {"ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 100}},
            "Expiration": {"Days": 1},
        },
        {
            "ID": "huge",
            "Status": "Enabled",
            "Filter": {"ObjectSizeGreaterThan": 1000},
            "Expiration": {"Days": 1},
        },
    )
    for key, size in (("s10", 10), ("s11", 11), ("s99", 99), ("s100", 100), ("s1000", 1000), ("s1001", 1001)):
        lc.s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="s1001")["LastModified"], 1) + 1)
    report = lc.run(bucket)
    assert sorted(keys(lc, bucket)) == ["s10", "s100", "s1000"]
    assert report["expired_bytes"] == 11 + 99 + 1001


def test_expiration_in_a_versioned_bucket_adds_a_delete_marker(lc: Lifecycle) -> None:
    bucket = new_bucket(lc, versioned=True)
    put_rules(lc, bucket, {"ID": "r", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
    lc.s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="k")["LastModified"], 1) + 1)
    assert lc.run(bucket)["expired"] == 1
    assert [marker for _, _, marker in versions(lc, bucket)] == [True, False]
    assert lc.run(bucket)["expired"] == 0


def test_noncurrent_expiration_keeps_newer_versions(lc: Lifecycle) -> None:
    bucket = new_bucket(lc, versioned=True)
    put_rules(
        lc,
        bucket,
        {
            "ID": "old-versions",
            "Status": "Enabled",
            "Filter": {"Prefix": "v/"},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2},
        },
    )
    ids = [lc.s3.put_object(Bucket=bucket, Key="v/k", Body=f"v{i}".encode())["VersionId"] for i in range(5)]
    other = [lc.s3.put_object(Bucket=bucket, Key="w/k", Body=b"w")["VersionId"] for _ in range(2)]
    newest = lc.s3.head_object(Bucket=bucket, Key="v/k")["LastModified"]
    wait_until(due(newest, 1) + 1)
    report = lc.run(bucket)
    kept = [v for k, v, _ in versions(lc, bucket) if k == "v/k"]
    assert kept == [ids[4], ids[3], ids[2]]  # the current version and the two newest noncurrent ones
    assert report["noncurrent_removed"] == 2
    assert report["noncurrent_bytes"] == 4
    assert {r["version_id"] for r in report["removed"]} == {ids[0], ids[1]}
    assert [v for k, v, _ in versions(lc, bucket) if k == "w/k"] == other[::-1]


def test_expired_delete_markers_removed(lc: Lifecycle) -> None:
    bucket = new_bucket(lc, versioned=True)
    put_rules(
        lc,
        bucket,
        {
            "ID": "markers",
            "Status": "Enabled",
            "Filter": {},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
    )
    lone = lc.s3.put_object(Bucket=bucket, Key="lone", Body=b"x")["VersionId"]
    lc.s3.delete_object(Bucket=bucket, Key="lone")
    lc.s3.delete_object(Bucket=bucket, Key="lone", VersionId=lone)  # only the marker is left
    lc.s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
    lc.s3.delete_object(Bucket=bucket, Key="kept")  # a marker with a noncurrent version behind it
    report = lc.run(bucket)
    assert report["delete_markers_removed"] == 1
    assert [k for k, _, _ in versions(lc, bucket)] == ["kept", "kept"]


def test_noncurrent_and_marker_rules_together(lc: Lifecycle) -> None:
    """Once a pass removed a key's last noncurrent version, its marker is expired: removed too."""
    bucket = new_bucket(lc, versioned=True)
    put_rules(
        lc,
        bucket,
        {
            "ID": "both",
            "Status": "Enabled",
            "Filter": {},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
    )
    lc.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    marker = lc.s3.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"]
    wait_until(time.time() + 2.1)
    report = lc.run(bucket)
    assert (report["noncurrent_removed"], report["delete_markers_removed"]) == (1, 1)
    assert versions(lc, bucket) == []


def test_incomplete_uploads_aborted(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    put_rules(
        lc,
        bucket,
        {
            "ID": "mpu",
            "Status": "Enabled",
            "Filter": {"Prefix": "up/"},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
    )
    doomed = lc.s3.create_multipart_upload(Bucket=bucket, Key="up/a")["UploadId"]
    lc.s3.upload_part(Bucket=bucket, Key="up/a", UploadId=doomed, PartNumber=1, Body=b"p" * 1024)
    spared = lc.s3.create_multipart_upload(Bucket=bucket, Key="other/a")["UploadId"]
    wait_until(time.time() + 2.1)
    blobs_before = stored_blobs(lc.server)
    report = lc.run(bucket)
    assert report["uploads_aborted"] == 1
    assert report["removed"] == [
        {
            "bucket": bucket,
            "key": "up/a",
            "upload_id": doomed,
            "action": "AbortIncompleteMultipartUpload",
            "rule": "mpu",
            "size": 0,
        }
    ]
    uploads = lc.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [spared]
    assert len(stored_blobs(lc.server)) == len(blobs_before) - 1  # the part's bytes are gone


def test_abort_date_on_create_multipart_upload_and_list_parts(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    abort = "AbortIncompleteMultipartUpload"
    put_rules(
        lc,
        bucket,
        {"ID": "slow", "Status": "Enabled", "Filter": {"Prefix": "up/"}, abort: {"DaysAfterInitiation": 90}},
        {"ID": "fast", "Status": "Enabled", "Filter": {"Prefix": "up/a"}, abort: {"DaysAfterInitiation": 30}},
        {"ID": "off", "Status": "Disabled", "Filter": {}, abort: {"DaysAfterInitiation": 1}},
        {"ID": "expiry", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}},
    )
    for key, rule, days in (("up/a1", "fast", 30), ("up/b", "slow", 90)):
        created = lc.s3.create_multipart_upload(Bucket=bucket, Key=key)
        initiated = next(
            u["Initiated"]
            for u in lc.s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
            if u["UploadId"] == created["UploadId"]
        )
        expected = due(initiated, days)
        parts = lc.s3.list_parts(Bucket=bucket, Key=key, UploadId=created["UploadId"])
        for answer in (created, parts):
            assert answer["AbortRuleId"] == rule
            # An HTTP date has whole seconds, Initiated milliseconds: allow the second it may drop.
            assert abs(answer["AbortDate"].timestamp() - expected) <= 1
    other = lc.s3.create_multipart_upload(Bucket=bucket, Key="elsewhere")
    headers = other["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amz-abort-date" not in headers and "x-amz-abort-rule-id" not in headers
    parts = lc.s3.list_parts(Bucket=bucket, Key="elsewhere", UploadId=other["UploadId"])
    assert "AbortDate" not in parts and "AbortRuleId" not in parts
    plain = new_bucket(lc)
    assert "AbortDate" not in lc.s3.create_multipart_upload(Bucket=plain, Key="up/a1")


def test_disabled_rules_ignored(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    put_rules(
        lc,
        bucket,
        {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "d/"}, "Expiration": {"Days": 1}},
        {"ID": "on", "Status": "Enabled", "Filter": {"Prefix": "e/"}, "Expiration": {"Days": 1}},
    )
    lc.s3.put_object(Bucket=bucket, Key="d/1", Body=b"x")
    lc.s3.put_object(Bucket=bucket, Key="e/1", Body=b"x")
    assert "Expiration" not in lc.s3.head_object(Bucket=bucket, Key="d/1")
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="e/1")["LastModified"], 1) + 1)
    report = lc.run(bucket)
    assert keys(lc, bucket) == ["d/1"]
    assert [r["rule"] for r in report["removed"]] == ["on"]


def test_locked_versions_kept(lc: Lifecycle) -> None:
    """Object Lock outranks lifecycle: the locked version stays, the rule only hides it behind a
    marker (which a lock allows), and the pass counts what it had to keep."""
    bucket = new_bucket(lc, ObjectLockEnabledForBucket=True)
    until = datetime.now(UTC) + timedelta(days=1)
    locked = lc.s3.put_object(
        Bucket=bucket, Key="k", Body=b"keep", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until
    )["VersionId"]
    put_rules(
        lc,
        bucket,
        {
            "ID": "all",
            "Status": "Enabled",
            "Filter": {},
            "Expiration": {"Days": 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
    )
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="k")["LastModified"], 1) + 1)
    first = lc.run(bucket)
    assert first["expired"] == 1  # a delete marker in front of the locked version
    wait_until(time.time() + 2.1)
    second = lc.run(bucket)
    assert second["locked_skipped"] == 1 and second["noncurrent_removed"] == 0
    assert locked in [v for _, v, marker in versions(lc, bucket) if not marker]
    assert lc.s3.get_object(Bucket=bucket, Key="k", VersionId=locked)["Body"].read() == b"keep"


def test_admin_cli_prints_what_it_removed(lc: Lifecycle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bucket = new_bucket(lc)
    put_rules(lc, bucket, {"ID": "cli-rule", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
    lc.s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"123")
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="gone.txt")["LastModified"], 1) + 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    env.update(S3SERVER_ROOT_USER=lc.server.access_key, S3SERVER_ROOT_PASSWORD=lc.server.secret_key)
    cmd = [
        sys.executable,
        "-m",
        "s3server",
        "admin",
        "lifecycle",
        "run",
        bucket,
        "--endpoint",
        lc.server.endpoint,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["ACTION", "BUCKET", "KEY", "VERSION", "/", "UPLOAD", "RULE", "BYTES"]
    assert lines[1].split() == ["Expiration", bucket, "gone.txt", "-", "cli-rule", "3"]
    assert lines[2].startswith("1 expired (3 bytes)")
    missing = subprocess.run(
        [*cmd[:-3], "no-such-bucket-here", *cmd[-2:]], env=env, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 1 and "NotFound" in missing.stderr


def test_metrics_count_what_passes_removed(lc: Lifecycle) -> None:
    bucket = new_bucket(lc)
    put_rules(lc, bucket, {"ID": "m", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
    before = metric(lc.server, 's3_lifecycle_expired_objects_total{action="Expiration"}')
    lc.s3.put_object(Bucket=bucket, Key="m", Body=b"x" * 7)
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="m")["LastModified"], 1) + 1)
    lc.run(bucket)
    lc.run()
    assert metric(lc.server, 's3_lifecycle_expired_objects_total{action="Expiration"}') == before + 1
    assert metric(lc.server, "s3_lifecycle_pass_duration_seconds_count") >= 1


def metric(server: RunningServer, name: str) -> float:
    """A sample's value from /metrics (0 when absent)."""
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            total += float(line.split()[-1])
    return total


# -- the worker on its own: periodic, resumable, exactly once across processes


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    return request


def test_periodic_pass_applies_rules(
    backend: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lc = start(backend, tmp_path_factory, "--lifecycle-interval", "1")
    try:
        bucket = new_bucket(lc)
        put_rules(lc, bucket, {"ID": "r", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
        lc.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        wait_for(lambda: keys(lc, bucket) == [])
    finally:
        assert lc.server.stop() == 0


def test_a_saved_pass_resumes_where_it_stopped(
    backend: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A pass a stopped holder left unfinished is continued from its cursor by the next holder: keys
    up to the cursor's are left for the next pass, the rest are expired by this one."""
    lc = start(backend, tmp_path_factory)
    bucket = new_bucket(lc)
    put_rules(lc, bucket, {"ID": "r", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
    for key in ("a", "b", "c", "d"):
        lc.s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    wait_until(due(lc.s3.head_object(Bucket=bucket, Key="d")["LastModified"], 1) + 1)
    assert lc.server.stop() == 0
    cursor = {"bucket": bucket, "rule": 0, "phase": "current", "key": "b", "upload": ""}
    state = json.dumps({"finished": None, "pass": cursor})

    async def plant() -> None:
        store = lc.store()
        await store.open()
        try:
            assert await store.take_lease("lifecycle", "a-crashed-process", 0.01) is not None
            assert await store.keep_lease("lifecycle", "a-crashed-process", 0.0, state)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, plant()).result()
    extra = ["--metadata", lc.metadata_url] if lc.metadata_url else []
    again = Lifecycle(start_server(lc.server.data_dir, args=[*DAY, *extra]), lc.metadata_url)
    try:
        wait_for(lambda: sorted(keys(again, bucket)) == ["a", "b"])
        report = again.run()  # the next full pass starts over and finds the rest
        assert report["resumed"] is False and report["expired"] == 2
        assert keys(again, bucket) == []
    finally:
        assert again.server.stop() == 0


def test_two_workers_expire_each_object_once(
    backend: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Both processes try a pass every half second; the lease lets one at a time run, so every key
    of a versioned bucket gets exactly one delete marker, and the counters add up to the keys."""
    lc = start(backend, tmp_path_factory, "--workers", "2", "--lifecycle-interval", "0.5")
    count = 300
    try:
        bucket = new_bucket(lc, versioned=True)
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(lambda i: lc.s3.put_object(Bucket=bucket, Key=f"k{i:04d}", Body=b"x"), range(count))
            )
        put_rules(lc, bucket, {"ID": "once", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
        wait_for(lambda: keys(lc, bucket) == [], timeout=60)
        pages = lc.s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        markers: dict[str, int] = {}
        kept = 0
        for page in pages:
            for entry in page.get("DeleteMarkers", []):
                markers[entry["Key"]] = markers.get(entry["Key"], 0) + 1
            kept += len(page.get("Versions", []))
        assert kept == count
        assert markers == {f"k{i:04d}": 1 for i in range(count)}
        assert metric(lc.server, 's3_lifecycle_expired_objects_total{action="Expiration"}') == count
    finally:
        assert lc.server.stop() == 0
