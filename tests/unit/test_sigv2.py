"""SigV2 golden tests: AWS's documented examples, requests signed by botocore's HmacV1Auth and
HmacV1QueryAuth (what boto3's generate_presigned_url and `aws s3 presign` use by default), mutations.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict, CIMultiDictProxy

from s3server.gateway import sigv2
from s3server.gateway.auth import AuthResult, Credential, RequestView, authenticate
from s3server.gateway.sigv4 import parse_query
from s3server.s3.errors import S3Error

AK = "AKIDTESTKEY123"
SK = "sEcReT/with+chars=and/slashes"
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
HTTP_NOW = "Thu, 01 Jan 2026 12:00:00 GMT"

DOC_AK = "AKIAIOSFODNN7EXAMPLE"
DOC_SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

CREDENTIALS = {
    AK: Credential(AK, SK, "alice"),
    DOC_AK: Credential(DOC_AK, DOC_SK, "doc"),
    "AKIDINACTIVE": Credential("AKIDINACTIVE", SK, "bob", active=False),
}

Mutation = Callable[[RequestView], RequestView]


async def lookup(access_key: str) -> Credential | None:
    return CREDENTIALS.get(access_key)


# --------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def frozen_botocore_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """HmacV1Auth dates requests with formatdate(), HmacV1QueryAuth with time.time(): pin both to NOW."""
    stamp = NOW.timestamp()
    monkeypatch.setattr(
        "botocore.auth.formatdate",
        lambda timeval=None, localtime=False, usegmt=False: email.utils.formatdate(
            stamp if timeval is None else timeval, localtime, usegmt
        ),
    )
    monkeypatch.setattr("botocore.auth.time", types.SimpleNamespace(time=lambda: stamp))
    yield


def s3_request(
    method: str,
    bucket: str | None,
    key: str = "",
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    virtual: bool = False,
) -> tuple[AWSRequest, str | None]:
    """A request shaped as botocore's S3 client builds it, auth_path included for virtual-hosted style."""
    encoded_key = quote(key, safe="/~")
    if virtual and bucket:
        url = f"http://{bucket}.localhost:7841/{encoded_key}"
        auth_path: str | None = f"/{bucket}/{encoded_key}"
    else:
        path = f"/{bucket}/{encoded_key}" if bucket and key else (f"/{bucket}" if bucket else "/")
        url = f"http://localhost:7841{path}"
        auth_path = None
    if query:
        url += "?" + query
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body, auth_path=auth_path)
    return request, bucket if virtual else None


def wire_view(request: AWSRequest, virtual_bucket: str | None = None) -> RequestView:
    split = urlsplit(request.url)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        headers.add(name, value.decode("utf-8") if isinstance(value, bytes) else value)
    if "host" not in headers:
        headers["Host"] = split.netloc
    return RequestView(request.method, split.path, split.query, CIMultiDictProxy(headers), virtual_bucket)


def url_view(request: AWSRequest, virtual_bucket: str | None = None) -> RequestView:
    """A presigned URL as someone fetching it sends it: the URL and a Host header, nothing else."""
    split = urlsplit(request.url)
    headers = CIMultiDictProxy(CIMultiDict([("Host", split.netloc)]))
    return RequestView(request.method, split.path, split.query, headers, virtual_bucket)


def sign_header(request: AWSRequest, secret: str = SK) -> AWSRequest:
    HmacV1Auth(Credentials(AK, secret)).add_auth(request)
    return request


def sign_query(request: AWSRequest, expires: int = 3600) -> AWSRequest:
    HmacV1QueryAuth(Credentials(AK, SK), expires=expires).add_auth(request)
    return request


def replace(view: RequestView, **changes: object) -> RequestView:
    fields: dict[str, object] = {
        "method": view.method,
        "raw_path": view.raw_path,
        "raw_query": view.raw_query,
        "headers": view.headers,
        "virtual_bucket": view.virtual_bucket,
    }
    fields.update(changes)
    return RequestView(**fields)  # type: ignore[arg-type]


def with_header(view: RequestView, name: str, value: str | None) -> RequestView:
    headers: CIMultiDict[str] = CIMultiDict(view.headers)
    headers.popall(name, None)
    if value is not None:
        headers[name] = value
    return replace(view, headers=CIMultiDictProxy(headers))


async def accept(view: RequestView, now: datetime = NOW) -> AuthResult:
    result = await authenticate(view, lookup, now=now)
    assert result is not None
    return result


