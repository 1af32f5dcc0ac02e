"""Hand-built aws-chunked PUTs: every streaming mode, and every way a body can be wrong."""

from __future__ import annotations

import base64
import http.client
import os
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.support.server import RunningServer
from tests.support.signer import Signed, sign_v4, signed_chunks, unsigned_chunks

SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
CHUNKS = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(1000)]
DATA = b"".join(CHUNKS)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _sign(
    server: RunningServer, bucket: str, key: str, mode: str, decoded: int, extra: dict[str, str]
) -> Signed:
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(decoded),
        **extra,
    }
    return sign_v4(
        "PUT", f"{server.endpoint}/{bucket}/{key}", headers, mode, server.access_key, server.secret_key
    )


def send(server: RunningServer, bucket: str, key: str, signed: Signed, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {**signed.headers, "Content-Length": str(len(body))}
        headers.pop("host", None)
        conn.putrequest("PUT", f"/{bucket}/{key}", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"{parts.hostname}:{parts.port}")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def error_code(body: bytes) -> str:
    text = body.decode()
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else text


def tmp_files(server: RunningServer) -> list[Path]:
    return list((server.data_dir / "storage" / "tmp").iterdir())


def assert_absent(s3, bucket: str, key: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key=key)
    assert info.value.response["Error"]["Code"] == "404"


def test_signed_chunks_store_the_decoded_bytes(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    signed = _sign(server, bucket, "signed", SIGNED, len(DATA), {})
    status, body = send(server, bucket, "signed", signed, signed_chunks(signed, CHUNKS))
    assert status == 200, body
    got = s3.get_object(Bucket=bucket, Key="signed")
    assert got["Body"].read() == DATA
    assert "ContentEncoding" not in got  # aws-chunked is framing, not the object's encoding


def test_signed_trailer_with_checksum(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    signed = _sign(
        server, bucket, "trailer", SIGNED_TRAILER, len(DATA), {"x-amz-trailer": "x-amz-checksum-crc32"}
    )
    body = signed_chunks(signed, CHUNKS, {"x-amz-checksum-crc32": crc32_b64(DATA)})
    status, answer = send(server, bucket, "trailer", signed, body)
    assert status == 200, answer
    head = s3.head_object(Bucket=bucket, Key="trailer", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32_b64(DATA)


def test_unsigned_trailer_with_checksum(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    signed = _sign(
        server, bucket, "u", UNSIGNED_TRAILER, len(DATA), {"x-amz-trailer": "x-amz-checksum-crc32"}
    )
    status, answer = send(
        server, bucket, "u", signed, unsigned_chunks(CHUNKS, {"x-amz-checksum-crc32": crc32_b64(DATA)})
    )
    assert status == 200, answer
    assert s3.get_object(Bucket=bucket, Key="u")["Body"].read() == DATA


def _corrupt_chunk(body: bytes) -> bytes:
    i = body.index(b"\r\n") + 2 + 100  # a byte inside the first chunk's data
    return body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1 :]


def _corrupt_final_signature(body: bytes) -> bytes:
    i = body.rindex(b"0;chunk-signature=") + len(b"0;chunk-signature=")
    flipped = b"0" if body[i : i + 1] != b"0" else b"1"
    return body[:i] + flipped + body[i + 1 :]


def _truncate(body: bytes) -> bytes:
    return body[: len(body) // 2]


def _bad_header(body: bytes) -> bytes:
    return b"zz" + body[body.index(b";") :]


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (_corrupt_chunk, 403, "SignatureDoesNotMatch"),
        (_corrupt_final_signature, 403, "SignatureDoesNotMatch"),
        (_truncate, 400, "IncompleteBody"),
        (_bad_header, 400, "IncompleteBody"),
    ],
    ids=["corrupted-chunk", "corrupted-final-chunk", "truncated-body", "malformed-chunk-header"],
)
def test_bad_signed_bodies_store_nothing(
    server: RunningServer, s3, bucket: str, mutate, status: int, code: str
) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="keep", Body=b"original")
    signed = _sign(server, bucket, "keep", SIGNED, len(DATA), {})
    got_status, answer = send(server, bucket, "keep", signed, mutate(signed_chunks(signed, CHUNKS)))
    assert (got_status, error_code(answer)) == (status, code)
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"original"
    assert tmp_files(server) == []


@pytest.mark.parametrize("declared", [len(DATA) - 1, len(DATA) + 1], ids=["shorter", "longer"])
def test_wrong_decoded_length(server: RunningServer, s3, bucket: str, declared: int) -> None:  # type: ignore[no-untyped-def]
    signed = _sign(server, bucket, "len", SIGNED, declared, {})
    status, answer = send(server, bucket, "len", signed, signed_chunks(signed, CHUNKS))
    assert (status, error_code(answer)) == (400, "IncompleteBody")
    assert_absent(s3, bucket, "len")


def test_wrong_trailer_checksum(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    signed = _sign(
        server, bucket, "bad", UNSIGNED_TRAILER, len(DATA), {"x-amz-trailer": "x-amz-checksum-crc32"}
    )
    body = unsigned_chunks(CHUNKS, {"x-amz-checksum-crc32": crc32_b64(DATA + b"x")})
    status, answer = send(server, bucket, "bad", signed, body)
    assert (status, error_code(answer)) == (400, "BadDigest")
    assert b"The CRC32 you specified did not match the calculated checksum." in answer
    assert_absent(s3, bucket, "bad")


def test_wrong_trailer_signature(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    signed = _sign(server, bucket, "ts", SIGNED_TRAILER, len(DATA), {"x-amz-trailer": "x-amz-checksum-crc32"})
    body = signed_chunks(signed, CHUNKS, {"x-amz-checksum-crc32": crc32_b64(DATA)})
    i = body.rindex(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
    body = body[:i] + (b"0" if body[i : i + 1] != b"0" else b"1") + body[i + 1 :]
    status, answer = send(server, bucket, "ts", signed, body)
    assert (status, error_code(answer)) == (403, "SignatureDoesNotMatch")
    assert_absent(s3, bucket, "ts")


def test_connection_closed_mid_body_stores_nothing(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    signed = _sign(server, bucket, "cut", SIGNED, len(DATA), {})
    body = signed_chunks(signed, CHUNKS)
    parts = urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest("PUT", f"/{bucket}/cut", skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"{parts.hostname}:{parts.port}")
    for name, value in signed.headers.items():
        if name != "host":
            conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body[: len(body) // 3])
    conn.close()
    s3.put_object(Bucket=bucket, Key="after", Body=b"x")  # the server is still serving
    assert_absent(s3, bucket, "cut")


@pytest.mark.parametrize(
    ("value", "status", "code", "message"),
    [
        (
            crc32_b64(DATA + b"x"),
            400,
            "BadDigest",
            "The CRC32 you specified did not match the calculated checksum.",
        ),
        ("not base64!", 400, "InvalidRequest", "Value for x-amz-checksum-crc32 trailing header is invalid."),
        (base64.b64encode(b"\0" * 5).decode(), 400, "InvalidRequest", "trailing header is invalid."),
    ],
    ids=["wrong", "not-base64", "wrong-length"],
)
def test_bad_trailer_checksum_of_put_and_upload_part(  # type: ignore[no-untyped-def]
    server: RunningServer, s3, bucket: str, value: str, status: int, code: str, message: str
) -> None:
    """A well-formed but wrong trailing checksum is BadDigest, a malformed one InvalidRequest, on
    PutObject and UploadPart alike; neither stores anything."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    targets = {"single": "single", "part": f"mp?partNumber=1&uploadId={upload_id}"}
    for target in targets.values():
        signed = _sign(
            server, bucket, target, UNSIGNED_TRAILER, len(DATA), {"x-amz-trailer": "x-amz-checksum-crc32"}
        )
        got, answer = send(
            server, bucket, target, signed, unsigned_chunks(CHUNKS, {"x-amz-checksum-crc32": value})
        )
        assert (got, error_code(answer)) == (status, code), answer
        assert message.encode() in answer
    assert_absent(s3, bucket, "single")
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id).get("Parts", []) == []
    # The right trailer is taken for the part and kept as its checksum.
    signed = _sign(
        server,
        bucket,
        targets["part"],
        UNSIGNED_TRAILER,
        len(DATA),
        {"x-amz-trailer": "x-amz-checksum-crc32"},
    )
    body = unsigned_chunks(CHUNKS, {"x-amz-checksum-crc32": crc32_b64(DATA)})
    got, answer = send(server, bucket, targets["part"], signed, body)
    assert got == 200, answer
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ChecksumCRC32"]) for p in parts] == [(1, crc32_b64(DATA))]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)
