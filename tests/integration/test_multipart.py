"""Multipart uploads against the live server: real clients (boto3 transfers, aws cli), every error AWS
names for them, ListParts / ListMultipartUploads pagination, GET by part number, checksums composed
from parts, and that no part blob outlives the upload or object that owned it."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, find_all, find_text, object_path, send
from tests.support.blobs import eventually, stored_blobs
from tests.support.server import RunningServer, start_server

MiB = 1024 * 1024
PART = 5 * MiB
BIG = b"A" * PART  # the s3-tests suite's 5 MiB part, whose checksums are published
TAIL = b"tail"


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(*parts: bytes) -> str:
    return f'"{md5_hex(b"".join(hashlib.md5(p).digest() for p in parts))}-{len(parts)}"'


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            piece = os.urandom(min(4 * MiB, left))
            fh.write(piece)
            left -= len(piece)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The large inputs, generated once for the module."""
    root = tmp_path_factory.mktemp("multipart-files")
    made = {"200m": root / "200m.bin", "100m": root / "100m.bin"}
    write_random(made["200m"], 200 * MiB + 12345)
    write_random(made["100m"], 100 * MiB + 7)
    yield made
    for path in made.values():
        path.unlink(missing_ok=True)


def start(s3, bucket: str, key: str = "key", **extra: object) -> str:  # type: ignore[no-untyped-def]
    return s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]


def put_part(
    s3, bucket: str, upload_id: str, number: int, body: bytes, key: str = "key", **extra: object
) -> str:  # type: ignore[no-untyped-def]
    answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **extra)
    return answer["ETag"]


def complete(
    s3, bucket: str, upload_id: str, parts: list[tuple[int, str]], key: str = "key", **extra: object
):  # type: ignore[no-untyped-def]
    return s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
        **extra,
    )


