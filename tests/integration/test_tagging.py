"""Object tags against the live server: Put/Get/DeleteObjectTagging, x-amz-tagging on PutObject /
CreateMultipartUpload / CopyObject, x-amz-tagging-count, the limits, and that a tag change never
touches the object's bytes."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, object_path, send
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer


def tag_set(tags: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def error_of(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return client_error(info.value)


def test_put_get_delete_tagging(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    etag = s3.put_object(Bucket=bucket, Key="obj", Body=b"bytes stay")["ETag"]
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == []
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="obj")
    blobs = stored_blobs(server)

    tags = {"project": "blue", "ünï cödé": "välue 日本", "empty": "", "sym_.:/=+-@": "x y"}
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging=tag_set(tags))
    got = s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"]
    assert got == [{"Key": k, "Value": tags[k]} for k in sorted(tags)]  # in key order
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "4"
    assert s3.get_object(Bucket=bucket, Key="obj")["TagCount"] == 4
    # A tag change is metadata only: same ETag, same bytes, same blob.
    assert head["ETag"] == etag and stored_blobs(server) == blobs
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"bytes stay"

    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging=tag_set({"only": "one"}))  # replaces the set
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == [{"Key": "only", "Value": "one"}]
    reply = s3.delete_object_tagging(Bucket=bucket, Key="obj")
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == []
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="obj")
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging=tag_set({"a": "1"}))
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": []})  # an empty set clears the tags
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == []
    assert stored_blobs(server) == blobs

    for call in (
        lambda: s3.get_object_tagging(Bucket=bucket, Key="missing"),
        lambda: s3.put_object_tagging(Bucket=bucket, Key="missing", Tagging=tag_set({"a": "1"})),
        lambda: s3.delete_object_tagging(Bucket=bucket, Key="missing"),
    ):
        assert error_of(call) == ("NoSuchKey", 404)
    assert error_of(lambda: s3.get_object_tagging(Bucket="no-such-bucket-here", Key="x")) == (
        "NoSuchBucket",
        404,
    )


def test_tagging_header_on_writes(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="put", Body=b"x", Tagging="a=1&b=two+words&c&d=%3D%2B%40")
    expected = [
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "two words"},
        {"Key": "c", "Value": ""},
        {"Key": "d", "Value": "=+@"},
    ]
    assert s3.get_object_tagging(Bucket=bucket, Key="put")["TagSet"] == expected

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mpu", Tagging="k=v")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload_id, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mpu",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="mpu")["TagSet"] == [{"Key": "k", "Value": "v"}]
    assert (
        s3.head_object(Bucket=bucket, Key="mpu")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"]
        == "1"
    )


LIMIT_CASES = [
    ({f"k{i}": "v" for i in range(11)}, "BadRequest"),  # AWS's answer to an 11th tag
    ({"k" * 129: "v"}, "InvalidTag"),
    ({"k": "v" * 257}, "InvalidTag"),
    ({"\U00010400" * 65: "v"}, "InvalidTag"),  # 130 UTF-16 code units: S3 counts them, not characters
    ({"k": "snow ☃"}, "InvalidTag"),  # a symbol, outside letters, digits, spaces and _.:/=+-@
    ({"bad[chars]": "v"}, "InvalidTag"),
    ({"k": "bad{value}"}, "InvalidTag"),
    ({"aws:reserved": "v"}, "InvalidTag"),
]


@pytest.mark.parametrize(
    ("tags", "code"),
    LIMIT_CASES,
    ids=["eleven", "key129", "value257", "utf16", "symbol", "key-chars", "value-chars", "aws-prefix"],
)
def test_tag_limits(s3, bucket: str, tags: dict[str, str], code: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    assert error_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging=tag_set(tags))) == (
        code,
        400,
    )
    header = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items())
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x", Tagging=header)) == (code, 400)
    assert error_of(lambda: s3.create_multipart_upload(Bucket=bucket, Key="new", Tagging=header)) == (
        code,
        400,
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == []
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="new")) == ("404", 404)


def test_tags_at_the_limits_are_accepted(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    tags = {f"{i}" + "k" * 127: "v" * 256 for i in range(10)}
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging=tag_set(tags))
    assert len(s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"]) == 10
    # U+10400 is a letter outside the BMP: two UTF-16 code units each.
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging=tag_set({"\U00010400" * 64: "\U00010400" * 128}))


def tagging_body(xml: str) -> tuple[bytes, dict[str, str]]:
    body = xml.encode()
    return body, {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def test_tagging_documents_and_headers(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    path = object_path(bucket, "obj")
    duplicate = (
        "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag>"
        "</TagSet></Tagging>"
    )
    for xml, code in (
        (duplicate, "InvalidTag"),
        ("<Tagging></Tagging>", "MalformedXML"),
        ("<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>", "MalformedXML"),
        ("<Tags><TagSet/></Tags>", "MalformedXML"),
        ("not xml", "MalformedXML"),
    ):
        body, headers = tagging_body(xml)
        reply = send(server, "PUT", path, query="tagging", body=body, headers=headers)
        assert (reply.status, reply.error_code()) == (400, code), xml
    body, _ = tagging_body("<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>")
    reply = send(server, "PUT", path, query="tagging", body=body)
    assert (reply.status, reply.error_code()) == (400, "InvalidRequest")  # no Content-MD5 nor checksum
    ns = (
        '<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key><Value>1</Value>'
        "</Tag></TagSet></Tagging>"
    )
    body, headers = tagging_body(ns)
    assert send(server, "PUT", path, query="tagging", body=body, headers=headers).status == 200

    for header, code in (("a=1&a=2", "InvalidArgument"), ("a=b=c", "InvalidArgument"), ("=v", "InvalidTag")):
        reply = send(server, "PUT", object_path(bucket, "hdr"), body=b"x", headers={"x-amz-tagging": header})
        assert (reply.status, reply.error_code()) == (400, code), header
