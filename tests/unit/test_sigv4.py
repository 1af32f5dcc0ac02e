"""SigV4 golden tests: AWS's documented examples, then requests signed by botocore itself, then mutations.

Each botocore-signed request is turned into a RequestView exactly as it would arrive on the wire (raw
path and raw query split from the signed URL) and must authenticate; changing any one signed thing must
fail with AWS's error code.
"""

from __future__ import annotations

import email.utils
import hashlib
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence
from multidict import CIMultiDict, CIMultiDictProxy

from s3server.gateway import sigv4
from s3server.gateway.auth import AuthResult, Credential, RequestView, authenticate
from s3server.s3.errors import S3Error

AK = "AKIDTESTKEY123"
SK = "sEcReT/with+chars=and/slashes"
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ENDPOINT = "http://localhost:7841"

DOC_AK = "AKIAIOSFODNN7EXAMPLE"
DOC_SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"

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
    """botocore's signers read the clock themselves; pin it to NOW so signatures are reproducible."""
    stamp = NOW.timestamp()
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime", lambda remove_tzinfo=True: NOW.replace(tzinfo=None)
    )
    monkeypatch.setattr(
        "botocore.auth.formatdate",
        lambda timeval=None, localtime=False, usegmt=False: email.utils.formatdate(
            stamp if timeval is None else timeval, localtime, usegmt
        ),
    )
    monkeypatch.setattr("botocore.auth.time", types.SimpleNamespace(time=lambda: stamp))
    yield