def complete_raw(
    server: RunningServer,
    bucket: str,
    upload_id: str,
    body: bytes,
    key: str = "key",
    headers: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    return send(
        server, "POST", object_path(bucket, key), query=f"uploadId={upload_id}", body=body, headers=headers
    )


def document(parts: list[tuple[int | str, str]], extra: str = "") -> bytes:
    items = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag>{extra}</Part>" for n, e in parts)
    return f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{items}</CompleteMultipartUpload>'.encode()


def error_of(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return client_error(info.value)


# -- real clients


@pytest.mark.slow
def test_boto3_upload_file_and_download_file_200mib(
    s3, bucket: str, files: dict[str, Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = files["200m"]
    transfer = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=10)
    s3.upload_file(str(source), bucket, "big/file.bin", Config=transfer)
    head = s3.head_object(Bucket=bucket, Key="big/file.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == source.stat().st_size
    parts = -(-source.stat().st_size // (8 * MiB))
    assert head["ETag"].endswith(f'-{parts}"')
    # boto3 asks for CRC32 parts by default: the object's checksum is composed from them.
    assert head["ChecksumCRC32"].endswith(f"-{parts}") and head["ChecksumType"] == "COMPOSITE"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big/file.bin", str(target), Config=transfer)
    assert md5_file(target) == md5_file(source)


@pytest.mark.slow
def test_aws_cli_cp_100mib_up_and_down(
    aws_cli, s3, bucket: str, files: dict[str, Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = files["100m"]
    aws_cli("s3", "cp", str(source), f"s3://{bucket}/cli/100m.bin")
    head = s3.head_object(Bucket=bucket, Key="cli/100m.bin")
    assert head["ContentLength"] == source.stat().st_size
    assert "-" in head["ETag"]  # the cli uploaded it in parts
    target = tmp_path / "cli-back.bin"
    aws_cli("s3", "cp", f"s3://{bucket}/cli/100m.bin", str(target))
    assert md5_file(target) == md5_file(source)


# -- assembling an object


def test_object_has_the_upload_metadata_and_the_listed_parts(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    before = stored_blobs(server)
    upload_id = start(
        s3,
        bucket,
        ContentType="text/x-test",
        Metadata={"color": "blue"},
        CacheControl="max-age=60",
        Tagging="a=1&b=two%20words",
        StorageClass="STANDARD_IA",
    )
    second = os.urandom(PART)
    etags = {1: put_part(s3, bucket, upload_id, 1, BIG), 5: put_part(s3, bucket, upload_id, 5, second)}
    put_part(s3, bucket, upload_id, 7, b"left out")
    put_part(s3, bucket, upload_id, 9, b"an earlier part 9")
    etags[9] = put_part(s3, bucket, upload_id, 9, TAIL)  # a part sent again replaces the first one
    assert etags[9] == f'"{md5_hex(TAIL)}"'
    listed = s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (1, etags[1], PART),
        (5, etags[5], PART),
        (7, f'"{md5_hex(b"left out")}"', 8),
        (9, etags[9], 4),
    ]
    assert len(stored_blobs(server) - before) == 4  # the replaced part 9 is gone already
    initiated = s3.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["Initiated"]

    # Quoted and unquoted entity tags are both accepted.
    done = complete(s3, bucket, upload_id, [(1, etags[1]), (5, etags[5].strip('"')), (9, etags[9])])
    assert done["ETag"] == multipart_etag(BIG, second, TAIL)
    assert done["Key"] == "key" and done["Bucket"] == bucket
    assert done["Location"].endswith(f"/{bucket}/key")
    # The object points at the part blobs; part 7, left out, lost its blob.
    assert len(stored_blobs(server) - before) == 3

    got = s3.get_object(Bucket=bucket, Key="key")
    assert got["Body"].read() == BIG + second + TAIL
    assert got["ContentType"] == "text/x-test" and got["Metadata"] == {"color": "blue"}
    assert got["CacheControl"] == "max-age=60" and got["StorageClass"] == "STANDARD_IA"
    assert got["TagCount"] == 2 and got["ETag"] == done["ETag"]
    assert got["LastModified"] == initiated.replace(microsecond=0)  # AWS dates it by the upload's start
    tags = s3.get_object_tagging(Bucket=bucket, Key="key")["TagSet"]
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "two words"}]
    assert s3.get_object(Bucket=bucket, Key="key", Range=f"bytes={PART - 2}-{PART + 1}")["Body"].read() == (
        BIG[-2:] + second[:2]
    )
    assert error_of(lambda: s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id)) == (
        "NoSuchUpload",
        404,
    )

    s3.delete_object(Bucket=bucket, Key="key")
    assert stored_blobs(server) == before


def test_get_and_head_by_part_number(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    upload_id = start(s3, bucket)
    second = os.urandom(PART)
    etags = [put_part(s3, bucket, upload_id, n, body) for n, body in ((1, BIG), (2, second), (3, TAIL))]
    etag = complete(s3, bucket, upload_id, list(zip((1, 2, 3), etags, strict=True)))["ETag"]
    size = 2 * PART + 4
    for number, start_at, body in ((1, 0, BIG), (2, PART, second), (3, 2 * PART, TAIL)):
        got = s3.get_object(Bucket=bucket, Key="key", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {start_at}-{start_at + len(body) - 1}/{size}"
        assert got["PartsCount"] == 3 and got["ETag"] == etag and got["ContentLength"] == len(body)
        assert got["Body"].read() == body
        head = s3.head_object(Bucket=bucket, Key="key", PartNumber=number)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["ContentLength"] == len(body) and head["PartsCount"] == 3

    reply = send(server, "GET", object_path(bucket, "key"), query="partNumber=4")
    assert (reply.status, reply.error_code()) == (416, "InvalidPartNumber")
    assert reply.xml().findtext("PartNumberRequested") == "4"
    assert reply.xml().findtext("ActualPartCount") == "3"
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="key", PartNumber=4))[1] == 416
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="key", PartNumber=1, Range="bytes=0-1")) == (
        "InvalidRequest",
        400,
    )
    for bad in ("0", "10001", "x"):
        reply = send(server, "GET", object_path(bucket, "key"), query=f"partNumber={bad}")
        assert (reply.status, reply.error_code()) == (400, "InvalidArgument")

    # An object uploaded in one piece is one part.
    s3.put_object(Bucket=bucket, Key="single", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206 and got["Body"].read() == b"0123456789"
    assert got["ContentRange"] == "bytes 0-9/10" and "PartsCount" not in got
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="single", PartNumber=2)) == (
        "InvalidPartNumber",
        416,
    )


def test_complete_refusals_leave_the_upload_in_progress(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    upload_id = start(s3, bucket)
    one, two, three = (
        put_part(s3, bucket, upload_id, n, body) for n, body in ((1, b"one"), (2, b"two"), (3, b"three"))
    )
    cases = [
        ("unknown part", document([(4, one)]), "InvalidPart", 400),
        ("part above 10000", document([(10001, one)]), "InvalidPart", 400),
        ("another part's etag", document([(1, two)]), "InvalidPart", 400),
        ("empty etag", document([(1, "")]), "InvalidPart", 400),
        ("descending", document([(2, two), (1, one)]), "InvalidPartOrder", 400),
        ("same part twice", document([(1, one), (1, one)]), "InvalidPartOrder", 400),
        ("small part not last", document([(1, one), (3, three)]), "EntityTooSmall", 400),
        ("part number 0", document([(0, one)]), "InvalidArgument", 400),
        ("no document", b"", "MalformedXML", 400),
        ("not xml", b"PartNumber=1", "MalformedXML", 400),
        (
            "other root",
            b"<Parts><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Parts>",
            "MalformedXML",
            400,
        ),
        ("no parts", document([]), "MalformedXML", 400),
        (
            "part without number",
            b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
            "MalformedXML",
            400,
        ),
        (
            "part without etag",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            "MalformedXML",
            400,
        ),
        ("number not a number", document([("one", one)]), "MalformedXML", 400),
    ]
    for name, body, code, status in cases:
        reply = complete_raw(server, bucket, upload_id, body)
        assert (reply.status, reply.error_code()) == (status, code), name
    reply = complete_raw(server, bucket, upload_id, document([(1, one), (3, three)]))
    root = reply.xml()
    assert [root.findtext(f) for f in ("ProposedSize", "MinSizeAllowed", "PartNumber")] == [
        "3",
        str(PART),
        "1",
    ]
    reply = complete_raw(server, bucket, upload_id, document([(4, one)]))
    assert reply.xml().findtext("UploadId") == upload_id and reply.xml().findtext("PartNumber") == "4"
    assert len(s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id)["Parts"]) == 3
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="key")) == ("404", 404)

    # The last part may be small, even empty; one part alone is fine.
    done = complete(s3, bucket, upload_id, [(3, three)])
    assert done["ETag"] == multipart_etag(b"three")
    assert s3.get_object(Bucket=bucket, Key="key")["Body"].read() == b"three"


