"""Keys with odd characters round-trip through put, get, head, list (encoded and not) and delete."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    client_error,
    encode_query,
    find_all,
    find_text,
    object_path,
    send,
)
from tests.support.server import RunningServer

ODD_KEYS = [
    pytest.param("with space", id="space"),
    pytest.param("  leading and trailing spaces  ", id="edge-spaces"),
    pytest.param("a+b", id="plus"),
    pytest.param("100%", id="percent"),
    pytest.param("already%20encoded", id="percent-escape-literal"),
    pytest.param("this&that", id="ampersand"),
    pytest.param("what?", id="question-mark"),
    pytest.param("why?x=1&y=2", id="query-lookalike"),
    pytest.param("tag#1", id="hash"),
    pytest.param("ключ", id="cyrillic"),
    pytest.param("日本/語.txt", id="japanese"),
    pytest.param("emoji-😀-🎉", id="emoji"),
    pytest.param("a//b", id="double-slash"),
    pytest.param("folder/", id="trailing-slash"),
    pytest.param("/leading", id="leading-slash"),
    pytest.param("semi;colon,comma=equals", id="sub-delims"),
    pytest.param("quote'dquote\"", id="quotes"),
    pytest.param("<angle>&amp;", id="xml-specials"),
    pytest.param("tilde~star*paren(s)!", id="marks"),
    pytest.param("back\\slash", id="backslash"),
    pytest.param("brace{s}[brackets]|pipe^caret`", id="unsafe-ascii"),
    pytest.param("dots/./and/../parents", id="dot-segments"),
    pytest.param("café/naïve", id="latin-accents"),
    pytest.param("\uff21fullwidth", id="fullwidth"),
]

# Characters that must never appear unescaped in an encoding-type=url value.
_URL_SAFE = re.compile(r"[A-Za-z0-9\-_.~/%+*!'()]*")


def _listed_keys(server: RunningServer, bucket: str, query: dict[str, str]) -> list[str]:
    reply = send(server, "GET", f"/{bucket}", query=encode_query(query))
    assert reply.status == 200, reply.body[:500]
    return [el.text or "" for el in find_all(reply.xml(), "Contents/Key")]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_key_round_trip(server: RunningServer, s3, bucket: str, key: str) -> None:
    data = f"body of {key}".encode()
    put = s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"k": "v"})
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'

    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["Metadata"] == {"k": "v"}

    # boto3 always asks for encoding-type=url and decodes.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == [key]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]] == [key]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, StartAfter=key).get("Contents", [])] == []

    # Raw requests: without encoding-type the XML carries the key as is.
    for list_type in ({"list-type": "2"}, {}):
        assert _listed_keys(server, bucket, list_type) == [key]
        assert _listed_keys(server, bucket, {**list_type, "prefix": key}) == [key]
        encoded = _listed_keys(server, bucket, {**list_type, "encoding-type": "url"})
        assert len(encoded) == 1
        assert _URL_SAFE.fullmatch(encoded[0]), encoded[0]
        assert unquote_plus(encoded[0]) == key

    raw_get = send(server, "GET", object_path(bucket, key))
    assert (raw_get.status, raw_get.body) == (200, data)
    v2_get = send(server, "GET", object_path(bucket, key), auth="v2")
    assert (v2_get.status, v2_get.body) == (200, data)

    assert s3.delete_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key=key)
    assert client_error(info.value) == ("404", 404)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


@pytest.mark.parametrize(
    ("key", "escape"),
    [
        pytest.param("bell\x07", "%07", id="bell"),
        pytest.param("tab\tkey", "%09", id="tab"),
        pytest.param("carriage\rreturn", "%0D", id="carriage-return"),
        pytest.param("new\nline", "%0A", id="newline"),
    ],
)
def test_control_character_key_needs_url_encoding(
    server: RunningServer, s3, bucket: str, key: str, escape: str
) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"ctl")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"ctl"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    encoded = _listed_keys(server, bucket, {"list-type": "2", "encoding-type": "url"})
    assert unquote_plus(encoded[0]) == key
    assert escape in encoded[0].upper()
    s3.delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_similar_keys_coexist(s3, bucket: str) -> None:
    keys = ["a", "a/", "a/b", "a+", "a b", "a%20b", "A"]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    for i, key in enumerate(keys):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == str(i).encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * 1024, id="1024-ascii"),
        pytest.param("é" * 512, id="1024-bytes-two-byte-chars"),
        pytest.param("d/" * 511 + "xx", id="1024-nested"),
    ],
)
def test_longest_key_accepted(s3, bucket: str, key: str) -> None:
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"long"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * 1025, id="1025-ascii"),
        pytest.param("é" * 513, id="1026-bytes-513-chars"),
        pytest.param("日" * 342, id="1026-bytes-three-byte-chars"),
    ],
)
def test_key_too_long(server: RunningServer, s3, bucket: str, key: str) -> None:
    assert len(key.encode()) > 1024
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert client_error(info.value) == ("KeyTooLongError", 400)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    raw = send(server, "PUT", object_path(bucket, key), body=b"x")
    assert (raw.status, raw.error_code()) == (400, "KeyTooLongError")


def test_encoded_listing_fields(server: RunningServer, s3, bucket: str) -> None:
    keys = ["dir one/a+b", "dir one/c&d", "dir one/sub dir/x", "top level"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    query = {
        "list-type": "2",
        "prefix": "dir one/",
        "delimiter": "/",
        "start-after": "dir one/a",
        "encoding-type": "url",
    }
    root = send(server, "GET", f"/{bucket}", query=encode_query(query)).xml()
    assert find_text(root, "EncodingType") == "url"
    assert find_text(root, "Prefix") == "dir+one/"
    assert unquote_plus(find_text(root, "StartAfter") or "") == "dir one/a"
    assert find_text(root, "Delimiter") == "/"
    assert [unquote_plus(el.text or "") for el in find_all(root, "Contents/Key")] == [
        "dir one/a+b",
        "dir one/c&d",
    ]
    assert [unquote_plus(el.text or "") for el in find_all(root, "CommonPrefixes/Prefix")] == [
        "dir one/sub dir/"
    ]

    unencoded = {k: v for k, v in query.items() if k != "encoding-type"}
    root = send(server, "GET", f"/{bucket}", query=encode_query(unencoded)).xml()
    assert find_text(root, "EncodingType") is None
    assert find_text(root, "Prefix") == "dir one/"
    assert [el.text for el in find_all(root, "Contents/Key")] == ["dir one/a+b", "dir one/c&d"]
    assert [el.text for el in find_all(root, "CommonPrefixes/Prefix")] == ["dir one/sub dir/"]

    v1 = {
        "prefix": "dir one/",
        "delimiter": "/",
        "marker": "dir one/a+b",
        "max-keys": "1",
        "encoding-type": "url",
    }
    root = send(server, "GET", f"/{bucket}", query=encode_query(v1)).xml()
    # AWS encodes a space as "+" and "+" as "%2B" (clients decode with unquote_plus).
    assert find_text(root, "Marker") == "dir+one/a%2Bb"
    assert [unquote_plus(el.text or "") for el in find_all(root, "Contents/Key")] == ["dir one/c&d"]
    assert unquote_plus(find_text(root, "NextMarker") or "") == "dir one/c&d"