async def reject(view: RequestView, now: datetime = NOW) -> S3Error:
    with pytest.raises(S3Error) as caught:
        await authenticate(view, lookup, now=now)
    return caught.value


def hmac_sha1(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()).decode()


# --------------------------------------------------------------------------------------------------------
# AWS's documented examples ("Signing and authenticating REST requests", Signature Version 2)
# --------------------------------------------------------------------------------------------------------


async def test_doc_object_get() -> None:
    view = RequestView(
        "GET",
        "/photos/puppy.jpg",
        "",
        CIMultiDictProxy(
            CIMultiDict(
                [
                    ("Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"),
                    ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
                    ("Authorization", f"AWS {DOC_AK}:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
                ]
            )
        ),
        "johnsmith",
    )
    result = await accept(view, now=datetime(2007, 3, 27, 19, 40, tzinfo=UTC))
    assert (result.version, result.signature) == (2, "bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
    assert result.payload_hash == "UNSIGNED-PAYLOAD"
    assert (result.amz_date, result.scope, result.signing_key) == ("", "", b"")


async def test_doc_query_string_auth() -> None:
    view = RequestView(
        "GET",
        "/photos/puppy.jpg",
        f"AWSAccessKeyId={DOC_AK}&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D",
        CIMultiDictProxy(CIMultiDict([("Host", "johnsmith.s3.amazonaws.com")])),
        "johnsmith",
    )
    result = await accept(view, now=datetime(2007, 3, 27, 19, 40, tzinfo=UTC))
    assert result.signature == "NpgCjnDzrM+WFzoENXmpNDUsSn8="
    error = await reject(view, now=datetime(2007, 3, 29, 3, 40, 21, tzinfo=UTC))
    assert (error.code, error.message) == ("AccessDenied", "Request has expired")
    assert error.fields["Expires"] == "2007-03-29T03:40:20Z"


# --------------------------------------------------------------------------------------------------------
# canonical pieces
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("acl", "?acl"),
        ("acl=", "?acl="),
        ("uploadId=a%2Bb&partNumber=3", "?partNumber=3&uploadId=a+b"),
        ("list-type=2&prefix=a%2Fb&delimiter=%2F", ""),
        ("versionId=x&versions&prefix=p", "?versionId=x&versions"),
        (
            "response-content-type=text%2Fplain&response-expires=x",
            "?response-content-type=text/plain&response-expires=x",
        ),
        ("tagging&x-id=PutObjectTagging", "?tagging"),
    ],
)
def test_subresource_suffix(query: str, expected: str) -> None:
    assert sigv2.subresource_suffix(parse_query(query)) == expected


def test_subresources_cover_botocore() -> None:
    assert set(HmacV1Auth.QSAOfInterest) <= sigv2.SUBRESOURCES


def test_canonical_resource_candidates() -> None:
    assert sigv2.canonical_resources("/bkt", [], None) == ["/bkt", "/bkt/"]
    assert sigv2.canonical_resources("/", [], "bkt") == ["/bkt/"]
    assert sigv2.canonical_resources("/k%20y", [("acl", None)], "bkt") == ["/bkt/k%20y?acl"]
    assert sigv2.canonical_resources("/b/a+b", [], None) == ["/b/a+b", "/b/a%2Bb"]


def test_string_to_sign_layout() -> None:
    amz = sigv2.canonical_amz_headers({"x-amz-meta-b": ["2"], "x-amz-acl": ["private", "x"]})
    assert sigv2.string_to_sign("PUT", "md5", "text/plain", "DATE", amz, "/b/k") == (
        "PUT\nmd5\ntext/plain\nDATE\nx-amz-acl:private,x\nx-amz-meta-b:2\n/b/k"
    )


# --------------------------------------------------------------------------------------------------------
# header auth (HmacV1Auth)
# --------------------------------------------------------------------------------------------------------