def test_no_such_upload_everywhere(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="source", Body=b"0123456789")
    other = start(s3, bucket, "another")
    aborted = start(s3, bucket)
    s3.abort_multipart_upload(Bucket=bucket, Key="key", UploadId=aborted)
    completed = start(s3, bucket)
    etag = put_part(s3, bucket, completed, 1, b"one")
    complete(s3, bucket, completed, [(1, etag)])

    def calls(upload_id: str) -> list:  # type: ignore[type-arg]
        return [
            lambda: put_part(s3, bucket, upload_id, 1, b"one"),
            lambda: s3.upload_part_copy(
                Bucket=bucket, Key="key", UploadId=upload_id, PartNumber=1, CopySource=f"{bucket}/source"
            ),
            lambda: s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id),
            lambda: complete(s3, bucket, upload_id, [(1, etag)]),
            lambda: s3.abort_multipart_upload(Bucket=bucket, Key="key", UploadId=upload_id),
        ]

    for upload_id in ("0" * 48, other, aborted, completed):
        for call in calls(upload_id):
            assert error_of(call) == ("NoSuchUpload", 404)
    reply = send(server, "GET", object_path(bucket, "key"), query=f"uploadId={other}")
    assert reply.xml().findtext("UploadId") == other
    for call in (
        lambda: start(s3, "no-such-bucket-here"),
        lambda: s3.list_multipart_uploads(Bucket="no-such-bucket-here"),
        lambda: put_part(s3, "no-such-bucket-here", other, 1, b"x"),
        lambda: s3.abort_multipart_upload(Bucket="no-such-bucket-here", Key="key", UploadId=other),
    ):
        assert error_of(call) == ("NoSuchBucket", 404)


def test_upload_part_verifies_what_it_receives(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    upload_id = start(s3, bucket)
    before = stored_blobs(server)
    for bad in ("0", "10001", "-1", "1.5", "one", ""):
        reply = send(
            server,
            "PUT",
            object_path(bucket, "key"),
            query=f"partNumber={bad}&uploadId={upload_id}",
            body=b"data",
        )
        assert (reply.status, reply.error_code()) == (400, "InvalidArgument"), bad
        assert reply.xml().findtext("ArgumentName") == "partNumber"
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert error_of(lambda: put_part(s3, bucket, upload_id, 1, b"data", ContentMD5=wrong_md5)) == (
        "BadDigest",
        400,
    )
    wrong_crc = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    assert error_of(lambda: put_part(s3, bucket, upload_id, 1, b"data", ChecksumCRC32=wrong_crc)) == (
        "BadDigest",
        400,
    )
    reply = send(
        server,
        "PUT",
        object_path(bucket, "key"),
        query=f"partNumber=1&uploadId={upload_id}",
        body=b"data",
        payload_hash=hashlib.sha256(b"other").hexdigest(),
    )
    assert (reply.status, reply.error_code()) == (400, "XAmzContentSHA256Mismatch")
    assert stored_blobs(server) == before  # nothing left behind by refused parts
    assert s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id).get("Parts", []) == []
    right_md5 = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    assert put_part(s3, bucket, upload_id, 1, b"data", ContentMD5=right_md5) == f'"{md5_hex(b"data")}"'


