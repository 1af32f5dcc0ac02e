"""Conditional writes against the live server: If-None-Match: * and If-Match on PutObject,
CompleteMultipartUpload and CopyObject, including racing writers of which exactly one may win."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, object_path, send
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer

RACERS = 32


def error_of(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return client_error(info.value)


def test_put_if_none_match(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="new", Body=b"first", IfNoneMatch="*")
    before = stored_blobs(server)
    reply = send(server, "PUT", object_path(bucket, "new"), body=b"second", headers={"If-None-Match": "*"})
    assert (reply.status, reply.error_code()) == (412, "PreconditionFailed")
    assert reply.xml().findtext("Condition") == "If-None-Match"
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"first"
    assert stored_blobs(server) == before  # the refused body left nothing behind
    # Only `*` is defined for writes.
    reply = send(server, "PUT", object_path(bucket, "other"), body=b"x", headers={"If-None-Match": '"abc"'})
    assert (reply.status, reply.error_code()) == (501, "NotImplemented")


def test_put_if_match(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    etag2 = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=etag)) == (
        "PreconditionFailed",
        412,
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=etag2.strip('"'))  # unquoted works too
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag)) == (
        "NoSuchKey",
        404,
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v3"


def _race(calls: list) -> list[int]:  # type: ignore[type-arg]
    start = threading.Barrier(len(calls))

    def run(call) -> int:  # type: ignore[no-untyped-def]
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_racing_if_none_match_puts_have_one_winner(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    before = stored_blobs(server)
    bodies = [os.urandom(256 * 1024) + bytes([i]) for i in range(RACERS)]

    def put(body: bytes):  # type: ignore[no-untyped-def]
        return lambda: (
            send(
                server, "PUT", object_path(bucket, "contested"), body=body, headers={"If-None-Match": "*"}
            ).status
        )

    statuses = _race([put(body) for body in bodies])
    assert statuses.count(200) == 1, statuses
    assert statuses.count(412) == RACERS - 1, statuses
    winner = bodies[statuses.index(200)]
    got = s3.get_object(Bucket=bucket, Key="contested")
    assert got["Body"].read() == winner and got["ETag"] == f'"{hashlib.md5(winner).hexdigest()}"'
    assert len(stored_blobs(server) - before) == 1  # the losers' bytes are gone


def test_racing_if_match_puts_have_one_winner_per_etag(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """Compare-and-swap: 32 writers all holding the same ETag; the first to commit changes it, so
    exactly one succeeds and 31 are refused. A second round on the winner's ETag again has one
    winner."""
    etag = s3.put_object(Bucket=bucket, Key="cas", Body=b"v0")["ETag"]
    before = stored_blobs(server)
    for round_ in range(2):
        bodies = [f"round {round_} writer {i}".encode() for i in range(RACERS)]

        def put(body: bytes, etag: str = etag):  # type: ignore[no-untyped-def]
            return lambda: (
                send(server, "PUT", object_path(bucket, "cas"), body=body, headers={"If-Match": etag}).status
            )

        statuses = _race([put(body) for body in bodies])
        assert statuses.count(200) == 1, statuses
        assert statuses.count(412) == RACERS - 1, statuses
        winner = bodies[statuses.index(200)]
        got = s3.get_object(Bucket=bucket, Key="cas")
        assert got["Body"].read() == winner
        etag = got["ETag"]
        assert etag == f'"{hashlib.md5(winner).hexdigest()}"'
    # Only the last winner's bytes are kept: the original, the first winner and every loser are gone.
    after = stored_blobs(server)
    assert len(after - before) == 1 and len(before - after) == 1


def _upload(s3, bucket: str, key: str, body: bytes) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=body)["ETag"]
    return upload_id, etag


def _complete_body(etag: str) -> bytes:
    return (
        f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
        "</CompleteMultipartUpload>".encode()
    )


def test_complete_multipart_upload_conditions(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="taken", Body=b"existing")
    upload_id, etag = _upload(s3, bucket, "taken", b"part")
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    assert error_of(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="taken", UploadId=upload_id, MultipartUpload=parts, IfNoneMatch="*"
        )
    ) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="taken")["Body"].read() == b"existing"
    # A refused Complete leaves the upload in progress.
    assert len(s3.list_parts(Bucket=bucket, Key="taken", UploadId=upload_id)["Parts"]) == 1
    assert error_of(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="taken", UploadId=upload_id, MultipartUpload=parts, IfMatch='"0000"'
        )
    ) == ("PreconditionFailed", 412)
    current = s3.head_object(Bucket=bucket, Key="taken")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="taken", UploadId=upload_id, MultipartUpload=parts, IfMatch=current
    )
    assert s3.get_object(Bucket=bucket, Key="taken")["Body"].read() == b"part"

    fresh_id, fresh_etag = _upload(s3, bucket, "fresh", b"new")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="fresh",
        UploadId=fresh_id,
        IfNoneMatch="*",
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": fresh_etag}]},
    )
    missing_id, missing_etag = _upload(s3, bucket, "missing", b"x")
    assert error_of(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key="missing",
            UploadId=missing_id,
            IfMatch=fresh_etag,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": missing_etag}]},
        )
    ) == ("NoSuchKey", 404)


def test_racing_completes_have_one_winner(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    uploads = [_upload(s3, bucket, "raced", f"body {i}".encode()) for i in range(8)]

    def complete(upload_id: str, etag: str):  # type: ignore[no-untyped-def]
        return lambda: (
            send(
                server,
                "POST",
                object_path(bucket, "raced"),
                query=f"uploadId={upload_id}",
                body=_complete_body(etag),
                headers={"If-None-Match": "*"},
            ).status
        )

    statuses = _race([complete(u, e) for u, e in uploads])
    assert sorted(statuses) == [200] + [412] * 7, statuses
    winner = statuses.index(200)
    assert s3.get_object(Bucket=bucket, Key="raced")["Body"].read() == f"body {winner}".encode()
    remaining = {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert remaining == {u for i, (u, _) in enumerate(uploads) if i != winner}
    for upload_id, _ in uploads:
        if upload_id in remaining:
            s3.abort_multipart_upload(Bucket=bucket, Key="raced", UploadId=upload_id)


def test_copy_object_conditions_on_the_destination(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    dest_etag = s3.put_object(Bucket=bucket, Key="dst", Body=b"dest")["ETag"]
    assert error_of(
        lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfNoneMatch="*")
    ) == ("PreconditionFailed", 412)
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfMatch=dest_etag)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source"
    s3.copy_object(Bucket=bucket, Key="new", CopySource=f"{bucket}/src", IfNoneMatch="*")