HEADER_SHAPES: dict[str, tuple[str, str | None, str, str, dict[str, str], bool]] = {
    "get-simple": ("GET", "bkt", "key.txt", "", {}, False),
    "key-space": ("GET", "bkt", "my key", "", {}, False),
    "key-plus": ("GET", "bkt", "a+b", "", {}, False),
    "key-percent": ("GET", "bkt", "100%/x%20y", "", {}, False),
    "key-unicode": ("GET", "bkt", "ümlaut/日本語/😀", "", {}, False),
    "key-double-slash-trailing": ("GET", "bkt", "a//b/", "", {}, False),
    "list-buckets": ("GET", None, "", "", {}, False),
    "bucket-path-style": ("GET", "bkt", "", "list-type=2&prefix=a%2Fb&delimiter=%2F", {}, False),
    "acl": ("GET", "bkt", "k", "acl", {}, False),
    "uploads": ("POST", "bkt", "big.bin", "uploads", {}, False),
    "upload-part": ("PUT", "bkt", "big.bin", "partNumber=2&uploadId=abc%2Bdef%2F", {}, False),
    "version-id": ("GET", "bkt", "k", "versionId=3%2B4", {}, False),
    "tagging": ("PUT", "bkt", "k", "tagging", {"Content-Type": "application/xml"}, False),
    "response-override": (
        "GET",
        "bkt",
        "k",
        "response-content-type=text%2Fplain%3B%20charset%3Dutf-8&response-content-disposition=inline",
        {},
        False,
    ),
    "delete-objects": (
        "POST",
        "bkt",
        "",
        "delete",
        {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "Content-Type": "application/xml"},
        False,
    ),
    "put-with-meta": (
        "PUT",
        "bkt",
        "dir/file.txt",
        "",
        {"Content-Type": "text/plain", "x-amz-meta-note": "  padded ", "X-Amz-Storage-Class": "STANDARD"},
        False,
    ),
    "x-amz-date-too": ("GET", "bkt", "k", "", {"x-amz-date": HTTP_NOW}, False),
    "virtual-hosted": ("GET", "bkt", "dir/my key", "versionId=1", {}, True),
    "virtual-hosted-bucket": ("GET", "bkt", "", "list-type=2", {}, True),
}


@pytest.mark.parametrize("shape", list(HEADER_SHAPES.values()), ids=list(HEADER_SHAPES))
async def test_header_auth_botocore_shapes(
    shape: tuple[str, str | None, str, str, dict[str, str], bool],
) -> None:
    method, bucket, key, query, headers, virtual = shape
    request, virtual_bucket = s3_request(method, bucket, key, query, headers, virtual=virtual)
    if bucket and not key and not virtual:
        request.auth_path = f"/{bucket}/"  # botocore's S3 client signs bucket operations with the slash
    sign_header(request)
    result = await accept(wire_view(request, virtual_bucket))
    assert result.version == 2
    assert result.credential.user == "alice"
    assert result.signature == request.headers["Authorization"].rsplit(":", 1)[1]


async def test_header_auth_bucket_without_slash() -> None:
    request, _ = s3_request("GET", "bkt", "", "acl")
    await accept(wire_view(sign_header(request)))


async def test_header_auth_repeated_amz_header() -> None:
    request, _ = s3_request("PUT", "bkt", "k", headers={"x-amz-meta-a": "one"})
    request.headers["x-amz-meta-a"] = "two"
    view = wire_view(sign_header(request))
    assert view.headers.getall("x-amz-meta-a") == ["one", "two"]  # type: ignore[attr-defined]
    await accept(view)


async def test_header_auth_x_amz_date_with_empty_date_line() -> None:
    """AWS's documented rule: with x-amz-date and no Date header the Date line is empty."""
    text = f"GET\n\n\n\nx-amz-date:{HTTP_NOW}\n/bkt/k"
    headers = [
        ("Host", "localhost"),
        ("x-amz-date", HTTP_NOW),
        ("Authorization", f"AWS {AK}:{hmac_sha1(SK, text)}"),
    ]
    await accept(RequestView("GET", "/bkt/k", "", CIMultiDictProxy(CIMultiDict(headers))))
    # ...and the same client sending a Date header as well, still signing the empty line.
    headers.append(("Date", "Fri, 02 Jan 2026 00:00:00 GMT"))
    await accept(RequestView("GET", "/bkt/k", "", CIMultiDictProxy(CIMultiDict(headers))))


def signed_put() -> RequestView:
    request, _ = s3_request(
        "PUT",
        "bkt",
        "dir/file.txt",
        "uploadId=u1&partNumber=1",
        {"Content-Type": "text/plain", "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==", "x-amz-meta-a": "1"},
        b"hello",
    )
    return wire_view(sign_header(request))