def test_abort_removes_the_upload_and_its_parts(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    before = stored_blobs(server)
    upload_id = start(s3, bucket)
    other = start(s3, bucket)
    for number in (1, 2):
        put_part(s3, bucket, upload_id, number, os.urandom(1000))
    put_part(s3, bucket, other, 1, b"other")
    assert len(stored_blobs(server) - before) == 3
    reply = send(server, "DELETE", object_path(bucket, "key"), query=f"uploadId={upload_id}")
    assert reply.status == 204 and reply.body == b""
    assert len(stored_blobs(server) - before) == 1
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [other]
    assert error_of(lambda: s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id)) == (
        "NoSuchUpload",
        404,
    )
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="key")) == ("NoSuchKey", 404)
    s3.abort_multipart_upload(Bucket=bucket, Key="key", UploadId=other)
    assert stored_blobs(server) == before


def test_delete_bucket_takes_uploads_in_progress(s3, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    before = stored_blobs(server)
    name = f"mpu-doomed-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    upload_id = start(s3, name)
    put_part(s3, name, upload_id, 1, b"one")
    s3.put_object(Bucket=name, Key="obj", Body=b"x")
    assert error_of(lambda: s3.delete_bucket(Bucket=name)) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="obj")
    s3.delete_bucket(Bucket=name)  # as on AWS, an upload in progress does not keep the bucket alive
    assert error_of(lambda: s3.list_parts(Bucket=name, Key="key", UploadId=upload_id)) == (
        "NoSuchBucket",
        404,
    )
    assert stored_blobs(server) == before


# -- listings


def test_list_parts_pages(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    upload_id = start(s3, bucket, "folder/key", StorageClass="ONEZONE_IA")
    empty = s3.list_parts(Bucket=bucket, Key="folder/key", UploadId=upload_id)
    assert empty.get("Parts", []) == [] and not empty["IsTruncated"]
    assert empty["PartNumberMarker"] == 0 and empty["NextPartNumberMarker"] == 0 and empty["MaxParts"] == 1000
    assert empty["StorageClass"] == "ONEZONE_IA" and empty["Initiator"] == empty["Owner"]
    assert len(empty["Owner"]["ID"]) == 64 and empty["Owner"]["DisplayName"]
    for number in (8, 1, 5, 3, 2):
        put_part(s3, bucket, upload_id, number, b"x" * number, key="folder/key")

    pages = []
    for marker, maximum in ((0, 2), (2, 2), (5, 2), (8, 2), (3, 0)):
        page = s3.list_parts(
            Bucket=bucket, Key="folder/key", UploadId=upload_id, MaxParts=maximum, PartNumberMarker=marker
        )
        numbers = [p["PartNumber"] for p in page.get("Parts", [])]
        pages.append((marker, numbers, page["NextPartNumberMarker"], page["IsTruncated"]))
    assert pages == [
        (0, [1, 2], 2, True),
        (2, [3, 5], 5, True),
        (5, [8], 8, False),
        (8, [], 8, False),
        (3, [], 3, False),
    ]
    everything = s3.list_parts(Bucket=bucket, Key="folder/key", UploadId=upload_id, MaxParts=5000)
    assert [p["Size"] for p in everything["Parts"]] == [1, 2, 3, 5, 8] and everything["MaxParts"] == 1000
    walked = [
        p["PartNumber"]
        for page in s3.get_paginator("list_parts").paginate(
            Bucket=bucket, Key="folder/key", UploadId=upload_id, PaginationConfig={"PageSize": 2}
        )
        for p in page.get("Parts", [])
    ]
    assert walked == [1, 2, 3, 5, 8]
    for name, value in (("max-parts", "-1"), ("max-parts", "two"), ("part-number-marker", "x")):
        reply = send(
            server, "GET", object_path(bucket, "folder/key"), query=f"uploadId={upload_id}&{name}={value}"
        )
        assert (reply.status, reply.error_code()) == (400, "InvalidArgument")
        assert reply.xml().findtext("ArgumentName") == name


def test_list_multipart_uploads(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    empty = s3.list_multipart_uploads(Bucket=bucket)
    assert empty.get("Uploads", []) == [] and not empty["IsTruncated"] and empty["MaxUploads"] == 1000
    keys = ["b", "c d", "a/2", "b", "a/1"]
    ids = [start(s3, bucket, key) for key in keys]
    b1, cd, a2, b2, a1 = ids
    everything = [a1, a2, b1, b2, cd]  # by key, then by the time the upload started

    def listed(**params: object) -> tuple[list[str], list[str], dict[str, object]]:
        page = s3.list_multipart_uploads(Bucket=bucket, **params)
        uploads = [u["UploadId"] for u in page.get("Uploads", [])]
        prefixes = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        return uploads, prefixes, page

    uploads, _, page = listed()
    assert uploads == everything and page["NextKeyMarker"] == "c d" and page["NextUploadIdMarker"] == cd
    assert page["Uploads"][0]["Key"] == "a/1" and page["Uploads"][0]["StorageClass"] == "STANDARD"
    assert listed(Prefix="a/")[:2] == ([a1, a2], [])
    assert listed(Delimiter="/")[:2] == ([b1, b2, cd], ["a/"])
    uploads, _, page = listed(MaxUploads=3)
    assert uploads == [a1, a2, b1] and page["IsTruncated"]
    assert (page["NextKeyMarker"], page["NextUploadIdMarker"]) == ("b", b1)
    assert listed(KeyMarker="b", UploadIdMarker=b1)[0] == [b2, cd]
    assert listed(KeyMarker="b")[0] == [cd]
    assert listed(UploadIdMarker=b1)[0] == everything  # ignored without a key marker
    uploads, prefixes, page = listed(Delimiter="/", MaxUploads=1)
    assert (uploads, prefixes, page["IsTruncated"], page["NextKeyMarker"]) == ([], ["a/"], True, "a/")
    assert listed(Delimiter="/", MaxUploads=1, KeyMarker="a/")[0] == [b1]

    walked = [
        u["UploadId"]
        for page in s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}
        )
        for u in page.get("Uploads", [])
    ]
    assert walked == everything

    reply = send(server, "GET", f"/{bucket}", query="uploads&encoding-type=url&key-marker=b%20%2A")
    root = reply.xml()
    assert [k.text for k in find_all(root, "Upload/Key")] == ["c+d"]
    assert find_text(root, "KeyMarker") == "b+*" and find_text(root, "EncodingType") == "url"
    reply = send(server, "GET", f"/{bucket}", query="uploads&max-uploads=-1")
    assert (reply.status, reply.error_code()) == (400, "InvalidArgument")
    reply = send(server, "GET", f"/{bucket}", query="uploads&encoding-type=base64")
    assert (reply.status, reply.error_code()) == (400, "InvalidArgument")
    for upload_id, key in zip(ids, keys, strict=True):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


