"""The pure pieces of multipart uploads and copies: checksum composition (golden values published
with the s3-tests suite), the multipart ETag, upload ids, and x-amz-copy-source parsing."""

from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from s3server.metadata.base import Part, Upload
from s3server.s3.copy import parse_copy_source
from s3server.s3.errors import S3Error
from s3server.s3.multipart import compose_checksum, multipart_etag, new_upload_id

NOW = datetime(2026, 3, 1, tzinfo=UTC)
BIG = b"A" * (5 * 1024 * 1024)
TAIL = b"tail"

# (algorithm, type, [checksum of BIG, checksum of TAIL], object checksum)
GOLDEN = [
    ("CRC32", "COMPOSITE", ["JRTCyQ==", "fDe0XQ=="], "ar6UVw==-2"),
    ("CRC32", "FULL_OBJECT", ["JRTCyQ==", "fDe0XQ=="], "gPNU7Q=="),
    ("CRC32C", "COMPOSITE", ["MDaLrw==", "B21LrQ=="], "9nmlxg==-2"),
    ("CRC32C", "FULL_OBJECT", ["MDaLrw==", "B21LrQ=="], "LZbOwA=="),
    ("CRC64NVME", "FULL_OBJECT", ["L/E4WYn8v98=", "sAra2CkCEgw="], "UpfGsWmSCEg="),
    (
        "SHA1",
        "COMPOSITE",
        ["iIaTCGbm+vdVjNqIMF2S0T7ibMk=", "+/XyoodbO7Zbjjsj5swB1YyjBEc="],
        "l89BPfYtRdlTXZSsCsWMB0Elnjg=-2",
    ),
    (
        "SHA256",
        "COMPOSITE",
        ["275VF5loJr1YYawit0XSHREhkFXYkkPKGuoK0x9VKxI=", "DGL4du8d6oMN6fMsL0tG3W101Q0ViW4J71ovzUrH4dc="],
        "2kYaKgwMh4G97NB7sxufv13cvQqUqNgjK75WsW6s16Q=-2",
    ),
]


def upload(algorithm: str | None = None, kind: str | None = None) -> Upload:
    return Upload("b", "k", "u", NOW, checksum_algorithm=algorithm, checksum_type=kind)


def parts(algorithm: str, values: list[str]) -> list[Part]:
    return [
        Part(n, len(body), hashlib.md5(body).hexdigest(), NOW, f"blob{n}", {algorithm: value})
        for n, (body, value) in enumerate(zip((BIG, TAIL), values, strict=True), start=1)
    ]


@pytest.mark.parametrize(
    ("algorithm", "kind", "values", "expected"), GOLDEN, ids=[f"{g[0]}-{g[1]}" for g in GOLDEN]
)
def test_compose_checksum_golden(algorithm: str, kind: str, values: list[str], expected: str) -> None:
    assert compose_checksum(upload(algorithm, kind), parts(algorithm, values)) == {
        algorithm: expected,
        "type": kind,
    }


def test_full_object_crc_equals_the_crc_of_the_whole() -> None:
    chunks = [b"x" * 1000, b"y" * 17, b"", b"z" * 4096]
    listed = [
        Part(
            n,
            len(c),
            hashlib.md5(c).hexdigest(),
            NOW,
            f"b{n}",
            {"CRC32": base64.b64encode(zlib.crc32(c).to_bytes(4, "big")).decode()},
        )
        for n, c in enumerate(chunks, start=1)
    ]
    whole = base64.b64encode(zlib.crc32(b"".join(chunks)).to_bytes(4, "big")).decode()
    assert compose_checksum(upload("CRC32", "FULL_OBJECT"), listed) == {"CRC32": whole, "type": "FULL_OBJECT"}


def test_upload_without_algorithm() -> None:
    # Parts that share a CRC combine into a full-object checksum (the default CRC64NVME, usually).
    crc64 = compose_checksum(upload(), parts("CRC64NVME", ["L/E4WYn8v98=", "sAra2CkCEgw="]))
    assert crc64 == {"CRC64NVME": "UpfGsWmSCEg=", "type": "FULL_OBJECT"}
    mixed = parts("CRC32", ["JRTCyQ==", "fDe0XQ=="])
    mixed[1].checksums = {"CRC32C": "B21LrQ=="}
    assert compose_checksum(upload(), mixed) == {}
    assert compose_checksum(upload(), parts("SHA256", ["AAAA", "AAAA"])) == {}  # SHA cannot be combined


def test_multipart_etag() -> None:
    listed = parts("CRC32", ["JRTCyQ==", "fDe0XQ=="])
    digest = hashlib.md5(hashlib.md5(BIG).digest() + hashlib.md5(TAIL).digest()).hexdigest()
    assert multipart_etag(listed) == f"{digest}-2"


def test_upload_ids_sort_by_initiation() -> None:
    ids = [new_upload_id(NOW + timedelta(microseconds=i * 7919)) for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert all(len(i) == 48 and int(i, 16) >= 0 for i in ids)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bucket/key", ("bucket", "key", None)),
        ("/bucket/dir/key", ("bucket", "dir/key", None)),
        ("bucket/dir%2Fa%20b%2Bc", ("bucket", "dir/a b+c", None)),
        ("bucket/a+b", ("bucket", "a b", None)),  # '+' is a space, as AWS reads it
        ("bucket/%E2%98%83?versionId=null", ("bucket", "☃", "null")),
        ("bucket/k%3Fq?versionId=abc%2Bd", ("bucket", "k?q", "abc+d")),
    ],
)
def test_parse_copy_source(header: str, expected: tuple[str, str, str | None]) -> None:
    assert parse_copy_source(header) == expected


@pytest.mark.parametrize("header", ["", "bucket", "bucket/", "/bucket", "/", "%FF/key"])
def test_parse_copy_source_refuses(header: str) -> None:
    with pytest.raises(S3Error) as info:
        parse_copy_source(header)
    assert info.value.code == "InvalidArgument"