MUTATIONS: dict[str, Mutation] = {
    "method": lambda v: replace(v, method="POST"),
    "path": lambda v: replace(v, raw_path="/bkt/dir/file.txu"),
    "subresource-value": lambda v: replace(v, raw_query="uploadId=u2&partNumber=1"),
    "subresource-added": lambda v: replace(v, raw_query=v.raw_query + "&acl"),
    "subresource-removed": lambda v: replace(v, raw_query="uploadId=u1"),
    "content-type": lambda v: with_header(v, "Content-Type", "text/html"),
    "content-md5": lambda v: with_header(v, "Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    "amz-header-changed": lambda v: with_header(v, "x-amz-meta-a", "2"),
    "amz-header-added": lambda v: with_header(v, "x-amz-acl", "public-read"),
    "date": lambda v: with_header(v, "Date", "Thu, 01 Jan 2026 12:00:01 GMT"),
    "virtual-bucket": lambda v: replace(v, virtual_bucket="other"),
    "signature": lambda v: with_header(v, "Authorization", v.headers["Authorization"][:-6] + "AAAAA="),
}


@pytest.mark.parametrize("mutate", list(MUTATIONS.values()), ids=list(MUTATIONS))
async def test_header_auth_mutation_fails(mutate: Mutation) -> None:
    view = signed_put()
    await accept(view)
    error = await reject(mutate(view))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.fields["AWSAccessKeyId"] == AK


async def test_header_auth_unsigned_query_param_is_ignored() -> None:
    """V2 signs only the sub-resources; other parameters are outside the signature, as on AWS."""
    view = signed_put()
    await accept(replace(view, raw_query=view.raw_query + "&x-id=UploadPart"))


async def test_header_auth_wrong_secret() -> None:
    request, _ = s3_request("GET", "bkt", "k")
    error = await reject(wire_view(sign_header(request, secret="nope")))
    assert error.code == "SignatureDoesNotMatch"
    assert error.fields["StringToSign"] == f"GET\n\n\n{HTTP_NOW}\n/bkt/k"


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (timedelta(minutes=14), None),
        (timedelta(minutes=-14), None),
        (timedelta(minutes=16), "RequestTimeTooSkewed"),
        (timedelta(minutes=-16), "RequestTimeTooSkewed"),
    ],
)
async def test_header_auth_clock_skew(offset: timedelta, code: str | None) -> None:
    request, _ = s3_request("GET", "bkt", "k")
    view = wire_view(sign_header(request))
    if code is None:
        await accept(view, now=NOW + offset)
    else:
        error = await reject(view, now=NOW + offset)
        assert (error.code, error.status) == (code, 403)


async def test_header_auth_x_amz_date_wins_for_skew() -> None:
    request, _ = s3_request("GET", "bkt", "k", headers={"x-amz-date": "Thu, 01 Jan 2026 13:00:00 GMT"})
    error = await reject(wire_view(sign_header(request)))
    assert error.code == "RequestTimeTooSkewed"


async def test_header_auth_missing_date() -> None:
    request, _ = s3_request("GET", "bkt", "k")
    error = await reject(with_header(wire_view(sign_header(request)), "Date", None))
    assert (error.code, error.status) == ("AccessDenied", 403)
    assert "Date or x-amz-date" in error.message


@pytest.mark.parametrize("value", ["AWS AKIDTESTKEY123", "AWS :sig", "AWS AKIDTESTKEY123:", "AWS"])
async def test_header_auth_malformed(value: str) -> None:
    request, _ = s3_request("GET", "bkt", "k")
    error = await reject(with_header(wire_view(sign_header(request)), "Authorization", value))
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.fields["ArgumentName"] == "Authorization"


@pytest.mark.parametrize("key", ["AKIDUNKNOWN", "AKIDINACTIVE"])
async def test_header_auth_unknown_key(key: str) -> None:
    request, _ = s3_request("GET", "bkt", "k")
    view = wire_view(sign_header(request))
    error = await reject(with_header(view, "Authorization", view.headers["Authorization"].replace(AK, key)))
    assert (error.code, error.status) == ("InvalidAccessKeyId", 403)


# --------------------------------------------------------------------------------------------------------
# query auth (HmacV1QueryAuth)
# --------------------------------------------------------------------------------------------------------

QUERY_SHAPES: dict[str, tuple[str, str, str, dict[str, str], bool]] = {
    "get-simple": ("GET", "k.txt", "", {}, False),
    "key-specials": ("GET", "a b+c%d/ü//", "", {}, False),
    "response-override": (
        "GET",
        "k",
        "response-content-type=text%2Fplain&response-content-disposition=x",
        {},
        False,
    ),
    "version-id": ("GET", "k", "versionId=a%2Bb", {}, False),
    "virtual-hosted": ("GET", "dir/x y", "", {}, True),
    "put": ("PUT", "upload me", "", {}, False),
}