# -- UploadPartCopy


def test_upload_part_copy(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    source = BIG + b"0123456789"
    s3.put_object(Bucket=bucket, Key="folder/the source+", Body=source)
    upload_id = start(s3, bucket)
    copies = [
        (
            1,
            {
                "CopySource": {"Bucket": bucket, "Key": "folder/the source+"},
                "CopySourceRange": f"bytes=0-{PART - 1}",
            },
            BIG,
        ),
        (2, {"CopySource": f"{bucket}/folder/the source+"}, source),  # boto3 encodes a string source
    ]
    etags = {}
    for number, args, content in copies:
        result = s3.upload_part_copy(Bucket=bucket, Key="key", UploadId=upload_id, PartNumber=number, **args)
        assert result["CopyPartResult"]["ETag"] == f'"{md5_hex(content)}"'
        etags[number] = result["CopyPartResult"]["ETag"]
    # Sent as is: '/' encoded, a leading slash, and '+' read as a space, as AWS reads it.
    reply = send(
        server,
        "PUT",
        object_path(bucket, "key"),
        query=f"partNumber=4&uploadId={upload_id}",
        headers={
            "x-amz-copy-source": f"/{bucket}/folder%2Fthe+source%2B",
            "x-amz-copy-source-range": f"bytes={PART + 2}-{PART + 5}",
        },
    )
    assert reply.status == 200, reply.body
    assert find_text(reply.xml(), "ETag") == f'"{md5_hex(b"2345")}"'
    etags[4] = find_text(reply.xml(), "ETag") or ""
    etags[3] = put_part(s3, bucket, upload_id, 3, os.urandom(PART))
    done = complete(s3, bucket, upload_id, sorted(etags.items()))
    body = s3.get_object(Bucket=bucket, Key="key")["Body"].read()
    assert body[:PART] == BIG and body[PART : 2 * PART + 10] == source and body.endswith(b"2345")
    assert done["ETag"].endswith('-4"')

    upload_id = start(s3, bucket)
    bad_ranges = ["0-2", "bytes=0", "bytes=-2", "bytes=a-z", "bytes=0-2,3-5"]
    for value in bad_ranges:
        code = error_of(
            lambda v=value: s3.upload_part_copy(  # type: ignore[misc]
                Bucket=bucket,
                Key="key",
                UploadId=upload_id,
                PartNumber=1,
                CopySource=f"{bucket}/folder/the source+",
                CopySourceRange=v,
            )
        )
        assert code == ("InvalidArgument", 400), value
    for value in (f"bytes=0-{len(source)}", f"bytes={len(source)}-{len(source) + 2}", "bytes=5-2"):
        reply = send(
            server,
            "PUT",
            object_path(bucket, "key"),
            query=f"partNumber=1&uploadId={upload_id}",
            headers={
                "x-amz-copy-source": f"{bucket}/folder/the%20source%2B",
                "x-amz-copy-source-range": value,
            },
        )
        assert (reply.status, reply.error_code()) == (400, "InvalidArgument"), value
        assert (
            reply.xml().findtext("Message")
            == f"Range specified is not valid for source object of size: {len(source)}"
        )
    assert error_of(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="key", UploadId=upload_id, PartNumber=1, CopySource=f"{bucket}/missing"
        )
    ) == ("NoSuchKey", 404)
    assert error_of(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="key", UploadId=upload_id, PartNumber=1, CopySource="no-such-bucket-here/x"
        )
    ) == ("NoSuchBucket", 404)
    assert error_of(
        lambda: s3.upload_part_copy(
            Bucket=bucket,
            Key="key",
            UploadId=upload_id,
            PartNumber=1,
            CopySource=f"{bucket}/folder/the source+",
            CopySourceIfMatch='"0123"',
        )
    ) == ("PreconditionFailed", 412)
    assert s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id).get("Parts", []) == []
    s3.abort_multipart_upload(Bucket=bucket, Key="key", UploadId=upload_id)