def headers_of(pairs: list[tuple[str, str]]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def wire_view(request: AWSRequest, virtual_bucket: str | None = None) -> RequestView:
    """The request as the server would see it: raw path and query from the signed URL, Host and
    Content-Length added as the HTTP client would."""
    split = urlsplit(request.url)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        headers.add(name, value.decode("utf-8") if isinstance(value, bytes) else value)
    if "host" not in headers:
        headers["Host"] = split.netloc
    body = request.body
    if body:
        headers["Content-Length"] = str(len(body))
    return RequestView(
        method=request.method,
        raw_path=split.path,
        raw_query=split.query,
        headers=CIMultiDictProxy(headers),
        virtual_bucket=virtual_bucket,
    )


def s3_url(bucket: str | None, key: str = "", query: str = "", *, virtual: bool = False) -> str:
    """Build a URL the way botocore's serializer does: the key percent-encoded with '/' and '~' kept."""
    path = "/" + quote(key, safe="/~") if key else "/"
    if bucket and not virtual:
        path = f"/{bucket}{path}" if key else f"/{bucket}"
    host = f"{bucket}.localhost:7841" if virtual and bucket else "localhost:7841"
    return f"http://{host}{path}" + (f"?{query}" if query else "")


def sign_header(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    secret: str = SK,
    context: dict[str, object] | None = None,
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
    if context:
        request.context.update(context)
    S3SigV4Auth(Credentials(AK, secret), "s3", "us-east-1").add_auth(request)
    return request


def sign_query(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    expires: int = 3600,
    region: str = "us-east-1",
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    S3SigV4QueryAuth(Credentials(AK, SK), "s3", region, expires=expires).add_auth(request)
    return request


def replace(view: RequestView, **changes: object) -> RequestView:
    fields = {
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


# --------------------------------------------------------------------------------------------------------
# AWS's documented examples
# --------------------------------------------------------------------------------------------------------


def doc_get_object() -> RequestView:
    """S3 API reference, "Example: GET Object" (virtual-hosted examplebucket, Range bytes=0-9)."""
    return RequestView(
        method="GET",
        raw_path="/test.txt",
        raw_query="",
        headers=headers_of(
            [
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", sigv4.EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
                (
                    "Authorization",
                    f"AWS4-HMAC-SHA256 Credential={DOC_AK}/{DOC_SCOPE},"
                    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                ),
            ]
        ),
        virtual_bucket="examplebucket",
    )


async def test_doc_get_object() -> None:
    result = await accept(doc_get_object(), now=DOC_NOW + timedelta(minutes=5))
    assert result.credential.user == "doc"
    assert result.version == 4
    assert result.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    assert result.scope == DOC_SCOPE
    assert result.amz_date == "20130524T000000Z"
    assert result.payload_hash == sigv4.EMPTY_SHA256
    assert result.signing_key == sigv4.derive_signing_key(DOC_SK, "20130524", "us-east-1", "s3")


def test_doc_get_object_string_to_sign() -> None:
    canonical = (
        "GET\n/test.txt\n\n"
        "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{sigv4.EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{sigv4.EMPTY_SHA256}"
    )
    to_sign = sigv4.string_to_sign("20130524T000000Z", DOC_SCOPE, canonical)
    assert to_sign.endswith("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    key = sigv4.derive_signing_key(DOC_SK, "20130524", "us-east-1", "s3")
    assert sigv4.sign(key, to_sign) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


async def test_doc_get_object_wrong_range_fails() -> None:
    view = with_header(doc_get_object(), "Range", "bytes=0-10")
    error = await reject(view, now=DOC_NOW)
    assert error.code == "SignatureDoesNotMatch"
    assert error.status == 403
    assert error.fields["AWSAccessKeyId"] == DOC_AK
    assert "range:bytes=0-10" in error.fields["CanonicalRequest"]
    assert error.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n20130524T000000Z\n")


async def test_doc_presigned_url() -> None:
    """S3 API reference, query-string auth example: GET /test.txt valid for 86400 seconds."""
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={DOC_AK}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    view = RequestView(
        "GET", "/test.txt", query, headers_of([("Host", "examplebucket.s3.amazonaws.com")]), "examplebucket"
    )
    result = await accept(view, now=DOC_NOW + timedelta(hours=23))
    assert result.payload_hash == "UNSIGNED-PAYLOAD"
    error = await reject(view, now=DOC_NOW + timedelta(seconds=86401))
    assert (error.code, error.message) == ("AccessDenied", "Request has expired")
    assert error.fields["X-Amz-Expires"] == "86400"
    assert error.fields["Expires"] == "2013-05-25T00:00:00Z"


def doc_chunked_put() -> RequestView:
    """S3 API reference, chunked upload example: 66560 bytes of 'a' in 64 KiB + 1 KiB chunks."""
    return RequestView(
        method="PUT",
        raw_path="/examplebucket/chunkObject.txt",
        raw_query="",
        headers=headers_of(
            [
                ("Host", "s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("Content-Encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"),
                ("Content-Length", "66824"),
                (
                    "Authorization",
                    f"AWS4-HMAC-SHA256 Credential={DOC_AK}/{DOC_SCOPE},SignedHeaders=content-encoding;"
                    "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
                    "x-amz-storage-class,"
                    "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
                ),
            ]
        ),
    )


async def test_doc_chunked_upload_seed_and_chunk_signatures() -> None:
    result = await accept(doc_chunked_put(), now=DOC_NOW)
    assert result.payload_hash == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    assert result.signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"

    expected = [
        (b"a" * 65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
        (b"a" * 1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
        (b"", "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
    ]
    previous = result.signature
    for chunk, signature in expected:
        to_sign = sigv4.chunk_string_to_sign(
            result.amz_date, result.scope, previous, hashlib.sha256(chunk).hexdigest()
        )
        assert sigv4.sign(result.signing_key, to_sign) == signature
        previous = signature


def test_chunk_string_to_sign_layout() -> None:
    to_sign = sigv4.chunk_string_to_sign("20130524T000000Z", DOC_SCOPE, "prev", "abc")
    assert to_sign == (
        f"AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n{DOC_SCOPE}\nprev\n{sigv4.EMPTY_SHA256}\nabc"
    )


def test_trailer_string_to_sign_layout() -> None:
    trailer = b"x-amz-checksum-crc32c:sOO8/Q==\n"
    digest = hashlib.sha256(trailer).hexdigest()
    to_sign = sigv4.trailer_string_to_sign("20130524T000000Z", DOC_SCOPE, "prev", digest)
    assert to_sign == f"AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n{DOC_SCOPE}\nprev\n{digest}"


def test_derive_signing_key_doc_example() -> None:
    """AWS General Reference, "Examples of how to derive a signing key for Signature Version 4"."""
    key = sigv4.derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


# --------------------------------------------------------------------------------------------------------
# canonical pieces against botocore
# --------------------------------------------------------------------------------------------------------

QUERY_CASES = {
    "plain": [("list-type", "2"), ("prefix", "photos/2026"), ("delimiter", "/")],
    "spaces-plus-percent": [("prefix", "a b+c%d"), ("marker", "x y")],
    "unicode": [("prefix", "ümlaut/日本"), ("start-after", "é")],
    "repeated-name": [("b", "2"), ("a", "z"), ("a", "y"), ("a", "")],
    "reserved": [("k", "!*'();:@&=+$,/?#[]"), ("~tilde", "-_.~")],
    "empty-value": [("uploads", ""), ("versionId", "null")],
}


@pytest.mark.parametrize("params", list(QUERY_CASES.values()), ids=list(QUERY_CASES))
def test_canonical_query_matches_botocore(params: list[tuple[str, str]]) -> None:
    raw = percent_encode_sequence(params)
    ours = sigv4.canonical_query(sigv4.parse_query(raw))
    theirs = S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1")._canonical_query_string_params(params)
    assert ours == theirs


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("uploads", "uploads="),
        ("a=1&&b=2", "a=1&b=2"),
        ("prefix=a+b", "prefix=a%2Bb"),  # '+' is a literal plus in S3 signing, not a space
        ("prefix=a%20b", "prefix=a%20b"),
        ("prefix=a b", "prefix=a%20b"),
        ("p=%2f", "p=%2F"),
        ("p=%FF%FE", "p=%FF%FE"),  # invalid UTF-8 escapes survive byte-for-byte
        ("b=1&a=2&a=1", "a=1&a=2&b=1"),
        ("", ""),
    ],
)
def test_canonical_query_edge_cases(raw: str, expected: str) -> None:
    assert sigv4.canonical_query(sigv4.parse_query(raw)) == expected


def test_canonical_headers_trim_and_join() -> None:
    headers = headers_of([("X-Amz-Meta-A", "  one   two  "), ("x-amz-meta-a", "three"), ("Host", "h")])
    assert (
        sigv4.canonical_headers(headers, ("host", "x-amz-meta-a")) == "host:h\nx-amz-meta-a:one two,three\n"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/bucket/a%20b", ["/bucket/a%20b"]),
        ("/bucket/a+b", ["/bucket/a+b", "/bucket/a%2Bb"]),
        ("/bucket/it's!", ["/bucket/it's!", "/bucket/it%27s%21"]),
        ("", ["/"]),
    ],
)
def test_canonical_uris(raw: str, expected: list[str]) -> None:
    assert list(sigv4.canonical_uris(raw)) == expected


# --------------------------------------------------------------------------------------------------------
# header auth: botocore-signed shapes
# --------------------------------------------------------------------------------------------------------

HEADER_SHAPES: dict[str, tuple[str, str, dict[str, str], bytes, str | None]] = {
    "get-simple": ("GET", s3_url("bkt", "key.txt"), {}, b"", None),
    "key-space": ("GET", s3_url("bkt", "my key"), {}, b"", None),
    "key-plus": ("GET", s3_url("bkt", "a+b"), {}, b"", None),
    "key-percent": ("GET", s3_url("bkt", "100%/x%20y"), {}, b"", None),
    "key-unicode": ("GET", s3_url("bkt", "ümlaut/日本語/😀"), {}, b"", None),
    "key-double-slash-trailing": ("GET", s3_url("bkt", "a//b/"), {}, b"", None),
    "key-reserved": ("GET", s3_url("bkt", "!*'();:@&=$,?#[]~"), {}, b"", None),
    "list-buckets": ("GET", s3_url(None), {}, b"", None),
    "bucket-only": ("HEAD", s3_url("bkt"), {}, b"", None),
    "uploads": ("POST", s3_url("bkt", "big.bin", "uploads"), {}, b"", None),
    "list-v2": (
        "GET",
        s3_url("bkt", "", "list-type=2&prefix=a%2Fb&delimiter=%2F&encoding-type=url"),
        {},
        b"",
        None,
    ),
    "tagging": ("GET", s3_url("bkt", "k", "tagging"), {}, b"", None),
    "response-override": (
        "GET",
        s3_url("bkt", "k", "response-content-type=text%2Fplain%3B%20charset%3Dutf-8&versionId=3%2B4"),
        {},
        b"",
        None,
    ),
    "upload-part": ("PUT", s3_url("bkt", "k", "partNumber=2&uploadId=abc%2Bdef"), {}, b"part", None),
    "put-with-meta": (
        "PUT",
        s3_url("bkt", "dir/file.txt"),
        {
            "Content-Type": "text/plain",
            "x-amz-meta-note": "  spaced   out  value ",
            "x-amz-storage-class": "STANDARD",
            "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==",
        },
        b"hello",
        None,
    ),
    "virtual-hosted": ("GET", s3_url("bkt", "dir/my key", virtual=True), {}, b"", "bkt"),
    "virtual-hosted-bucket": ("GET", s3_url("bkt", "", "list-type=2", virtual=True), {}, b"", "bkt"),
    "range": ("GET", s3_url("bkt", "k"), {"Range": "bytes=0-9"}, b"", None),
}


@pytest.mark.parametrize("shape", list(HEADER_SHAPES.values()), ids=list(HEADER_SHAPES))
async def test_header_auth_botocore_shapes(shape: tuple[str, str, dict[str, str], bytes, str | None]) -> None:
    method, url, headers, body, virtual = shape
    request = sign_header(method, url, headers, body)
    view = wire_view(request, virtual)
    result = await accept(view)
    assert result.version == 4
    assert result.credential.user == "alice"
    assert result.payload_hash == hashlib.sha256(body).hexdigest()
    assert result.amz_date == "20260101T120000Z"
    assert result.scope == "20260101/us-east-1/s3/aws4_request"
    assert result.signature == request.headers["Authorization"].rsplit("Signature=", 1)[1]


async def test_header_auth_repeated_header() -> None:
    request = AWSRequest(method="GET", url=s3_url("bkt", "k"), headers={"x-amz-meta-a": "one"})
    request.headers["x-amz-meta-a"] = "two"  # a second header line, not a replacement
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(request)
    view = wire_view(request)
    assert view.headers.getall("x-amz-meta-a") == ["one", "two"]  # type: ignore[attr-defined]
    await accept(view)


async def test_header_auth_unsigned_payload() -> None:
    context = {"client_config": Config(s3={"payload_signing_enabled": False})}
    request = sign_header("PUT", s3_url("bkt", "k"), {}, b"body", context=context)
    result = await accept(wire_view(request))
    assert result.payload_hash == "UNSIGNED-PAYLOAD"


async def test_header_auth_streaming_unsigned_trailer() -> None:
    context = {"checksum": {"request_algorithm": {"in": "trailer", "name": "crc32"}}}
    request = sign_header(
        "PUT", s3_url("bkt", "k"), {"Content-Encoding": "aws-chunked"}, b"x", context=context
    )
    result = await accept(wire_view(request))
    assert result.payload_hash == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


async def test_header_auth_with_date_header_instead_of_x_amz_date() -> None:
    request = sign_header("GET", s3_url("bkt", "k"), {"Date": "whatever"})
    view = wire_view(request)
    assert "x-amz-date" not in view.headers
    result = await accept(view)
    assert result.amz_date == "20260101T120000Z"


async def test_header_auth_any_region() -> None:
    request = AWSRequest(method="GET", url=s3_url("bkt", "k"))
    S3SigV4Auth(Credentials(AK, SK), "s3", "eu-central-7-local").add_auth(request)
    result = await accept(wire_view(request))
    assert result.scope == "20260101/eu-central-7-local/s3/aws4_request"


@pytest.mark.parametrize(
    "template",
    [
        "AWS4-HMAC-SHA256 Credential={c},SignedHeaders={h},Signature={s}",
        "AWS4-HMAC-SHA256 Credential={c}, SignedHeaders={h}, Signature={s}",
        "AWS4-HMAC-SHA256  Credential={c} ,  SignedHeaders={h} ,Signature={s} ",
        "AWS4-HMAC-SHA256 Credential={c} SignedHeaders={h} Signature={s}",
    ],
    ids=["no-spaces", "botocore", "extra-spaces", "spaces-only"],
)
async def test_header_auth_layout_tolerance(template: str) -> None:
    request = sign_header("GET", s3_url("bkt", "k"))
    parts = dict(
        item.strip().split("=", 1) for item in request.headers["Authorization"].split(" ", 1)[1].split(",")
    )
    value = template.format(c=parts["Credential"], h=parts["SignedHeaders"], s=parts["Signature"])
    await accept(with_header(wire_view(request), "Authorization", value))


@pytest.mark.parametrize(
    ("key", "sent_path"),
    [("a+b", "/bkt/a+b"), ("it's (1)!", "/bkt/it's%20(1)!"), ("a:b@c", "/bkt/a:b@c")],
)
async def test_header_auth_path_sent_unencoded(key: str, sent_path: str) -> None:
    """Clients that sign the encoded path but send some characters raw are accepted (lenient)."""
    request = sign_header("GET", s3_url("bkt", key))
    await accept(replace(wire_view(request), raw_path=sent_path))


# --------------------------------------------------------------------------------------------------------
# header auth: mutations
# --------------------------------------------------------------------------------------------------------


def signed_put() -> RequestView:
    request = sign_header(
        "PUT",
        s3_url("bkt", "dir/file.txt", "tagging"),
        {"Content-Type": "text/plain", "x-amz-meta-a": "1"},
        b"hello",
    )
    return wire_view(request)


MUTATIONS: dict[str, Mutation] = {
    "method": lambda v: replace(v, method="POST"),
    "path": lambda v: replace(v, raw_path="/bkt/dir/file.txu"),
    "path-case": lambda v: replace(v, raw_path="/bkt/dir/File.txt"),
    "query-value": lambda v: replace(v, raw_query="tagging=x"),
    "query-added": lambda v: replace(v, raw_query="tagging&versionId=1"),
    "query-removed": lambda v: replace(v, raw_query=""),
    "signed-header": lambda v: with_header(v, "Content-Type", "text/html"),
    "meta-header": lambda v: with_header(v, "x-amz-meta-a", "2"),
    "host": lambda v: with_header(v, "Host", "evil:7841"),
    "payload-hash": lambda v: with_header(v, "x-amz-content-sha256", sigv4.EMPTY_SHA256),
    "signature": lambda v: with_header(v, "Authorization", v.headers["Authorization"][:-4] + "0000"),
    "signature-garbage": lambda v: with_header(
        v, "Authorization", v.headers["Authorization"].rsplit("=", 1)[0] + "=ünïcode"
    ),
}


@pytest.mark.parametrize("mutate", list(MUTATIONS.values()), ids=list(MUTATIONS))
async def test_header_auth_mutation_fails(mutate: Mutation) -> None:
    view = signed_put()
    await accept(view)
    error = await reject(mutate(view))
    assert error.code == "SignatureDoesNotMatch"


async def test_header_auth_wrong_secret() -> None:
    request = sign_header("GET", s3_url("bkt", "k"), secret="not-the-secret")
    error = await reject(wire_view(request))
    assert error.code == "SignatureDoesNotMatch"
    assert error.fields["SignatureProvided"] == request.headers["Authorization"].rsplit("=", 1)[1]


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (timedelta(minutes=14, seconds=59), None),
        (timedelta(minutes=-14, seconds=-59), None),
        (timedelta(minutes=15, seconds=1), "RequestTimeTooSkewed"),
        (timedelta(minutes=-15, seconds=-1), "RequestTimeTooSkewed"),
        (timedelta(days=1), "RequestTimeTooSkewed"),
    ],
)
async def test_header_auth_clock_skew(offset: timedelta, code: str | None) -> None:
    view = wire_view(sign_header("GET", s3_url("bkt", "k")))
    if code is None:
        await accept(view, now=NOW + offset)
    else:
        error = await reject(view, now=NOW + offset)
        assert (error.code, error.status) == (code, 403)
        assert error.fields["RequestTime"] == "20260101T120000Z"


async def test_header_auth_unknown_and_inactive_keys() -> None:
    view = wire_view(sign_header("GET", s3_url("bkt", "k")))
    auth = view.headers["Authorization"]
    for key in ("AKIDUNKNOWN", "AKIDINACTIVE"):
        error = await reject(with_header(view, "Authorization", auth.replace(AK, key)))
        assert (error.code, error.status) == ("InvalidAccessKeyId", 403)
        assert error.fields["AWSAccessKeyId"] == key


async def test_header_auth_missing_content_sha256() -> None:
    view = with_header(wire_view(sign_header("GET", s3_url("bkt", "k"))), "x-amz-content-sha256", None)
    error = await reject(view)
    assert (error.code, error.status) == ("InvalidRequest", 400)
    assert error.message == "Missing required header for this request: x-amz-content-sha256"


async def test_header_auth_bad_content_sha256() -> None:
    view = with_header(wire_view(sign_header("GET", s3_url("bkt", "k"))), "x-amz-content-sha256", "abc")
    error = await reject(view)
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.fields["ArgumentName"] == "x-amz-content-sha256"


async def test_header_auth_missing_date() -> None:
    view = with_header(wire_view(sign_header("GET", s3_url("bkt", "k"))), "x-amz-date", None)
    error = await reject(view)
    assert (error.code, error.message) == ("AccessDenied", sigv4._NO_DATE)


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host", "three"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws4_request SignedHeaders", "three"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/aws4_request, {rest}", "mal-formed"),
        ("AWS4-HMAC-SHA256 Credential={ak}/2026011/us-east-1/s3/aws4_request, {rest}", "mal-formed"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/ec2/aws4_request, {rest}", 'service "ec2"'),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws5_request, {rest}", "terminal"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260102/us-east-1/s3/aws4_request, {rest}", "credential date"),
        (
            "AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws4_request, SignedHeaders=;host, "
            "Signature=00",
            "three",
        ),
    ],
)
async def test_header_auth_malformed(authorization: str, fragment: str) -> None:
    rest = "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00"
    view = wire_view(sign_header("GET", s3_url("bkt", "k")))
    error = await reject(with_header(view, "Authorization", authorization.format(ak=AK, rest=rest)))
    assert (error.code, error.status) == ("AuthorizationHeaderMalformed", 400)
    assert fragment in error.message


FULL_SIGNATURE = "Signature=" + "0" * 64


@pytest.mark.parametrize(
    ("authorization", "code", "fragment"),
    [
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/aws4_request, {rest}", "", "mal-formed"),
        ("AWS4-HMAC-SHA256 Credential={ak}/2026011/us-east-1/s3/aws4_request, {rest}", "", "mal-formed"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/ec2/aws4_request, {rest}", "", '"ec2"'),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws5_request, {rest}", "", "terminal"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260102/us-east-1/s3/aws4_request, {rest}", "", "date"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws4_request, SignedHeaders=;host, {sig}",
         "", "three"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws4_request, {sig}", "", "three"),
        ("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, {sig}", "", "three"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws4_request, {rest} junk", "", "three"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws4_request, Oops {rest}", "", "three"),
        ("AWS4-HMAC-SHA256 Credential=/20260101/us-east-1/s3/aws4_request, {rest}", "", "mal-formed"),
        ("AWS4-HMAC-SHA256 Credential={ak}/20260101/us-east-1/s3/aws4_request, {rest}",
         "SignatureDoesNotMatch", ""),
    ],
)  # fmt: skip
async def test_header_auth_with_a_full_length_signature(authorization: str, code: str, fragment: str) -> None:
    """A header ending in 64 hex digits takes the cached parse: it refuses exactly what the full one does,
    the first time and when the same header comes again."""
    rest = f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, {FULL_SIGNATURE}"
    value = authorization.format(ak=AK, rest=rest, sig=FULL_SIGNATURE)
    view = with_header(wire_view(sign_header("GET", s3_url("bkt", "k"))), "Authorization", value)
    for _ in range(2):
        error = await reject(view)
        assert error.code == (code or "AuthorizationHeaderMalformed")
        assert fragment in error.message


async def test_header_auth_first_of_repeated_signatures_counts() -> None:
    request = sign_header("GET", s3_url("bkt", "k"))
    good = request.headers["Authorization"]
    signature = good.rsplit("Signature=", 1)[1]
    view = wire_view(request)
    await accept(with_header(view, "Authorization", f"{good}, {FULL_SIGNATURE}"))
    error = await reject(
        with_header(view, "Authorization", good.replace(signature, "0" * 64) + f", Signature={signature}")
    )
    assert error.code == "SignatureDoesNotMatch"


async def test_header_auth_cached_scheme_still_checks_each_request() -> None:
    """The second request with the same Authorization prefix is checked afresh: its headers, its date
    and its signature."""
    view = wire_view(sign_header("GET", s3_url("bkt", "k")))
    await accept(view)
    await accept(view)
    error = await reject(with_header(view, "x-amz-acl", "public-read"))
    assert error.fields["HeadersNotSigned"] == "x-amz-acl"
    error = await reject(with_header(view, "x-amz-date", "20260102T120000Z"))
    assert (error.code, "credential date" in error.message) == ("AuthorizationHeaderMalformed", True)
    error = await reject(with_header(view, "Host", "elsewhere:7841"))
    assert error.code == "SignatureDoesNotMatch"
    upper = view.headers["Authorization"].rsplit("=", 1)
    error = await reject(with_header(view, "Authorization", f"{upper[0]}={upper[1].upper()}"))
    assert error.code == "SignatureDoesNotMatch"
    await accept(view)


async def test_header_auth_unsigned_amz_header_refused() -> None:
    view = with_header(wire_view(sign_header("GET", s3_url("bkt", "k"))), "x-amz-acl", "public-read")
    error = await reject(view)
    assert (error.code, error.message) == ("AccessDenied", sigv4._UNSIGNED_HEADERS)
    assert error.fields["HeadersNotSigned"] == "x-amz-acl"


async def test_header_auth_host_must_be_signed() -> None:
    view = wire_view(sign_header("GET", s3_url("bkt", "k")))
    auth = view.headers["Authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
    error = await reject(with_header(view, "Authorization", auth))
    assert error.code == "AccessDenied"
    assert error.fields["HeadersNotSigned"] == "host"


async def test_signature_mismatch_fields_are_xml_safe() -> None:
    view = wire_view(sign_header("GET", s3_url("bkt", "k"), {"x-amz-meta-b": "x"}))
    view = with_header(view, "x-amz-meta-b", "bad\udcff\x01byte")
    error = await reject(view)
    assert error.code == "SignatureDoesNotMatch"
    assert "\udcff" not in error.fields["CanonicalRequest"]
    assert "\x01" not in error.fields["CanonicalRequest"]


# --------------------------------------------------------------------------------------------------------
# presigned (query) auth
# --------------------------------------------------------------------------------------------------------

QUERY_SHAPES: dict[str, tuple[str, str, dict[str, str], str | None]] = {
    "get-simple": ("GET", s3_url("bkt", "key.txt"), {}, None),
    "key-space-plus-percent": ("GET", s3_url("bkt", "a b+c%d"), {}, None),
    "key-unicode-slashes": ("GET", s3_url("bkt", "ü//日本/"), {}, None),
    "response-override": (
        "GET",
        s3_url("bkt", "k", "response-content-type=text%2Fplain&response-content-disposition=attachment%3B"),
        {},
        None,
    ),
    "put-content-type": ("PUT", s3_url("bkt", "up load"), {"Content-Type": "image/png"}, None),
    "put-meta": ("PUT", s3_url("bkt", "k"), {"x-amz-meta-owner": "alice"}, None),
    "virtual-hosted": ("GET", s3_url("bkt", "x/y z", virtual=True), {}, "bkt"),
    "upload-part": ("PUT", s3_url("bkt", "k", "partNumber=1&uploadId=u%2Fv"), {}, None),
}


@pytest.mark.parametrize("shape", list(QUERY_SHAPES.values()), ids=list(QUERY_SHAPES))
async def test_query_auth_botocore_shapes(shape: tuple[str, str, dict[str, str], str | None]) -> None:
    method, url, headers, virtual = shape
    request = sign_query(method, url, headers)
    view = wire_view(request, virtual)
    result = await accept(view, now=NOW + timedelta(minutes=59))
    assert result.version == 4
    assert result.payload_hash == "UNSIGNED-PAYLOAD"
    assert result.amz_date == "20260101T120000Z"
    assert result.signature == view.raw_query.rsplit("X-Amz-Signature=", 1)[1]


async def test_query_auth_expiry_boundaries() -> None:
    view = wire_view(sign_query("GET", s3_url("bkt", "k"), expires=60))
    await accept(view, now=NOW + timedelta(seconds=60))
    error = await reject(view, now=NOW + timedelta(seconds=61))
    assert (error.code, error.message, error.status) == ("AccessDenied", "Request has expired", 403)
    assert error.fields["ServerTime"] == "2026-01-01T12:01:01Z"


async def test_query_auth_not_yet_valid() -> None:
    view = wire_view(sign_query("GET", s3_url("bkt", "k")))
    await accept(view, now=NOW - timedelta(minutes=14))
    error = await reject(view, now=NOW - timedelta(minutes=16))
    assert (error.code, error.message) == ("AccessDenied", "Request is not valid yet")


async def test_query_auth_expires_over_a_week() -> None:
    await accept(wire_view(sign_query("GET", s3_url("bkt", "k"), expires=604800)))
    error = await reject(wire_view(sign_query("GET", s3_url("bkt", "k"), expires=604801)))
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 400)
    assert error.message == "X-Amz-Expires must be less than a week (in seconds) that is; 604800"


def _edit_query(view: RequestView, name: str, value: str | None) -> RequestView:
    pairs = []
    for part in view.raw_query.split("&"):
        key = part.split("=", 1)[0]
        if key != name:
            pairs.append(part)
        elif value is not None:
            pairs.append(f"{name}={value}")
    return replace(view, raw_query="&".join(pairs))


@pytest.mark.parametrize(
    ("name", "value", "code", "fragment"),
    [
        ("X-Amz-Date", None, "AuthorizationQueryParametersError", "requires the X-Amz-Algorithm"),
        ("X-Amz-SignedHeaders", None, "AuthorizationQueryParametersError", "requires the X-Amz-Algorithm"),
        ("X-Amz-Expires", "", "AuthorizationQueryParametersError", "requires the X-Amz-Algorithm"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA1", "AuthorizationQueryParametersError", "only supports"),
        ("X-Amz-Date", "2026-01-01T12:00:00Z", "AuthorizationQueryParametersError", "ISO8601"),
        ("X-Amz-Expires", "soon", "AuthorizationQueryParametersError", "should be a number"),
        ("X-Amz-Expires", "-1", "AuthorizationQueryParametersError", "non-negative"),
        (
            "X-Amz-Credential",
            f"{AK}%2F20260101%2Fus-east-1%2Fs3",
            "AuthorizationQueryParametersError",
            "mal-formed",
        ),
        (
            "X-Amz-Credential",
            f"{AK}%2F20260102%2Fus-east-1%2Fs3%2Faws4_request",
            "AuthorizationQueryParametersError",
            "Invalid credential date",
        ),
        (
            "X-Amz-Credential",
            "AKIDUNKNOWN%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
            "InvalidAccessKeyId",
            "",
        ),
        ("X-Amz-Expires", "7200", "SignatureDoesNotMatch", ""),
        ("X-Amz-Signature", "0" * 64, "SignatureDoesNotMatch", ""),
        ("X-Amz-Date", "20260101T120001Z", "SignatureDoesNotMatch", ""),
    ],
)
async def test_query_auth_parameter_errors(name: str, value: str | None, code: str, fragment: str) -> None:
    view = wire_view(sign_query("GET", s3_url("bkt", "k")))
    error = await reject(_edit_query(view, name, value))
    assert error.code == code
    assert fragment in error.message


QUERY_MUTATIONS: dict[str, Mutation] = {
    "method": lambda v: replace(v, method="DELETE"),
    "path": lambda v: replace(v, raw_path=v.raw_path + "x"),
    "added-param": lambda v: replace(v, raw_query="versionId=2&" + v.raw_query),
    "host": lambda v: with_header(v, "Host", "other:1"),
    "signed-content-type": lambda v: with_header(v, "Content-Type", "text/html"),
}


@pytest.mark.parametrize("mutate", list(QUERY_MUTATIONS.values()), ids=list(QUERY_MUTATIONS))
async def test_query_auth_mutation_fails(mutate: Mutation) -> None:
    view = wire_view(sign_query("PUT", s3_url("bkt", "k"), {"Content-Type": "image/png"}))
    await accept(view)
    error = await reject(mutate(view))
    assert error.code == "SignatureDoesNotMatch"


async def test_query_auth_unsigned_amz_header_refused() -> None:
    view = with_header(wire_view(sign_query("PUT", s3_url("bkt", "k"))), "x-amz-copy-source", "/other/key")
    error = await reject(view)
    assert error.code == "AccessDenied"
    assert error.fields["HeadersNotSigned"] == "x-amz-copy-source"


async def test_query_auth_unsigned_content_sha256_tolerated() -> None:
    view = wire_view(sign_query("PUT", s3_url("bkt", "k")))
    result = await accept(with_header(view, "x-amz-content-sha256", sigv4.EMPTY_SHA256))
    assert result.payload_hash == "UNSIGNED-PAYLOAD"


async def test_query_auth_signed_content_sha256_is_reported() -> None:
    digest = hashlib.sha256(b"data").hexdigest()
    view = wire_view(sign_query("PUT", s3_url("bkt", "k"), {"x-amz-content-sha256": digest}))
    result = await accept(view)
    assert result.payload_hash == digest


async def test_query_auth_content_sha256_query_param() -> None:
    """SDKs that hoist x-amz-content-sha256 into the query sign with its value as the payload hash."""
    request = AWSRequest(method="PUT", url=s3_url("bkt", "k", "X-Amz-Content-Sha256=UNSIGNED-PAYLOAD"))
    S3SigV4QueryAuth(Credentials(AK, SK), "s3", "us-east-1").add_auth(request)
    result = await accept(wire_view(request))
    assert result.payload_hash == "UNSIGNED-PAYLOAD"


def test_parse_amz_date() -> None:
    assert sigv4.parse_amz_date("20260101T120000Z") == NOW
    fullwidth = "\uff12\uff10\uff12\uff16" + "0101T120000Z"
    for bad in ("20260101T120000", "2026010lT120000Z", "20261301T120000Z", fullwidth, ""):
        assert sigv4.parse_amz_date(bad) is None


def test_signing_key_is_cached() -> None:
    first = sigv4.derive_signing_key(SK, "20260101", "us-east-1", "s3")
    assert sigv4.derive_signing_key(SK, "20260101", "us-east-1", "s3") is first
