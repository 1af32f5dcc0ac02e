"""ListObjects (v1) and ListObjectsV2: prefix, delimiter, markers, tokens, byte order, 2,000+ key paging."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import client_error, encode_query, find_all, find_text, send
from tests.support.server import RunningServer


def utf8(value: str) -> bytes:
    return value.encode("utf-8")


def expected_listing(keys: list[str], prefix: str = "", delimiter: str = "", after: str = "") -> list[str]:
    """Keys and common prefixes (each once) a listing must return, merged in UTF-8 byte order."""
    entries: list[str] = []
    seen: set[str] = set()
    for key in sorted(keys, key=utf8):
        if not key.startswith(prefix):
            continue
        entry = key
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                entry = key[: cut + len(delimiter)]
        if entry in seen or utf8(entry) <= utf8(after):
            continue
        seen.add(entry)
        entries.append(entry)
    return entries


def split_entries(
    entries: list[str], keys: set[str], delimiter: str, prefix: str
) -> tuple[list[str], list[str]]:
    """(keys, common prefixes) of a merged expected listing."""
    out_keys, out_prefixes = [], []
    for entry in entries:
        if (
            delimiter
            and entry.endswith(delimiter)
            and entry.find(delimiter, len(prefix)) == len(entry) - len(delimiter)
        ):
            out_prefixes.append(entry)
        else:
            assert entry in keys
            out_keys.append(entry)
    return out_keys, out_prefixes


# --- a bucket of 2,000+ keys in nested folders ------------------------------------------------------

TREE_KEYS: list[str] = [f"d{i % 6}/s{(i // 6) % 7}/f{i:05d}" for i in range(2100)]
TREE_KEYS += [f"top-{i:02d}" for i in range(25)]
TREE_KEYS += [
    "d1",
    "d1+x",
    "d1.x",
    "d10",
    "d0/s0/",
    "d1/s0/with space",
    "d1/s0/a+b",
    "d1/s0/ключ",
    "d1/s0/amp&er",
    "d2/direct-file",
    "d2//double",
    "Zupper",
]
TREE_SET = set(TREE_KEYS)


@pytest.fixture(scope="module")
def tree(server: RunningServer) -> Iterator[str]:
    client = make_client(server, max_pool_connections=16)
    name = f"tree-{os.getpid()}"
    client.create_bucket(Bucket=name)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=name, Key=key, Body=key.encode()), TREE_KEYS))
    yield name
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: client.delete_object(Bucket=name, Key=key), TREE_KEYS))
    client.delete_bucket(Bucket=name)


PAGINATIONS = [
    pytest.param(100, "", "", id="page100-flat"),
    pytest.param(1000, "", "", id="page1000-flat"),
    pytest.param(100, "", "/", id="page100-root-delimiter"),
    pytest.param(3, "", "/", id="page3-root-delimiter"),
    pytest.param(1000, "", "/", id="page1000-root-delimiter"),
    pytest.param(100, "d3/", "", id="page100-prefix"),
    pytest.param(2, "d2/", "/", id="page2-prefix-delimiter"),
    pytest.param(100, "d1/s0/", "/", id="page100-deep-prefix-delimiter"),
    pytest.param(50, "d1", "/s", id="page50-multichar-delimiter"),
    pytest.param(100, "d4/s", "", id="page100-partial-prefix"),
    pytest.param(10, "nothing-here/", "/", id="empty-result"),
]


def _collect(pages: Iterator[dict], page_size: int) -> tuple[list[str], list[str], list[list[str]]]:  # type: ignore[type-arg]
    keys: list[str] = []
    prefixes: list[str] = []
    merged_pages: list[list[str]] = []
    page_list = list(pages)
    for index, page in enumerate(page_list):
        page_keys = [obj["Key"] for obj in page.get("Contents", [])]
        page_prefixes = [cp["Prefix"] for cp in page.get("CommonPrefixes", [])]
        keys += page_keys
        prefixes += page_prefixes
        merged = sorted(page_keys + page_prefixes, key=utf8)
        merged_pages.append(merged)
        last = index == len(page_list) - 1
        assert page["IsTruncated"] is (not last)
        assert len(merged) <= page_size
        if not last:
            assert len(merged) == page_size
        if "KeyCount" in page:
            assert page["KeyCount"] == len(merged)
    return keys, prefixes, merged_pages


@pytest.mark.parametrize(("page_size", "prefix", "delimiter"), PAGINATIONS)
@pytest.mark.parametrize("operation", ["list_objects_v2", "list_objects"])
def test_paginate_tree(s3, tree: str, operation: str, page_size: int, prefix: str, delimiter: str) -> None:
    paginator = s3.get_paginator(operation)
    args: dict[str, object] = {"Bucket": tree, "Prefix": prefix, "PaginationConfig": {"PageSize": page_size}}
    if delimiter:
        args["Delimiter"] = delimiter
    keys, prefixes, pages = _collect(paginator.paginate(**args), page_size)

    expected = expected_listing(TREE_KEYS, prefix, delimiter)
    expected_keys, expected_prefixes = split_entries(expected, TREE_SET, delimiter, prefix)
    assert keys == expected_keys
    assert prefixes == expected_prefixes
    assert [entry for page in pages for entry in page] == expected
    if not delimiter and not prefix:
        assert len(keys) == len(TREE_KEYS) > 2000


def test_tree_root_delimiter_shape(s3, tree: str) -> None:
    resp = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert [cp["Prefix"] for cp in resp["CommonPrefixes"]] == ["d0/", "d1/", "d2/", "d3/", "d4/", "d5/"]
    assert [o["Key"] for o in resp["Contents"]] == (
        ["Zupper", "d1", "d1+x", "d1.x", "d10"] + [f"top-{i:02d}" for i in range(25)]
    )
    assert resp["KeyCount"] == 6 + 30
    assert resp["IsTruncated"] is False


@pytest.mark.parametrize(
    ("start_after", "prefix", "delimiter"),
    [
        pytest.param("d3/", "", "", id="flat"),
        pytest.param("d1", "", "/", id="before-its-own-prefix"),
        pytest.param("d2/s3", "d2/", "/", id="inside-rolled-up-prefix"),
        pytest.param("d2/s3/", "d2/", "/", id="equal-to-common-prefix"),
        pytest.param("zzz", "", "", id="past-everything"),
    ],
)
def test_paginate_tree_start_after(s3, tree: str, start_after: str, prefix: str, delimiter: str) -> None:
    args: dict[str, object] = {
        "Bucket": tree,
        "Prefix": prefix,
        "StartAfter": start_after,
        "PaginationConfig": {"PageSize": 250},
    }
    if delimiter:
        args["Delimiter"] = delimiter
    _, _, pages = _collect(s3.get_paginator("list_objects_v2").paginate(**args), 250)
    expected = expected_listing(TREE_KEYS, prefix, delimiter, after=start_after)
    assert [entry for page in pages for entry in page] == expected


def test_v1_marker_on_tree(s3, tree: str) -> None:
    resp = s3.list_objects(Bucket=tree, Marker="d5/s6/", MaxKeys=1000)
    expected = expected_listing(TREE_KEYS, after="d5/s6/")
    assert [o["Key"] for o in resp["Contents"]] == expected


def test_max_keys_capped_at_1000(s3, tree: str) -> None:
    resp = s3.list_objects_v2(Bucket=tree, MaxKeys=5000)
    assert len(resp["Contents"]) == 1000
    assert resp["IsTruncated"] is True
    assert resp["KeyCount"] == 1000
    v1 = s3.list_objects(Bucket=tree, MaxKeys=5000)
    assert len(v1["Contents"]) == 1000
    assert v1["IsTruncated"] is True


# --- small buckets -----------------------------------------------------------------------------------

ORDER_KEYS = ["a", "B", "a+b", "a/b", "a b", "a-b", "a.b", "ä", "\uff21", "😀", "Z", "0", "a~"]
ORDER_EXPECTED = ["0", "B", "Z", "a", "a b", "a+b", "a-b", "a.b", "a/b", "a~", "ä", "\uff21", "😀"]


def test_listing_is_utf8_byte_order(server: RunningServer, s3, bucket: str) -> None:
    assert sorted(ORDER_KEYS, key=utf8) == ORDER_EXPECTED
    for key in ORDER_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ORDER_EXPECTED
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == ORDER_EXPECTED
    raw = send(server, "GET", f"/{bucket}", query="list-type=2")
    assert [el.text for el in find_all(raw.xml(), "Contents/Key")] == ORDER_EXPECTED
    paged = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1})
    assert [o["Key"] for page in paged for o in page["Contents"]] == ORDER_EXPECTED
    with_delimiter = s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="a")
    assert [o["Key"] for o in with_delimiter["Contents"]] == ["a", "a b", "a+b", "a-b", "a.b", "a~"]
    assert [cp["Prefix"] for cp in with_delimiter["CommonPrefixes"]] == ["a/"]


@pytest.fixture
def small(s3, bucket: str) -> str:
    for key in ["a/1", "a/2", "b/1", "c", "d/x/y", "e"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    return bucket


def test_v1_prefix_delimiter_marker(server: RunningServer, s3, small: str) -> None:
    resp = s3.list_objects(Bucket=small, Delimiter="/")
    assert [cp["Prefix"] for cp in resp["CommonPrefixes"]] == ["a/", "b/", "d/"]
    assert [o["Key"] for o in resp["Contents"]] == ["c", "e"]
    assert resp["Delimiter"] == "/"
    assert resp["IsTruncated"] is False
    assert "NextMarker" not in resp

    resp = s3.list_objects(Bucket=small, Prefix="a/")
    assert [o["Key"] for o in resp["Contents"]] == ["a/1", "a/2"]
    assert resp["Prefix"] == "a/"

    resp = s3.list_objects(Bucket=small, Marker="b/1")
    assert [o["Key"] for o in resp["Contents"]] == ["c", "d/x/y", "e"]
    assert resp["Marker"] == "b/1"

    resp = s3.list_objects(Bucket=small, MaxKeys=2, Delimiter="/")
    assert [cp["Prefix"] for cp in resp["CommonPrefixes"]] == ["a/", "b/"]
    assert resp["IsTruncated"] is True
    assert resp["NextMarker"] == "b/"
    assert resp["MaxKeys"] == 2
    resp = s3.list_objects(Bucket=small, MaxKeys=2, Delimiter="/", Marker="b/")
    assert [o["Key"] for o in resp["Contents"]] == ["c"]
    assert [cp["Prefix"] for cp in resp["CommonPrefixes"]] == ["d/"]
    assert resp["NextMarker"] == "d/"
    resp = s3.list_objects(Bucket=small, MaxKeys=2, Delimiter="/", Marker="d/")
    assert [o["Key"] for o in resp["Contents"]] == ["e"]
    assert resp["IsTruncated"] is False

    # Without a delimiter AWS leaves NextMarker out; clients continue from the last key.
    raw = send(server, "GET", f"/{small}", query="max-keys=2")
    root = raw.xml()
    assert find_text(root, "IsTruncated") == "true"
    assert find_text(root, "NextMarker") is None
    assert [el.text for el in find_all(root, "Contents/Key")] == ["a/1", "a/2"]
    assert all(find_text(c, "Owner/ID") for c in find_all(root, "Contents"))


def test_v2_tokens_start_after_key_count(s3, small: str) -> None:
    first = s3.list_objects_v2(Bucket=small, MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["a/1", "a/2"]
    assert first["KeyCount"] == 2
    assert first["MaxKeys"] == 2
    assert first["IsTruncated"] is True
    token = first["NextContinuationToken"]
    second = s3.list_objects_v2(Bucket=small, MaxKeys=2, ContinuationToken=token)
    assert second["ContinuationToken"] == token
    assert [o["Key"] for o in second["Contents"]] == ["b/1", "c"]
    third = s3.list_objects_v2(Bucket=small, MaxKeys=2, ContinuationToken=second["NextContinuationToken"])
    assert [o["Key"] for o in third["Contents"]] == ["d/x/y", "e"]
    assert third["IsTruncated"] is False
    assert "NextContinuationToken" not in third

    after = s3.list_objects_v2(Bucket=small, StartAfter="b")
    assert [o["Key"] for o in after["Contents"]] == ["b/1", "c", "d/x/y", "e"]
    assert after["StartAfter"] == "b"
    assert after["KeyCount"] == 4

    grouped = s3.list_objects_v2(Bucket=small, Delimiter="/", MaxKeys=3)
    assert grouped["KeyCount"] == 3
    assert [cp["Prefix"] for cp in grouped["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in grouped["Contents"]] == ["c"]
    rest = s3.list_objects_v2(
        Bucket=small, Delimiter="/", MaxKeys=3, ContinuationToken=grouped["NextContinuationToken"]
    )
    assert [cp["Prefix"] for cp in rest["CommonPrefixes"]] == ["d/"]
    assert [o["Key"] for o in rest["Contents"]] == ["e"]
    assert rest["KeyCount"] == 2


def test_v2_fetch_owner(s3, small: str) -> None:
    plain = s3.list_objects_v2(Bucket=small)
    assert all("Owner" not in o for o in plain["Contents"])
    owned = s3.list_objects_v2(Bucket=small, FetchOwner=True)
    owners = {o["Owner"]["ID"] for o in owned["Contents"]}
    assert len(owners) == 1
    assert owners == {s3.list_buckets()["Owner"]["ID"]}
    v1 = s3.list_objects(Bucket=small)
    assert all(o["Owner"]["ID"] in owners for o in v1["Contents"])


def test_listing_entries_fields(s3, small: str) -> None:
    for obj in s3.list_objects_v2(Bucket=small)["Contents"]:
        assert obj["Size"] == 1
        assert obj["StorageClass"] == "STANDARD"
        assert obj["ETag"] == '"9dd4e461268c8034f5c8564e155c67a6"'


def test_max_keys_zero(server: RunningServer, s3, small: str) -> None:
    resp = s3.list_objects_v2(Bucket=small, MaxKeys=0)
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp
    assert "CommonPrefixes" not in resp
    assert resp["MaxKeys"] == 0
    v1 = s3.list_objects(Bucket=small, MaxKeys=0)
    assert "Contents" not in v1
    raw = send(server, "GET", f"/{small}", query="list-type=2&max-keys=0")
    assert raw.status == 200
    assert find_text(raw.xml(), "KeyCount") == "0"


def test_empty_bucket_listing(s3, bucket: str) -> None:
    resp = s3.list_objects_v2(Bucket=bucket)
    assert resp["KeyCount"] == 0
    assert resp["IsTruncated"] is False
    assert "Contents" not in resp
    assert resp["Name"] == bucket


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"list-type": "2", "max-keys": "abc"}, id="v2-max-keys-text"),
        pytest.param({"list-type": "2", "max-keys": "-1"}, id="v2-max-keys-negative"),
        pytest.param({"max-keys": "1.5"}, id="v1-max-keys-fraction"),
        pytest.param({"max-keys": "-5"}, id="v1-max-keys-negative"),
        pytest.param({"list-type": "2", "continuation-token": "not a token!"}, id="token-garbage"),
        pytest.param({"list-type": "2", "continuation-token": "%%%"}, id="token-percent"),
        pytest.param({"list-type": "2", "continuation-token": ""}, id="token-empty"),
        pytest.param({"list-type": "2", "encoding-type": "xml"}, id="v2-encoding-type"),
        pytest.param({"encoding-type": "base64"}, id="v1-encoding-type"),
    ],
)
def test_invalid_listing_arguments(server: RunningServer, small: str, query: dict[str, str]) -> None:
    reply = send(server, "GET", f"/{small}", query=encode_query(query))
    assert (reply.status, reply.error_code()) == (400, "InvalidArgument"), reply.body[:400]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda s3, b: s3.list_objects_v2(Bucket=b, ContinuationToken="bogus-token!"), id="token"
        ),
        pytest.param(lambda s3, b: s3.list_objects_v2(Bucket=b, EncodingType="json"), id="encoding-type-v2"),
        pytest.param(lambda s3, b: s3.list_objects(Bucket=b, EncodingType="json"), id="encoding-type-v1"),
        pytest.param(lambda s3, b: s3.list_objects_v2(Bucket=b, MaxKeys=-1), id="max-keys-negative"),
    ],
)
def test_invalid_listing_arguments_boto3(s3, small: str, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call(s3, small)
    assert client_error(info.value) == ("InvalidArgument", 400)


@pytest.mark.parametrize("list_type", [pytest.param({}, id="v1"), pytest.param({"list-type": "2"}, id="v2")])
def test_url_encoding_is_exactly_aws(  # type: ignore[no-untyped-def]
    server: RunningServer, s3, bucket: str, list_type: dict[str, str]
) -> None:
    """AWS's encoding-type=url is form encoding: a space is "+", "+" is "%2B", "/" and "*" stay, "~"
    and every non-ASCII byte are %XX. (The keys are the s3-tests suite's encoding example.)"""
    for key in ["foo+1/bar", "foo/bar/xyzzy", "quux ab/thud", "asdf+b", "t~ilde*star é"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    query = {**list_type, "delimiter": "/", "encoding-type": "url"}
    root = send(server, "GET", f"/{bucket}", query=encode_query(query)).xml()
    assert [el.text for el in find_all(root, "Contents/Key")] == ["asdf%2Bb", "t%7Eilde*star+%C3%A9"]
    assert [el.text for el in find_all(root, "CommonPrefixes/Prefix")] == ["foo%2B1/", "foo/", "quux+ab/"]
    assert find_text(root, "Delimiter") == "/"

    paging = {**list_type, "prefix": "quux ab/", "delimiter": "+", "encoding-type": "url"}
    after = "start-after" if list_type else "marker"
    paging[after] = "quux ab/a b"
    root = send(server, "GET", f"/{bucket}", query=encode_query(paging)).xml()
    assert find_text(root, "Prefix") == "quux+ab/"
    assert find_text(root, "Delimiter") == "%2B"
    assert find_text(root, "StartAfter" if list_type else "Marker") == "quux+ab/a+b"
    assert [el.text for el in find_all(root, "Contents/Key")] == ["quux+ab/thud"]


def test_v1_next_marker_is_url_encoded(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    for key in ["a b/1", "a b/2", "c+d/3"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    query = {"delimiter": "/", "max-keys": "1", "encoding-type": "url"}
    root = send(server, "GET", f"/{bucket}", query=encode_query(query)).xml()
    assert find_text(root, "IsTruncated") == "true"
    assert find_text(root, "NextMarker") == "a+b/"
    page = s3.list_objects(Bucket=bucket, Delimiter="/", Marker="a b/")  # boto3 decodes it back
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["c+d/"]


def test_empty_continuation_token_is_invalid_argument(server: RunningServer, bucket: str) -> None:
    reply = send(server, "GET", f"/{bucket}", query="list-type=2&continuation-token=")
    assert (reply.status, reply.error_code()) == (400, "InvalidArgument")
    assert reply.xml().findtext("ArgumentName") == "continuation-token"


def test_listed_last_modified_is_the_objects_own(s3, bucket: str) -> None:
    """A listing's LastModified is the object's, for keys listed flat and for keys standing beside a
    common prefix (HEAD's Last-Modified is an HTTP date: whole seconds)."""
    for key in ["top-1", "top-2", "dir/inner", "zz"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    heads = {key: s3.head_object(Bucket=bucket, Key=key)["LastModified"] for key in ["top-1", "top-2", "zz"]}
    for delimiter in ("", "/"):
        page = s3.list_objects_v2(Bucket=bucket, Delimiter=delimiter)
        listed = {obj["Key"]: obj["LastModified"] for obj in page["Contents"]}
        for key, head in heads.items():
            assert listed[key].replace(microsecond=0) == head, (key, listed[key], head)