# -- checksums


# CRC32/CRC32C/CRC64NVME/SHA of a 5 MiB part of "A" and of "tail", and the object checksums AWS
# composes from them (published with the s3-tests suite and cross-checked with zlib / awscrt).
CHECKSUM_CASES = [
    ("CRC32", None, "COMPOSITE", ["JRTCyQ==", "fDe0XQ=="], "ar6UVw==-2"),
    ("CRC32", "FULL_OBJECT", "FULL_OBJECT", ["JRTCyQ==", "fDe0XQ=="], "gPNU7Q=="),
    ("CRC32C", "COMPOSITE", "COMPOSITE", ["MDaLrw==", "B21LrQ=="], "9nmlxg==-2"),
    ("CRC32C", "FULL_OBJECT", "FULL_OBJECT", ["MDaLrw==", "B21LrQ=="], "LZbOwA=="),
    ("CRC64NVME", None, "FULL_OBJECT", ["L/E4WYn8v98=", "sAra2CkCEgw="], "UpfGsWmSCEg="),
    (
        "SHA1",
        None,
        "COMPOSITE",
        ["iIaTCGbm+vdVjNqIMF2S0T7ibMk=", "+/XyoodbO7Zbjjsj5swB1YyjBEc="],
        "l89BPfYtRdlTXZSsCsWMB0Elnjg=-2",
    ),
    (
        "SHA256",
        None,
        "COMPOSITE",
        ["275VF5loJr1YYawit0XSHREhkFXYkkPKGuoK0x9VKxI=", "DGL4du8d6oMN6fMsL0tG3W101Q0ViW4J71ovzUrH4dc="],
        "2kYaKgwMh4G97NB7sxufv13cvQqUqNgjK75WsW6s16Q=-2",
    ),
]


@pytest.mark.parametrize(
    ("algorithm", "requested", "kind", "part_values", "object_value"),
    CHECKSUM_CASES,
    ids=[f"{c[0]}-{c[2]}" for c in CHECKSUM_CASES],
)
def test_object_checksum_is_composed_from_the_parts(  # type: ignore[no-untyped-def]
    s3,
    bucket: str,
    algorithm: str,
    requested: str | None,
    kind: str,
    part_values: list[str],
    object_value: str,
) -> None:
    extra = {"ChecksumAlgorithm": algorithm, **({"ChecksumType": requested} if requested else {})}
    created = s3.create_multipart_upload(Bucket=bucket, Key="key", **extra)
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == (algorithm, kind)
    upload_id = created["UploadId"]
    field = f"Checksum{algorithm}"
    parts = []
    for number, (content, value) in enumerate(zip((BIG, TAIL), part_values, strict=True), start=1):
        answer = s3.upload_part(
            Bucket=bucket,
            Key="key",
            UploadId=upload_id,
            PartNumber=number,
            Body=content,
            ChecksumAlgorithm=algorithm,
        )
        assert answer[field] == value
        parts.append({"PartNumber": number, "ETag": answer["ETag"], field: value})
    listed = s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id)
    assert [p[field] for p in listed["Parts"]] == part_values
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (algorithm, kind)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="key", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert (done[field], done["ChecksumType"]) == (object_value, kind)
    head = s3.head_object(Bucket=bucket, Key="key", ChecksumMode="ENABLED")
    assert (head[field], head["ChecksumType"]) == (object_value, kind)
    assert s3.get_object(Bucket=bucket, Key="key", ChecksumMode="ENABLED")["Body"].read() == BIG + TAIL


