"""Flexible checksums with boto3 as users run it: default settings and every algorithm, over HTTP
(checksum in a header) and HTTPS (aws-chunked body with the checksum in a trailer)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zlib

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.support.server import RunningServer

DATA = os.urandom(3 * 1024 * 1024 + 17)


def expected(algorithm: str, data: bytes) -> str:
    raw = {
        "CRC32": lambda: zlib.crc32(data).to_bytes(4, "big"),
        "CRC32C": lambda: crt.crc32c(data).to_bytes(4, "big"),
        "CRC64NVME": lambda: crt.crc64nvme(data).to_bytes(8, "big"),
        "SHA1": lambda: hashlib.sha1(data).digest(),
        "SHA256": lambda: hashlib.sha256(data).digest(),
    }[algorithm]()
    return base64.b64encode(raw).decode()


@pytest.fixture(params=["http", "https"])
def client_and_bucket(request: pytest.FixtureRequest, server: RunningServer, tls_server: RunningServer):  # type: ignore[no-untyped-def]
    running = server if request.param == "http" else tls_server
    s3 = make_client(running)
    name = f"ck-{request.param}-{os.getpid()}-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=name)
    sent: list[dict[str, str]] = []
    s3.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: sent.append({k.lower(): v for k, v in request.headers.items()}),
    )
    yield s3, name, sent, request.param
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def _value(headers: dict[str, str], name: str) -> str:
    value = headers.get(name, "")
    return value.decode() if isinstance(value, bytes) else value


def test_default_settings_send_crc32_and_it_is_kept(client_and_bucket) -> None:  # type: ignore[no-untyped-def]
    s3, bucket, sent, scheme = client_and_bucket
    s3.put_object(Bucket=bucket, Key="default", Body=io.BytesIO(DATA))
    if scheme == "https":  # the trailer path is really exercised
        assert _value(sent[-1], "x-amz-trailer") == "x-amz-checksum-crc32"
        assert _value(sent[-1], "x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    got = s3.get_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert got["Body"].read() == DATA
    assert got["ChecksumCRC32"] == expected("CRC32", DATA)
    assert got["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_each_algorithm(client_and_bucket, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    s3, bucket, _, _ = client_and_bucket
    put = s3.put_object(Bucket=bucket, Key=algorithm, Body=io.BytesIO(DATA), ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected(algorithm, DATA)
    head = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected(algorithm, DATA)
    assert head["ChecksumType"] == "FULL_OBJECT"
    attrs = s3.get_object_attributes(
        Bucket=bucket, Key=algorithm, ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"]
    )
    assert attrs["Checksum"][f"Checksum{algorithm}"] == expected(algorithm, DATA)
    assert attrs["ObjectSize"] == len(DATA)
    assert attrs["ETag"] == hashlib.md5(DATA).hexdigest()
    assert attrs["StorageClass"] == "STANDARD"


def test_object_without_checksum_gets_crc64nvme(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    plain = make_client(server, request_checksum_calculation="when_required")
    plain.put_object(Bucket=bucket, Key="plain", Body=b"abc")
    head = s3.head_object(Bucket=bucket, Key="plain", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == expected("CRC64NVME", b"abc")


def test_range_get_carries_no_checksum(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789", ChecksumAlgorithm="SHA256")
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=2-4", ChecksumMode="ENABLED")
    assert part["Body"].read() == b"234"
    assert "ChecksumSHA256" not in part


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_wrong_header_checksum_is_bad_digest(s3, bucket: str, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        s3.put_object(
            Bucket=bucket, Key="x", Body=b"abc", **{f"Checksum{algorithm}": expected(algorithm, b"abd")}
        )
    error = info.value.response["Error"]
    assert error["Code"] == "BadDigest"
    assert error["Message"] == f"The {algorithm} you specified did not match the calculated checksum."
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="x")


def test_malformed_checksum_value_is_invalid_request(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="x", Body=b"abc", ChecksumCRC32="not-base64!")
    assert info.value.response["Error"]["Code"] == "InvalidRequest"
    assert "x-amz-checksum-crc32" in info.value.response["Error"]["Message"]


def test_get_object_attributes_errors(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert info.value.response["Error"]["Code"] == "NoSuchKey"
