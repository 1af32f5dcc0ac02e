"""DeleteObjects against the live server: per-key results, Quiet mode, the 1000-key limit, the
integrity header AWS requires, malformed documents, and that deleted keys lose their blobs."""

from __future__ import annotations

import base64
import hashlib
import zlib
from xml.sax.saxutils import escape

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import S3_NS, client_error, send
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer


def delete_document(keys: list[str], quiet: bool = False, versions: dict[str, str] | None = None) -> bytes:
    items = []
    for key in keys:
        version = (versions or {}).get(key)
        extra = f"<VersionId>{version}</VersionId>" if version else ""
        items.append(f"<Object><Key>{escape(key).replace(chr(13), '&#13;')}</Key>{extra}</Object>")
    quiet_element = "<Quiet>true</Quiet>" if quiet else ""
    return f"<Delete>{quiet_element}{''.join(items)}</Delete>".encode()


def md5_header(body: bytes) -> dict[str, str]:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def post_delete(server: RunningServer, bucket: str, body: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return send(
        server,
        "POST",
        f"/{bucket}",
        query="delete",
        body=body,
        headers=md5_header(body) if headers is None else headers,
    )


def test_delete_objects_reports_each_key(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    before = stored_blobs(server)
    keys = ["a", "dir/b", "ünïcödé ☃", "with space+plus", "amp&lt<gt>", "tab\there"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert len(stored_blobs(server) - before) == len(keys)
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in [*keys, "never-existed"]]}
    )
    # A key that never existed is reported deleted too: deletes are idempotent.
    assert [d["Key"] for d in result["Deleted"]] == [*keys, "never-existed"]
    assert "Errors" not in result
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert stored_blobs(server) == before


def test_carriage_return_in_a_key(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """XML turns a literal CR into LF, so AWS tells clients to send it as &#13;."""
    s3.put_object(Bucket=bucket, Key="carriage\rreturn", Body=b"x")
    reply = post_delete(server, bucket, delete_document(["carriage\rreturn"]))
    assert reply.status == 200
    assert reply.xml().findtext(f"{S3_NS}Deleted/{S3_NS}Key") == "carriage\rreturn"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_quiet_mode_reports_errors_only(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x"}, {"Key": "y"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    body = delete_document(["z", "v"], quiet=True, versions={"v": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"})
    reply = post_delete(server, bucket, body)
    assert reply.status == 200
    root = reply.xml()
    assert root.tag == f"{S3_NS}DeleteResult"
    assert root.findall(f"{S3_NS}Deleted") == []
    errors = root.findall(f"{S3_NS}Error")
    assert [(e.findtext(f"{S3_NS}Key"), e.findtext(f"{S3_NS}Code")) for e in errors] == [
        ("v", "NoSuchVersion")
    ]
    assert errors[0].findtext(f"{S3_NS}VersionId") == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"

    loud = post_delete(server, bucket, delete_document(["z", "n"], versions={"n": "null"}))
    deleted = loud.xml().findall(f"{S3_NS}Deleted")
    assert [(d.findtext(f"{S3_NS}Key"), d.findtext(f"{S3_NS}VersionId")) for d in deleted] == [
        ("z", None),
        ("n", "null"),
    ]


def test_thousand_keys_and_no_more(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    present = [f"k{i:04d}" for i in range(0, 1000, 100)]
    for key in present:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    keys = [f"k{i:04d}" for i in range(1000)]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert [d["Key"] for d in result["Deleted"]] == keys  # in request order
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    reply = post_delete(server, bucket, delete_document([*keys, "one-too-many"]))
    assert (reply.status, reply.error_code()) == (400, "MalformedXML")
    with pytest.raises(ClientError) as info:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in [*keys, "one-too-many"]]})
    assert client_error(info.value) == ("MalformedXML", 400)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<Delete></Delete>",
        b"<Remove><Object><Key>a</Key></Object></Remove>",
        b"<Delete><Object><VersionId>null</VersionId></Object></Delete>",
        b"<Delete><Object><Key></Key></Object></Delete>",
        b'<!DOCTYPE d [<!ENTITY e "x">]><Delete><Object><Key>&e;</Key></Object></Delete>',
    ],
    ids=["empty", "not-xml", "no-objects", "other-root", "no-key", "empty-key", "entity"],
)
def test_malformed_documents(server: RunningServer, bucket: str, body: bytes) -> None:
    reply = post_delete(server, bucket, body)
    assert (reply.status, reply.error_code()) == (400, "MalformedXML")


def test_integrity_header_is_required(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
    body = delete_document(["kept"])
    reply = post_delete(server, bucket, body, headers={})
    assert (reply.status, reply.error_code()) == (400, "InvalidRequest")
    assert reply.error_message() == "Missing required header for this request: Content-MD5"
    # Naming an algorithm without a value does not count as a checksum.
    reply = post_delete(server, bucket, body, headers={"x-amz-sdk-checksum-algorithm": "CRC32"})
    assert (reply.status, reply.error_code()) == (400, "InvalidRequest")

    wrong = md5_header(b"something else")
    assert post_delete(server, bucket, body, headers=wrong).error_code() == "BadDigest"
    crc = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    assert (
        post_delete(server, bucket, body, headers={"x-amz-checksum-crc32": crc}).error_code() == "BadDigest"
    )
    s3.head_object(Bucket=bucket, Key="kept")  # nothing was deleted by the refused requests

    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert post_delete(server, bucket, body, headers={"x-amz-checksum-crc32": crc}).status == 200
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="kept")


def test_missing_bucket(server: RunningServer) -> None:
    reply = post_delete(server, "no-such-bucket-here", delete_document(["a"]))
    assert (reply.status, reply.error_code()) == (404, "NoSuchBucket")