def test_checksum_rules_of_uploads(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    def create_error(headers: dict[str, str]) -> tuple[int, str | None, str | None]:
        reply = send(server, "POST", object_path(bucket, "key"), query="uploads", headers=headers)
        return reply.status, reply.error_code(), reply.error_message()

    type_only = "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
    assert create_error({"x-amz-checksum-algorithm": "SHA1", "x-amz-checksum-type": "FULL_OBJECT"}) == (
        400,
        "InvalidRequest",
        "The FULL_OBJECT checksum type cannot be used with the sha1 checksum algorithm.",
    )
    assert create_error({"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"}) == (
        400,
        "InvalidRequest",
        "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.",
    )
    assert create_error({"x-amz-checksum-type": "COMPOSITE"}) == (400, "InvalidRequest", type_only)
    assert create_error({"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "PARTS"})[:2] == (
        400,
        "InvalidRequest",
    )
    assert create_error({"x-amz-checksum-algorithm": "MD4"})[:2] == (400, "InvalidRequest")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    upload_id = start(s3, bucket, ChecksumAlgorithm="SHA256")
    sha = {c: base64.b64encode(hashlib.sha256(c).digest()).decode() for c in (b"one", b"two")}
    crc = base64.b64encode(zlib.crc32(b"one").to_bytes(4, "big")).decode()
    assert error_of(lambda: put_part(s3, bucket, upload_id, 1, b"one", ChecksumSHA256=sha[b"two"])) == (
        "BadDigest",
        400,
    )
    # A correct checksum of another algorithm than the upload's.
    assert error_of(lambda: put_part(s3, bucket, upload_id, 1, b"one", ChecksumCRC32=crc)) == (
        "InvalidRequest",
        400,
    )
    etag = put_part(s3, bucket, upload_id, 1, b"one", ChecksumSHA256=sha[b"one"])
    element = f"<ChecksumSHA256>{sha[b'one']}</ChecksumSHA256>"
    composite = base64.b64encode(hashlib.sha256(hashlib.sha256(b"one").digest()).digest()).decode() + "-1"
    refused = [
        (document([(1, etag)], f"<ChecksumSHA256>{sha[b'two']}</ChecksumSHA256>"), {}, "InvalidPart"),
        (document([(1, etag)], f"<ChecksumCRC32>{crc}</ChecksumCRC32>"), {}, "InvalidPart"),
        (document([(1, etag)]), {}, "InvalidRequest"),  # the part's checksum is required
        (document([(2, etag)], element), {}, "InvalidPart"),
        (document([(1, etag)], element), {"x-amz-checksum-sha256": sha[b"one"]}, "BadDigest"),
        (document([(1, etag)], element), {"x-amz-checksum-type": "FULL_OBJECT"}, "BadDigest"),
        (document([(1, etag)], element), {"x-amz-checksum-crc32": crc}, "InvalidRequest"),
        (document([(1, etag)], element), {"x-amz-mp-object-size": "4"}, "InvalidRequest"),
    ]
    for body, headers, code in refused:
        reply = complete_raw(server, bucket, upload_id, body, headers=headers)
        assert (reply.status, reply.error_code()) == (400, code), (headers, body)
    reply = complete_raw(
        server,
        bucket,
        upload_id,
        document([(1, etag)], element),
        headers={
            "x-amz-checksum-sha256": composite,
            "x-amz-checksum-type": "COMPOSITE",
            "x-amz-mp-object-size": "3",
        },
    )
    assert reply.status == 200, reply.body
    assert find_text(reply.xml(), "ChecksumSHA256") == composite


def test_upload_without_checksum_gets_full_object_crc64nvme(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    upload_id = start(s3, bucket)
    etags = []
    for number, content in ((1, BIG), (2, TAIL)):
        reply = send(
            server,
            "PUT",
            object_path(bucket, "key"),
            query=f"partNumber={number}&uploadId={upload_id}",
            body=content,
        )
        assert reply.status == 200
        etags.append(reply.headers["ETag"])
    done = complete(s3, bucket, upload_id, [(1, etags[0]), (2, etags[1])])
    assert (done["ChecksumCRC64NVME"], done["ChecksumType"]) == ("UpfGsWmSCEg=", "FULL_OBJECT")


# -- the upload reaper


def test_reaper_aborts_abandoned_uploads(tmp_path: Path) -> None:
    import boto3
    from botocore.config import Config

    # 0.0003 h ≈ 1 s: uploads older than that are aborted, checked every second.
    running = start_server(tmp_path / "data", env={"S3SERVER_UPLOAD_EXPIRY": "0.0003"})
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=running.endpoint,
            aws_access_key_id=running.access_key,
            aws_secret_access_key=running.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        s3.create_bucket(Bucket="reaped")
        upload_id = start(s3, "reaped")
        put_part(s3, "reaped", upload_id, 1, b"abandoned", key="key")
        s3.put_object(Bucket="reaped", Key="kept", Body=b"an object is never reaped")
        assert len(stored_blobs(running)) == 2
        assert eventually(lambda: s3.list_multipart_uploads(Bucket="reaped").get("Uploads", []) == [])
        assert eventually(lambda: len(stored_blobs(running)) == 1)
        assert error_of(lambda: s3.list_parts(Bucket="reaped", Key="key", UploadId=upload_id)) == (
            "NoSuchUpload",
            404,
        )
        assert s3.get_object(Bucket="reaped", Key="kept")["Body"].read() == b"an object is never reaped"
    finally:
        assert running.stop() == 0


def _crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def test_reuploaded_part_and_object_parts_checksums(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """A part uploaded again with other bytes replaces the first one with its checksum; the completed
    object's ETag and checksum come from the latest parts, and GetObjectAttributes lists every
    part's checksum, page by page."""
    upload_id = start(s3, bucket, ChecksumAlgorithm="CRC32")
    first = b"B" * PART
    bodies = [BIG, b"C" * PART, TAIL]
    for number, body in enumerate([BIG, first, TAIL], 1):
        put_part(s3, bucket, upload_id, number, body, ChecksumAlgorithm="CRC32")
    answer = s3.upload_part(
        Bucket=bucket, Key="key", UploadId=upload_id, PartNumber=2, Body=bodies[1], ChecksumAlgorithm="CRC32"
    )
    b64 = [base64.b64encode(_crc32(body)).decode() for body in bodies]
    assert answer["ChecksumCRC32"] == b64[1]
    listed = s3.list_parts(Bucket=bucket, Key="key", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["ChecksumCRC32"]) for p in listed] == [
        (n, f'"{md5_hex(body)}"', b64[n - 1]) for n, body in enumerate(bodies, 1)
    ]
    parts = [
        {"PartNumber": n, "ETag": f'"{md5_hex(body)}"', "ChecksumCRC32": b64[n - 1]}
        for n, body in enumerate(bodies, 1)
    ]
    # The replaced part's ETag and checksum no longer name part 2.
    stale = [parts[0], {**parts[1], "ETag": f'"{md5_hex(first)}"'}, parts[2]]
    stale_sum = [parts[0], {**parts[1], "ChecksumCRC32": base64.b64encode(_crc32(first)).decode()}, parts[2]]
    for document in (stale, stale_sum):
        assert error_of(
            lambda document=document: s3.complete_multipart_upload(
                Bucket=bucket, Key="key", UploadId=upload_id, MultipartUpload={"Parts": document}
            )
        ) == ("InvalidPart", 400)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="key", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    composite = base64.b64encode(_crc32(b"".join(_crc32(body) for body in bodies))).decode() + "-3"
    assert (done["ETag"], done["ChecksumCRC32"]) == (multipart_etag(*bodies), composite)
    assert s3.get_object(Bucket=bucket, Key="key")["Body"].read() == b"".join(bodies)

    attrs = s3.get_object_attributes(
        Bucket=bucket, Key="key", ObjectAttributes=["ObjectParts", "Checksum", "ETag"], MaxParts=2
    )
    assert attrs["ETag"] == multipart_etag(*bodies).strip('"')
    assert attrs["Checksum"] == {"ChecksumCRC32": composite, "ChecksumType": "COMPOSITE"}
    page = attrs["ObjectParts"]
    assert (page["TotalPartsCount"], page["MaxParts"], page["IsTruncated"], page["NextPartNumberMarker"]) == (
        3,
        2,
        True,
        2,
    )
    expected = [
        {"PartNumber": n, "Size": len(body), "ChecksumCRC32": b64[n - 1]} for n, body in enumerate(bodies, 1)
    ]
    assert page["Parts"] == expected[:2]
    rest = s3.get_object_attributes(
        Bucket=bucket, Key="key", ObjectAttributes=["ObjectParts"], MaxParts=2, PartNumberMarker=2
    )["ObjectParts"]
    assert (rest["PartNumberMarker"], rest["IsTruncated"], rest["Parts"]) == (2, False, expected[2:])
