"""PostObject (browser-based uploads): boto3's generate_presigned_post end to end with SigV4 and SigV2
policies, every policy condition and AWS's AccessDenied messages, success_action_status and
success_action_redirect, the object attributes a form sets, anonymous uploads, malformed forms."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import Reply, client_error, request
from tests.support.server import RunningServer
from tests.support.users import client_for, create_user, unique_name

SIGNATURES = [pytest.param("s3v4", id="v4"), pytest.param("s3", id="v2")]


def presigned(server: RunningServer, version: str, bucket: str, key: str, **kwargs: Any) -> dict[str, Any]:
    client = make_client(server, signature_version=version)
    return client.generate_presigned_post(bucket, key, **kwargs)  # type: ignore[attr-defined, no-any-return]


def post(
    post_form: dict[str, Any], data: bytes = b"hello", filename: str = "hello.txt", **fields: str
) -> requests.Response:
    """Send a form as a browser does (the file last), with extra fields after the presigned ones."""
    form = {**post_form["fields"], **fields}
    return requests.post(
        post_form["url"], data=form, files={"file": (filename, data)}, allow_redirects=False, timeout=60
    )


def error(resp: requests.Response) -> tuple[int, str | None, str | None]:
    """(status, Code, Message) of an error answer."""
    reply = Reply(resp.status_code, None, resp.content)  # type: ignore[arg-type]
    return resp.status_code, reply.error_code(), reply.error_message()


def multipart(parts: list[tuple[str, bytes]], boundary: str = "----s3server-form") -> tuple[bytes, str]:
    """A hand-made multipart/form-data body: (name, value) parts, "file" carrying a filename."""
    out = bytearray()
    for name, value in parts:
        out += f"--{boundary}\r\n".encode()
        if name == "file":
            out += b'Content-Disposition: form-data; name="file"; filename="f.bin"\r\n'
            out += b"Content-Type: application/octet-stream\r\n\r\n"
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def raw_post(server: RunningServer, bucket: str, body: bytes, content_type: str) -> Reply:
    return request(server, "POST", f"/{bucket}", {"Content-Type": content_type}, body)


@pytest.mark.parametrize("version", SIGNATURES)
def test_presigned_post_end_to_end(server: RunningServer, s3, bucket: str, version: str) -> None:  # type: ignore[no-untyped-def]
    form = presigned(server, version, bucket, "uploads/report.txt")
    marker = "x-amz-signature" if version == "s3v4" else "signature"
    assert marker in form["fields"]
    data = os.urandom(300_000)
    resp = post(form, data)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    assert resp.headers["ETag"] == etag
    assert resp.headers["Location"] == f"{server.endpoint}/{bucket}/uploads/report.txt"
    assert resp.headers["x-amz-request-id"]
    got = s3.get_object(Bucket=bucket, Key="uploads/report.txt")
    assert got["Body"].read() == data
    assert got["ETag"] == etag
    assert got["ContentType"] == "binary/octet-stream"


@pytest.mark.parametrize("version", SIGNATURES)
def test_filename_in_key(server: RunningServer, s3, bucket: str, version: str) -> None:  # type: ignore[no-untyped-def]
    form = presigned(server, version, bucket, "user/${filename}")
    assert post(form, b"photo", filename="cat picture.jpg").status_code == 204
    assert s3.get_object(Bucket=bucket, Key="user/cat picture.jpg")["Body"].read() == b"photo"


def test_form_sets_the_object_attributes(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag></TagSet></Tagging>"
    data = b"attributes " * 100
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    fields = {
        "Content-Type": "text/plain",
        "Cache-Control": "max-age=60",
        "Content-Disposition": 'attachment; filename="a.txt"',
        "x-amz-meta-colour": "Green",
        "acl": "public-read",
        "tagging": tagging,
        "x-amz-storage-class": "STANDARD_IA",
        "x-amz-checksum-crc32": crc,
    }
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    form = presigned(server, "s3v4", bucket, "attrs.txt", Fields=fields, Conditions=conditions)
    resp = post(form, data)
    assert resp.status_code == 204, resp.text
    assert resp.headers["x-amz-checksum-crc32"] == crc
    head = s3.head_object(Bucket=bucket, Key="attrs.txt", ChecksumMode="ENABLED")
    assert head["ContentType"] == "text/plain"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == 'attachment; filename="a.txt"'
    assert head["Metadata"] == {"colour": "Green"}
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ChecksumCRC32"] == crc
    assert s3.get_object_tagging(Bucket=bucket, Key="attrs.txt")["TagSet"] == [
        {"Key": "team", "Value": "blue"}
    ]
    uris = [g["Grantee"].get("URI", "") for g in s3.get_object_acl(Bucket=bucket, Key="attrs.txt")["Grants"]]
    assert "http://acs.amazonaws.com/groups/global/AllUsers" in uris


def test_wrong_checksum_field_stores_nothing(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    wrong = base64.b64encode(b"\0\0\0\0").decode()
    fields = {"x-amz-checksum-crc32": wrong}
    form = presigned(server, "s3v4", bucket, "k", Fields=fields, Conditions=[{"x-amz-checksum-crc32": wrong}])
    status, code, _ = error(post(form, b"data"))
    assert (status, code) == (400, "BadDigest")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert client_error(exc.value)[1] == 404


def test_malformed_checksum_field_is_invalid_request(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """Only a well-formed wrong value is BadDigest; one that is no CRC32 at all is InvalidRequest."""
    for malformed in ("not base64!", base64.b64encode(b"\0" * 5).decode()):
        fields = {"x-amz-checksum-crc32": malformed}
        form = presigned(
            server, "s3v4", bucket, "k", Fields=fields, Conditions=[{"x-amz-checksum-crc32": malformed}]
        )
        status, code, _ = error(post(form, b"data"))
        assert (status, code) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert client_error(exc.value)[1] == 404


@pytest.mark.parametrize(
    ("status", "expected"), [("200", 200), ("201", 201), ("204", 204), ("302", 204), ("", 204)]
)
def test_success_action_status(server: RunningServer, bucket: str, status: str, expected: int) -> None:
    fields = {"success_action_status": status}
    form = presigned(
        server, "s3v4", bucket, "dir/a b.txt", Fields=fields, Conditions=[{"success_action_status": status}]
    )
    resp = post(form, b"x")
    assert resp.status_code == expected, resp.text
    etag = f'"{hashlib.md5(b"x").hexdigest()}"'
    if expected == 201:
        assert resp.headers["Content-Type"] == "application/xml"
        root = Reply(201, None, resp.content).xml()  # type: ignore[arg-type]
        assert root.tag == "PostResponse"
        assert root.findtext("Location") == f"{server.endpoint}/{bucket}/dir/a%20b.txt"
        assert root.findtext("Bucket") == bucket
        assert root.findtext("Key") == "dir/a b.txt"
        assert root.findtext("ETag") == etag
    else:
        assert resp.content == b""
        assert resp.headers["ETag"] == etag


@pytest.mark.parametrize("field", ["success_action_redirect", "redirect"])
def test_success_action_redirect(server: RunningServer, bucket: str, field: str) -> None:
    target = "https://example.com/done?from=upload"
    form = presigned(server, "s3v4", bucket, "r/k+1", Fields={field: target}, Conditions=[{field: target}])
    resp = post(form, b"redirected")
    assert resp.status_code == 303, resp.text
    location = urlsplit(resp.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "example.com", "/done")
    query = parse_qs(location.query)
    assert query == {
        "from": ["upload"],
        "bucket": [bucket],
        "key": ["r/k+1"],
        "etag": [f'"{hashlib.md5(b"redirected").hexdigest()}"'],
    }


def test_redirect_that_is_no_url_answers_the_status(server: RunningServer, bucket: str) -> None:
    fields = {"success_action_redirect": "not a url", "success_action_status": "201"}
    conditions = [{name: value} for name, value in fields.items()]
    resp = post(presigned(server, "s3v4", bucket, "k", Fields=fields, Conditions=conditions))
    assert resp.status_code == 201


@pytest.mark.parametrize("version", SIGNATURES)
def test_expired_policy(server: RunningServer, bucket: str, version: str) -> None:
    form = presigned(server, version, bucket, "k", ExpiresIn=-60)
    assert error(post(form)) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")


@pytest.mark.parametrize(
    ("conditions", "fields", "shown"),
    [
        pytest.param(
            [["starts-with", "$key", "user/"]], {}, '["starts-with", "$key", "user/"]', id="starts-with-key"
        ),
        pytest.param(
            [["eq", "$Content-Type", "image/png"]],
            {"Content-Type": "image/jpeg"},
            '["eq", "$Content-Type", "image/png"]',
            id="eq",
        ),
        pytest.param(
            [{"x-amz-meta-a": "1"}], {"x-amz-meta-a": "2"}, '["eq", "$x-amz-meta-a", "1"]', id="exact-match"
        ),
        pytest.param(
            [["eq", "$x-amz-meta-b", "1"]],
            {},
            '["eq", "$x-amz-meta-b", "1"]',
            id="condition-on-missing-field",
        ),
        pytest.param(
            [["starts-with", "$Content-Type", "image/"]],
            {"Content-Type": "image/png, text/plain"},
            '["starts-with", "$Content-Type", "image/"]',
            id="starts-with-each-content-type",
        ),
    ],
)
def test_policy_condition_failed(
    server: RunningServer, bucket: str, conditions: list[Any], fields: dict[str, str], shown: str
) -> None:
    form = presigned(server, "s3v4", bucket, "other/k", Fields=fields, Conditions=conditions)
    assert error(post(form)) == (
        403,
        "AccessDenied",
        f"Invalid according to Policy: Policy Condition failed: {shown}",
    )


def test_conditions_that_hold(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    fields = {"Content-Type": "image/png", "x-amz-meta-note": "anything"}
    conditions = [
        ["starts-with", "$key", "user/"],
        ["eq", "$Content-Type", "image/png"],
        ["starts-with", "$x-amz-meta-note", ""],
        ["content-length-range", 1, 10],
    ]
    form = presigned(server, "s3v4", bucket, "user/k", Fields=fields, Conditions=conditions)
    assert post(form, b"0123456789").status_code == 204
    assert s3.head_object(Bucket=bucket, Key="user/k")["ContentLength"] == 10


def test_bucket_condition(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    other = unique_name("post-other")
    s3.create_bucket(Bucket=other)
    try:
        form = presigned(server, "s3v4", bucket, "k")
        form["url"] = f"{server.endpoint}/{other}"  # the same form posted to another bucket
        assert error(post(form)) == (
            403,
            "AccessDenied",
            f'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "{bucket}"]',
        )
    finally:
        s3.delete_bucket(Bucket=other)


@pytest.mark.parametrize(
    ("size", "code", "field"),
    [(11, "EntityTooLarge", "MaxSizeAllowed"), (2, "EntityTooSmall", "MinSizeAllowed")],
)
def test_content_length_range(
    server: RunningServer, s3, bucket: str, size: int, code: str, field: str
) -> None:  # type: ignore[no-untyped-def]
    form = presigned(server, "s3v4", bucket, "sized", Conditions=[["content-length-range", 3, 10]])
    resp = post(form, b"x" * size)
    assert resp.status_code == 400, resp.text
    root = Reply(400, None, resp.content).xml()  # type: ignore[arg-type]
    assert root.findtext("Code") == code
    assert root.findtext("ProposedSize") == str(size)
    assert root.findtext(field) == ("10" if code == "EntityTooLarge" else "3")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="sized")


@pytest.mark.parametrize("version", SIGNATURES)
def test_fields_the_policy_does_not_name(server: RunningServer, bucket: str, version: str) -> None:
    form = presigned(server, version, bucket, "k", Fields={"x-amz-meta-extra": "1"})
    assert error(post(form)) == (
        403,
        "AccessDenied",
        "Invalid according to Policy: Extra input fields: x-amz-meta-extra",
    )


def test_ignored_fields_need_no_condition(server: RunningServer, bucket: str) -> None:
    form = presigned(server, "s3v4", bucket, "k")
    assert post(form, **{"x-ignore-note": "not checked"}).status_code == 204


def test_fields_after_the_file_are_ignored(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    form = presigned(server, "s3v4", bucket, "k")
    parts = [(name, value.encode()) for name, value in form["fields"].items()]
    body, content_type = multipart([*parts, ("file", b"payload"), ("x-amz-meta-late", b"1")])
    reply = raw_post(server, bucket, body, content_type)
    assert reply.status == 204, reply.body
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {}


@pytest.mark.parametrize("version", SIGNATURES)
def test_tampered_policy_or_signature(server: RunningServer, bucket: str, version: str) -> None:
    form = presigned(server, version, bucket, "k")
    name = "x-amz-signature" if version == "s3v4" else "signature"
    signature = form["fields"][name]
    other = {"0": "1", "A": "B"}.get(signature[0], "0" if version == "s3v4" else "A")
    form["fields"][name] = other + signature[1:]  # a different first character, whatever it was
    assert error(post(form))[:2] == (403, "SignatureDoesNotMatch")
    form["fields"][name] = signature
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    policy["conditions"].append(["starts-with", "$x-amz-meta-a", ""])
    form["fields"]["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    assert error(post(form))[:2] == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("version", SIGNATURES)
def test_unknown_access_key(server: RunningServer, bucket: str, version: str) -> None:
    form = presigned(server, version, bucket, "k")
    if version == "s3v4":
        credential = form["fields"]["x-amz-credential"]
        form["fields"]["x-amz-credential"] = "AKIANOBODY" + credential[credential.index("/") :]
    else:
        form["fields"]["AWSAccessKeyId"] = "AKIANOBODY"
    assert error(post(form))[:2] == (403, "InvalidAccessKeyId")


@pytest.mark.parametrize(
    ("version", "missing", "named"),
    [
        ("s3v4", "x-amz-signature", "x-amz-signature"),
        ("s3v4", "x-amz-date", "x-amz-date"),
        ("s3v4", "policy", "policy"),
        ("s3", "signature", "signature"),
        ("s3", "AWSAccessKeyId", "AWSAccessKeyId"),
        ("s3", "policy", "AWSAccessKeyId"),  # with neither, the form is anonymous: no policy may come alone
    ],
)
def test_missing_signature_fields(
    server: RunningServer, bucket: str, version: str, missing: str, named: str
) -> None:
    form = presigned(server, version, bucket, "k")
    if version == "s3" and missing == "policy":
        del form["fields"]["signature"], form["fields"]["AWSAccessKeyId"]
    else:
        del form["fields"][missing]
    assert error(post(form)) == (
        400,
        "InvalidArgument",
        f"Bucket POST must contain a field named '{named}'.  If it is specified, please check the order of "
        "the fields.",
    )


def test_missing_key(server: RunningServer, bucket: str) -> None:
    body, content_type = multipart([("file", b"data")])
    reply = raw_post(server, bucket, body, content_type)
    assert (reply.status, reply.error_code()) == (400, "InvalidArgument")
    assert reply.xml().findtext("ArgumentName") == "key"


def test_no_file(server: RunningServer, bucket: str) -> None:
    body, content_type = multipart([("key", b"k")])
    reply = raw_post(server, bucket, body, content_type)
    assert (reply.status, reply.error_code(), reply.error_message()) == (
        400,
        "InvalidArgument",
        "POST requires exactly one file upload per request.",
    )


def test_not_a_form(server: RunningServer, bucket: str) -> None:
    reply = raw_post(server, bucket, b"key=k", "application/x-www-form-urlencoded")
    assert (reply.status, reply.error_code()) == (412, "PreconditionFailed")
    assert (
        reply.xml().findtext("Condition") == "Bucket POST must be of the enclosure-type multipart/form-data"
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"no delimiter at all", id="no-delimiter"),
        pytest.param(b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nk', id="truncated-field"),
        pytest.param(b"--b\r\nno header colon\r\n\r\nk\r\n--b--\r\n", id="bad-part-header"),
    ],
)
def test_malformed_form(server: RunningServer, bucket: str, body: bytes) -> None:
    reply = raw_post(server, bucket, body, "multipart/form-data; boundary=b")
    assert (reply.status, reply.error_code()) == (400, "MalformedPOSTRequest")


def test_unterminated_file_stores_nothing(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    form = presigned(server, "s3v4", bucket, "k")
    parts = [(name, value.encode()) for name, value in form["fields"].items()]
    body, content_type = multipart([*parts, ("file", b"data")])
    reply = raw_post(server, bucket, body[: body.rindex(b"\r\n--")], content_type)
    assert (reply.status, reply.error_code()) == (400, "MalformedPOSTRequest")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_fields_before_the_file_are_capped(server: RunningServer, bucket: str) -> None:
    body, content_type = multipart([("key", b"k"), ("x-ignore-pad", b"p" * 30_000), ("file", b"data")])
    reply = raw_post(server, bucket, body, content_type)
    assert (reply.status, reply.error_code()) == (400, "MaxPostPreDataLengthExceeded")


def test_post_to_missing_bucket(server: RunningServer) -> None:
    form = presigned(server, "s3v4", "no-such-bucket-for-post", "k")
    assert error(post(form))[:2] == (404, "NoSuchBucket")


@pytest.fixture
def public_write_bucket(s3) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = unique_name("post-public")
    s3.create_bucket(Bucket=name, ACL="public-read-write")
    yield name
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def test_anonymous_post_into_public_write_bucket(server: RunningServer, s3, public_write_bucket: str) -> None:  # type: ignore[no-untyped-def]
    form = {"url": f"{server.endpoint}/{public_write_bucket}", "fields": {"key": "anon/${filename}"}}
    resp = post(form, b"anonymous", filename="a.txt", **{"Content-Type": "text/plain"})
    assert resp.status_code == 204, resp.text
    got = s3.get_object(Bucket=public_write_bucket, Key="anon/a.txt")
    assert got["Body"].read() == b"anonymous"
    assert got["ContentType"] == "text/plain"


def test_anonymous_post_into_private_bucket_is_denied(server: RunningServer, bucket: str) -> None:
    form = {"url": f"{server.endpoint}/{bucket}", "fields": {"key": "k"}}
    assert error(post(form)) == (403, "AccessDenied", "Access Denied")


def test_signer_needs_write_access(server: RunningServer, bucket: str) -> None:
    """A valid policy signed by a user with no access to the bucket is still AccessDenied."""
    _, access_key, secret_key = create_user(server)
    client = client_for(server, access_key, secret_key, signature_version="s3v4")
    form = client.generate_presigned_post(bucket, "k")
    assert error(post(form)) == (403, "AccessDenied", "Access Denied")


def test_large_file_streams(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """A body far larger than any buffer, arriving in pieces, with a delimiter-like run inside it."""
    form = presigned(server, "s3v4", bucket, "big.bin")
    block = os.urandom(1024 * 1024) + b"\r\n--not-the-boundary\r\n"
    data = block * 24
    resp = post(form, data)
    assert resp.status_code == 204, resp.text
    assert resp.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == len(data)


def test_policy_expiration_is_absolute(server: RunningServer, bucket: str) -> None:
    """A form is usable until the policy's expiration, whatever x-amz-date says (no clock skew rule)."""
    client = make_client(server, signature_version="s3v4")
    form = client.generate_presigned_post(bucket, "k", ExpiresIn=3600)  # type: ignore[attr-defined]
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    expiration = datetime.fromisoformat(policy["expiration"])
    assert expiration > datetime.now(UTC) + timedelta(minutes=50)
    assert post(form).status_code == 204


def test_tagging_field_limits(server: RunningServer, bucket: str) -> None:
    """The form's tagging document obeys PutObjectTagging's limits: an 11th tag is AWS's BadRequest."""
    tags = "".join(f"<Tag><Key>k{i}</Key><Value>v</Value></Tag>" for i in range(11))
    tagging = f"<Tagging><TagSet>{tags}</TagSet></Tagging>"
    form = presigned(
        server, "s3v4", bucket, "k", Fields={"tagging": tagging}, Conditions=[{"tagging": tagging}]
    )
    assert error(post(form)) == (400, "BadRequest", "Object tags cannot be greater than 10")