@pytest.mark.parametrize("shape", list(QUERY_SHAPES.values()), ids=list(QUERY_SHAPES))
async def test_query_auth_botocore_shapes(shape: tuple[str, str, str, dict[str, str], bool]) -> None:
    method, key, query, headers, virtual = shape
    request, virtual_bucket = s3_request(method, "bkt", key, query, headers, virtual=virtual)
    view = url_view(sign_query(request), virtual_bucket)
    result = await accept(view, now=NOW + timedelta(minutes=59))
    assert result.version == 2
    assert result.payload_hash == "UNSIGNED-PAYLOAD"


async def test_query_auth_headers_moved_into_query() -> None:
    """botocore copies Content-Type and x-amz-* into the presigned URL; the request may omit them."""
    request, _ = s3_request("PUT", "bkt", "k", headers={"Content-Type": "image/png", "x-amz-acl": "private"})
    sign_query(request)
    bare = url_view(request)
    assert "content-type=image%2Fpng" in bare.raw_query and "x-amz-acl=private" in bare.raw_query
    await accept(bare)
    await accept(with_header(with_header(bare, "Content-Type", "image/png"), "x-amz-acl", "private"))
    error = await reject(with_header(bare, "x-amz-acl", "public-read"))
    assert error.code == "SignatureDoesNotMatch"


async def test_query_auth_signature_plus_unencoded() -> None:
    for attempt in range(40):  # find a signature with '+' in it, sent without percent-encoding
        request, _ = s3_request("GET", "bkt", f"k{attempt}")
        view = url_view(sign_query(request))
        if "%2B" in view.raw_query:
            await accept(replace(view, raw_query=view.raw_query.replace("%2B", "+")))
            return
    pytest.fail("no signature with '+' among 40 samples (odds about 1 in 30 million)")


async def test_query_auth_expiry() -> None:
    request, _ = s3_request("GET", "bkt", "k")
    view = url_view(sign_query(request, expires=60))
    await accept(view, now=NOW + timedelta(seconds=60))
    error = await reject(view, now=NOW + timedelta(seconds=61))
    assert (error.code, error.message, error.status) == ("AccessDenied", "Request has expired", 403)
    assert error.fields["ServerTime"] == "2026-01-01T12:01:01Z"


def _edit_query(view: RequestView, name: str, value: str | None) -> RequestView:
    parts = []
    for part in view.raw_query.split("&"):
        if part.split("=", 1)[0] != name:
            parts.append(part)
        elif value is not None:
            parts.append(f"{name}={value}")
    return replace(view, raw_query="&".join(parts))


@pytest.mark.parametrize(
    ("name", "value", "code", "fragment"),
    [
        ("Expires", None, "AccessDenied", "requires the Signature, Expires and AWSAccessKeyId"),
        ("AWSAccessKeyId", None, "AccessDenied", "requires the Signature, Expires and AWSAccessKeyId"),
        ("Signature", "", "AccessDenied", "requires the Signature, Expires and AWSAccessKeyId"),
        ("Expires", "tomorrow", "AccessDenied", "seconds since epoch"),
        ("Expires", str(int(NOW.timestamp()) + 7200), "SignatureDoesNotMatch", ""),
        ("Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D", "SignatureDoesNotMatch", ""),
        ("AWSAccessKeyId", "AKIDUNKNOWN", "InvalidAccessKeyId", ""),
    ],
)
async def test_query_auth_parameter_errors(name: str, value: str | None, code: str, fragment: str) -> None:
    request, _ = s3_request("GET", "bkt", "k")
    error = await reject(_edit_query(url_view(sign_query(request)), name, value))
    assert error.code == code
    assert fragment in error.message


QUERY_MUTATIONS: dict[str, Mutation] = {
    "method": lambda v: replace(v, method="DELETE"),
    "path": lambda v: replace(v, raw_path="/bkt/other"),
    "subresource-added": lambda v: replace(v, raw_query="acl&" + v.raw_query),
    "content-type-header": lambda v: with_header(v, "Content-Type", "text/plain"),
}


@pytest.mark.parametrize("mutate", list(QUERY_MUTATIONS.values()), ids=list(QUERY_MUTATIONS))
async def test_query_auth_mutation_fails(mutate: Mutation) -> None:
    request, _ = s3_request("PUT", "bkt", "k")
    view = url_view(sign_query(request))
    await accept(view)
    error = await reject(mutate(view))
    assert error.code == "SignatureDoesNotMatch"
