"""ListBuckets, CreateBucket (naming rules, location), HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, find_all, find_text, send
from tests.support.server import RunningServer

_names = itertools.count()


def fresh_name(tag: str = "b") -> str:
    return f"{tag}-{os.getpid()}-{next(_names)}"


BAD_NAMES = [
    pytest.param("ab", id="too-short"),
    pytest.param("a" * 64, id="too-long"),
    pytest.param("UpperCase", id="uppercase"),
    pytest.param("under_score", id="underscore"),
    pytest.param("192.168.5.4", id="ip-address"),
    pytest.param("double..dot", id="double-dot"),
    pytest.param("-leading-dash", id="leading-dash"),
    pytest.param("trailing-dash-", id="trailing-dash"),
    pytest.param(".leading-dot", id="leading-dot"),
    pytest.param("trailing-dot.", id="trailing-dot"),
    pytest.param("xn--punycode", id="xn-prefix"),
    pytest.param("dash-.dot", id="dash-dot"),
    pytest.param("dot.-dash", id="dot-dash"),
    pytest.param("10.0.0.01", id="ip-address-leading-zero"),
    pytest.param("sthree-name", id="sthree-prefix"),
    pytest.param("sthree-configurator", id="sthree-configurator"),
    pytest.param("amzn-s3-demo-bucket", id="amzn-s3-demo-prefix"),
    pytest.param("name-s3alias", id="s3alias-suffix"),
    pytest.param("name--ol-s3", id="ol-s3-suffix"),
    pytest.param("name.mrap", id="mrap-suffix"),
    pytest.param("name--table-s3", id="table-s3-suffix"),
]
# Names botocore refuses before sending (or, for --x-s3, sends to a directory-bucket endpoint),
# so they go out as raw requests.
RAW_BAD_NAMES = [
    pytest.param("name--x-s3", id="x-s3-suffix"),
    pytest.param("bad%20name", id="space"),
    pytest.param("caf%C3%A9", id="non-ascii"),
    pytest.param("a%23b", id="hash"),
    pytest.param("a" * 64 + "b" * 200, id="very-long"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_bucket_invalid_name(s3, name: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=name)
    assert client_error(info.value) == ("InvalidBucketName", 400)


@pytest.mark.parametrize("raw", RAW_BAD_NAMES)
def test_create_bucket_invalid_name_raw(server: RunningServer, raw: str) -> None:
    reply = send(server, "PUT", f"/{raw}")
    assert (reply.status, reply.error_code()) == (400, "InvalidBucketName")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("abc", id="three-chars"),
        pytest.param("a" * 63, id="sixty-three-chars"),
        pytest.param("with.dots.and-dashes1", id="dots-dashes"),
        pytest.param("1numeric-start", id="digit-first"),
        pytest.param("xn-one-dash", id="xn-single-dash"),
        pytest.param("sthree", id="sthree-without-dash"),
        pytest.param("s3alias-first", id="s3alias-not-suffix"),
        pytest.param("mrap.name", id="mrap-not-suffix"),
        pytest.param("192.168.5.a", id="ip-like-with-letter"),
        pytest.param("1.2.3", id="three-numbers"),
        pytest.param("a-b--c", id="double-dash"),
    ],
)
def test_create_bucket_valid_name_edges(s3, name: str) -> None:
    suffix = f"{os.getpid() % 1000}"
    full = name if len(name) == 63 else (name + suffix)[:63]
    s3.create_bucket(Bucket=full)
    try:
        s3.head_bucket(Bucket=full)
    finally:
        s3.delete_bucket(Bucket=full)


def test_list_buckets_shows_created_bucket(s3, bucket: str) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    resp = s3.list_buckets()
    entries = {b["Name"]: b for b in resp["Buckets"]}
    assert bucket in entries
    created = entries[bucket]["CreationDate"]
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=5)
    assert resp["Owner"]["ID"]
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_list_buckets_sorted_by_name(s3) -> None:
    names = [fresh_name("zz"), fresh_name("aa"), fresh_name("mm")]
    for name in names:
        s3.create_bucket(Bucket=name)
    try:
        listed = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert set(names) <= set(listed)
        assert listed == sorted(listed)
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)


def test_create_bucket_returns_location(s3) -> None:
    name = fresh_name()
    resp = s3.create_bucket(Bucket=name)
    try:
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert resp["Location"] == f"/{name}"
    finally:
        s3.delete_bucket(Bucket=name)


def test_create_bucket_twice_is_already_owned(s3, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=bucket)
    assert client_error(info.value) == ("BucketAlreadyOwnedByYou", 409)


@pytest.mark.parametrize(
    ("constraint", "reported"),
    [
        pytest.param("eu-west-1", "eu-west-1", id="eu-west-1"),
        pytest.param("ap-southeast-2", "ap-southeast-2", id="ap-southeast-2"),
    ],
)
def test_create_bucket_with_location_constraint(s3, constraint: str, reported: str) -> None:
    name = fresh_name("loc")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": constraint})
    try:
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == reported
        head = s3.head_bucket(Bucket=name)
        assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == reported
    finally:
        s3.delete_bucket(Bucket=name)


def test_get_bucket_location_default_region_is_empty(server: RunningServer, s3, bucket: str) -> None:
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    reply = send(server, "GET", f"/{bucket}", query="location")
    assert reply.status == 200
    root = reply.xml()
    assert root.tag.endswith("LocationConstraint")
    assert not (root.text or "").strip()


def test_get_bucket_location_missing_bucket(s3) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_bucket_location(Bucket=fresh_name("missing"))
    assert client_error(info.value) == ("NoSuchBucket", 404)


def test_head_bucket(s3, bucket: str) -> None:
    resp = s3.head_bucket(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"


def test_head_bucket_missing_is_404(s3) -> None:
    with pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=fresh_name("missing"))
    assert client_error(info.value) == ("404", 404)


def test_delete_bucket_lifecycle(s3) -> None:
    name = fresh_name("del")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="keep", Body=b"x")
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=name)
    assert client_error(info.value) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="keep")
    resp = s3.delete_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=name)
    assert client_error(info.value) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=name)
    assert client_error(info.value) == ("404", 404)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_bucket_missing(s3) -> None:
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=fresh_name("never"))
    assert client_error(info.value) == ("NoSuchBucket", 404)


def test_list_buckets_raw_xml(server: RunningServer, bucket: str) -> None:
    reply = send(server, "GET", "/")
    assert reply.status == 200
    root = reply.xml()
    assert root.tag.endswith("ListAllMyBucketsResult")
    assert find_text(root, "Owner/ID")
    names = [el.text for el in find_all(root, "Buckets/Bucket/Name")]
    assert bucket in names
    dates = [el.text or "" for el in find_all(root, "Buckets/Bucket/CreationDate")]
    assert dates and all(d.endswith("Z") and "." in d for d in dates)


def test_create_bucket_malformed_configuration(server: RunningServer) -> None:
    name = fresh_name("bad-xml")
    reply = send(server, "PUT", f"/{name}", body=b"<CreateBucketConfiguration><oops")
    assert (reply.status, reply.error_code()) == (400, "MalformedXML")
    missing = send(server, "HEAD", f"/{name}")
    assert missing.status == 404


def test_get_bucket_versioning_of_a_never_versioned_bucket(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in answer and "MFADelete" not in answer
    with pytest.raises(ClientError) as info:
        s3.get_bucket_versioning(Bucket=bucket + "-missing")
    assert info.value.response["Error"]["Code"] == "NoSuchBucket"
