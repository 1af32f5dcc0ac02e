"""AWS Signature Version 4 verification for S3: Authorization header, presigned query, chunk signatures.

Verification is split in two so the credential lookup (async, in ``auth``) sits between the steps:
``parse_header_auth`` / ``parse_query_auth`` check shape and time without any secret and return a
``V4Request``; ``verify`` then recomputes the signature with the secret. Nothing here touches aiohttp.

Errors raised (all ``S3Error``):
    AuthorizationHeaderMalformed       header auth: missing components, bad Credential scope
    AuthorizationQueryParametersError  presigned: missing/bad X-Amz-* parameters
    InvalidRequest / InvalidArgument   missing / unknown x-amz-content-sha256
    AccessDenied                       no usable date, expired or not-yet-valid URL, unsigned headers
    RequestTimeTooSkewed               header auth more than 15 minutes off the server clock
    SignatureDoesNotMatch              the HMAC differs
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, unquote_to_bytes

from s3server.s3.errors import S3Error

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from s3server.gateway.request import RequestView

ALGORITHM = "AWS4-HMAC-SHA256"
CHUNK_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
TRAILER_ALGORITHM = "AWS4-HMAC-SHA256-TRAILER"
TERMINATOR = "aws4_request"
SERVICE = "s3"

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_PAYLOAD_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
# Only the HMAC variants: the ECDSA (SigV4a) streaming modes need an algorithm we don't accept.
PAYLOAD_CONSTANTS = frozenset(
    {UNSIGNED_PAYLOAD, STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_PAYLOAD_TRAILER}
)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600

# The presigned-URL parameters; their presence (any of the first three) selects V4 query auth.
P_ALGORITHM = "X-Amz-Algorithm"
P_CREDENTIAL = "X-Amz-Credential"
P_SIGNATURE = "X-Amz-Signature"
P_DATE = "X-Amz-Date"
P_SIGNED_HEADERS = "X-Amz-SignedHeaders"
P_EXPIRES = "X-Amz-Expires"
QUERY_TRIGGERS = frozenset({P_ALGORITHM, P_CREDENTIAL, P_SIGNATURE})
_PRESIGN_PARAMS = frozenset({P_ALGORITHM, P_CREDENTIAL, P_SIGNATURE, P_DATE, P_SIGNED_HEADERS, P_EXPIRES})

_AUTH_ITEM_SPLIT = re.compile(r"[\s,]+")
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]*")
_UNRESERVED_OR_SLASH = re.compile(r"[A-Za-z0-9\-._~/]*")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_XML_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_HEADER_MALFORMED = "The authorization header is malformed; "
_QUERY_CREDENTIAL = "Error parsing the X-Amz-Credential parameter; "
_CREDENTIAL_SHAPE = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)
_THREE_COMPONENTS = (
    _HEADER_MALFORMED
    + "the authorization header requires three components: Credential, SignedHeaders, and Signature."
)
_MISSING_QUERY_PARAMS = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
_BAD_PAYLOAD_HASH = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value."
)
_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_UNSIGNED_HEADERS = "There were headers present in the request which were not signed"

QueryPairs = list[tuple[str, str | None]]


# ---------------------------------------------------------------------------------------------------------
# Helpers shared with sigv2
# ---------------------------------------------------------------------------------------------------------


def parse_query(raw_query: str) -> QueryPairs:
    """Split a raw query into (name, value) pairs, still percent-encoded; value None when there is no '='.

    Kept raw because V4 re-encodes canonically while V2 signs names as sent.
    """
    if not raw_query:
        return []
    pairs: QueryPairs = []
    for part in raw_query.split("&"):
        if part:
            name, sep, value = part.partition("=")
            pairs.append((name, value if sep else None))
    return pairs


@lru_cache(maxsize=4096)  # a client repeats these on every request; the result is immutable
def parse_amz_date(value: str) -> datetime | None:
    """ISO 8601 basic format (20260101T000000Z) as an aware UTC datetime; None if malformed."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    digits = value[:8] + value[9:15]
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def parse_http_date(value: str) -> datetime | None:
    """An RFC 1123 / RFC 850 / asctime date as an aware UTC datetime; None if malformed."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso8601(moment: datetime) -> str:
    """The form AWS uses for ServerTime/Expires fields in its error bodies."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_skew(request_time: datetime, raw_value: str, now: datetime) -> None:
    """Header-signed requests must be within 15 minutes of the server clock, either way."""
    if abs(request_time - now) > MAX_SKEW:
        raise S3Error(
            "RequestTimeTooSkewed",
            RequestTime=raw_value,
            ServerTime=iso8601(now),
            MaxAllowedSkewMilliseconds=str(int(MAX_SKEW.total_seconds() * 1000)),
        )


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """Decode %XX escapes, then percent-encode every byte outside RFC 3986 unreserved (and '/' if kept).

    Works on bytes so invalid UTF-8 escapes survive unchanged, as a signer that never decoded them saw.
    """
    if (_UNRESERVED_OR_SLASH if keep_slash else _UNRESERVED).fullmatch(value):
        return value
    return quote(unquote_to_bytes(value), safe="/" if keep_slash else "")


def xml_safe(text: str) -> str:
    """Debug fields (StringToSign, CanonicalRequest) echo client bytes; keep them renderable as XML."""
    return _XML_UNSAFE.sub("?", text)


# ---------------------------------------------------------------------------------------------------------
# Signing primitives (also used by the aws-chunked decoder)
# ---------------------------------------------------------------------------------------------------------


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode("utf-8"), "sha256")


@lru_cache(maxsize=1024)
def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service, "aws4_request"; cached, it changes once a day."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def sign(signing_key: bytes, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of a string to sign; surrogate escapes map back to the bytes that came in."""
    return hmac.digest(signing_key, string_to_sign.encode("utf-8", "surrogateescape"), "sha256").hex()


def chunk_string_to_sign(amz_date: str, scope: str, previous_signature: str, chunk_sha256_hex: str) -> str:
    """String to sign for one aws-chunked chunk, chained to the previous (or seed) signature."""
    return f"{CHUNK_ALGORITHM}\n{amz_date}\n{scope}\n{previous_signature}\n{EMPTY_SHA256}\n{chunk_sha256_hex}"


def trailer_string_to_sign(
    amz_date: str, scope: str, previous_signature: str, trailer_sha256_hex: str
) -> str:
    """String to sign for the trailing headers chunk (x-amz-trailer-signature)."""
    return f"{TRAILER_ALGORITHM}\n{amz_date}\n{scope}\n{previous_signature}\n{trailer_sha256_hex}"


def canonical_query(pairs: Sequence[tuple[str, str | None]], skip: str | None = None) -> str:
    """Names and values URI-encoded (after decoding with unquote, not unquote_plus), sorted, '&'-joined."""
    if not pairs:
        return ""
    encoded = sorted((uri_encode(name), uri_encode(value or "")) for name, value in pairs if name != skip)
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """One "name:value\\n" line per signed header: values trimmed, inner whitespace runs collapsed."""
    getall = getattr(headers, "getall", None)
    if getall is None:  # a plain mapping (tests, the admin client): one value per name
        return "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)
    lines = []
    for name in signed_headers:
        values = getall(name, ())
        if len(values) == 1:
            lines.append(f"{name}:{' '.join(values[0].split())}\n")
        else:
            lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(lines)


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """The V4 string to sign for a whole request (header or presigned)."""
    digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


# ---------------------------------------------------------------------------------------------------------
# Parsing: everything that can be checked before the secret is known
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class V4Request:
    """A SigV4 request whose shape and time have been checked; ``verify`` finishes it with the secret."""

    access_key: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    amz_date: str  # ISO 8601 basic timestamp that went into the string to sign
    signed_headers: tuple[str, ...]
    signature: str
    payload_hash: str
    canonical_query: str
    presigned: bool
    scope: str  # "20260101/us-east-1/s3/aws4_request"
    signed_list: str  # the signed header names as the canonical request lists them ("host;x-amz-date")


@lru_cache(maxsize=4096)  # a client repeats these on every request; the result is immutable
def parse_credential(value: str, code: str, prefix: str) -> tuple[str, str, str, str]:
    """Split AKID/date/region/service/aws4_request; any region passes (the gateway is region-agnostic)."""
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        raise S3Error(code, prefix + _CREDENTIAL_SHAPE)
    access_key, date, region, service, terminator = parts
    if len(date) != 8 or not (date.isascii() and date.isdigit()):
        raise S3Error(code, prefix + _CREDENTIAL_SHAPE)
    if service != SERVICE:
        raise S3Error(code, f'{prefix}incorrect service "{service}". This endpoint belongs to "{SERVICE}".')
    if terminator != TERMINATOR:
        raise S3Error(code, f'{prefix}incorrect terminal "{terminator}". This endpoint uses "{TERMINATOR}".')
    return access_key, date, region, service


@lru_cache(maxsize=4096)  # a client repeats these on every request; the result is immutable
def _parse_signed_headers(value: str, code: str, message: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in value.split(";"))
    if not all(names):
        raise S3Error(code, message)
    return names


def _check_payload_hash(value: str) -> None:
    if value not in PAYLOAD_CONSTANTS and not _HEX64.fullmatch(value):
        raise S3Error(
            "InvalidArgument", _BAD_PAYLOAD_HASH, ArgumentName="x-amz-content-sha256", ArgumentValue=value
        )


def _check_all_signed(headers: Mapping[str, str], signed_headers: tuple[str, ...]) -> None:
    """S3 refuses x-amz-* headers (and Host) that the signature does not cover.

    x-amz-content-sha256 is tolerated unsigned, as S3 does: the body reader verifies it anyway.
    """
    missing = _unsigned_headers(tuple(headers), signed_headers)
    if missing:
        raise S3Error("AccessDenied", _UNSIGNED_HEADERS, HeadersNotSigned=missing)


@lru_cache(maxsize=4096)  # a client sends the same header names, signed the same way, every time
def _unsigned_headers(names: tuple[str, ...], signed_headers: tuple[str, ...]) -> str:
    """The names among `names` that must be signed and are not, ", "-joined ("" when none)."""
    signed = frozenset(signed_headers)
    missing: list[str] = []
    if "host" not in signed and any(name.lower() == "host" for name in names):
        missing.append("host")
    for name in names:
        lname = name.lower()
        if (
            lname.startswith("x-amz-")
            and lname not in signed
            and lname != "x-amz-content-sha256"
            and lname not in missing
        ):
            missing.append(lname)
    return ", ".join(missing)


def _request_time(headers: Mapping[str, str]) -> tuple[str, str, datetime]:
    """(raw value, ISO basic timestamp, moment) from x-amz-date, else from an RFC 1123 Date header."""
    raw = headers.get("x-amz-date")
    if raw is not None:
        moment = parse_amz_date(raw.strip())
        if moment is not None:
            return raw, raw.strip(), moment
        moment = parse_http_date(raw)
    else:
        raw = headers.get("date")
        moment = None if raw is None else parse_http_date(raw)
    if moment is None or raw is None:
        raise S3Error("AccessDenied", _NO_DATE)
    return raw, moment.strftime("%Y%m%dT%H%M%SZ"), moment


@dataclass(frozen=True, slots=True)
class _HeaderScheme:
    """What an Authorization header says besides its signature, already checked: a client repeats it
    on every request (until its date changes), so it is parsed once per distinct header."""

    access_key: str
    date: str
    region: str
    service: str
    scope: str
    signed_headers: tuple[str, ...]
    signed_list: str


_SIGNATURE_ITEM = "Signature="
_SIGNATURE_HEX = 64


def _auth_items(authorization: str) -> dict[str, str]:
    """The Key=value items after the scheme (the first of a repeated key wins)."""
    _, _, rest = authorization.strip().partition(" ")
    items: dict[str, str] = {}
    for item in _AUTH_ITEM_SPLIT.split(rest.strip()):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise S3Error("AuthorizationHeaderMalformed", _THREE_COMPONENTS)
        items.setdefault(key, value)
    return items


def _scheme(credential: str, signed: str) -> _HeaderScheme:
    access_key, date, region, service = parse_credential(
        credential, "AuthorizationHeaderMalformed", _HEADER_MALFORMED
    )
    signed_headers = _parse_signed_headers(signed, "AuthorizationHeaderMalformed", _THREE_COMPONENTS)
    return _HeaderScheme(
        access_key,
        date,
        region,
        service,
        f"{date}/{region}/{service}/{TERMINATOR}",
        signed_headers,
        ";".join(signed_headers),
    )


@lru_cache(maxsize=4096)  # the header up to its signature; bounded like the other per-client caches
def _known_scheme(prefix: str) -> _HeaderScheme | None:
    """The scheme of a well-formed header ending in ``Signature=``, or None when anything about it is
    unusual (then the full parse below runs and raises the right error in the right order)."""
    try:
        items = _auth_items(prefix + "0")
    except S3Error:
        return None
    credential, signed = items.get("Credential"), items.get("SignedHeaders")
    if items.get("Signature") != "0" or not (credential and signed):
        return None
    try:
        return _scheme(credential, signed)
    except S3Error:
        return None


def _split_signature(authorization: str) -> tuple[_HeaderScheme, str] | None:
    """(scheme, signature) of a header whose last item is a 64-hex-digit Signature, from the cache."""
    cut = len(authorization) - _SIGNATURE_HEX
    start = cut - len(_SIGNATURE_ITEM)
    if start <= 0 or not authorization.startswith(_SIGNATURE_ITEM, start):
        return None
    if authorization[start - 1] not in ", \t" or authorization.count(_SIGNATURE_ITEM) != 1:
        return None
    signature = authorization[cut:]
    if not _HEX64.fullmatch(signature):
        return None
    scheme = _known_scheme(authorization[:cut])
    return None if scheme is None else (scheme, signature)


def parse_header_auth(req: RequestView, authorization: str, pairs: QueryPairs, now: datetime) -> V4Request:
    """Parse ``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`` and check date and skew."""
    known = _split_signature(authorization)
    if known is None:
        items = _auth_items(authorization)
        credential = items.get("Credential")
        signed = items.get("SignedHeaders")
        signature = items.get("Signature")
        if not (credential and signed and signature):
            raise S3Error("AuthorizationHeaderMalformed", _THREE_COMPONENTS)

    headers = req.headers
    payload_hash = headers.get("x-amz-content-sha256")
    if payload_hash is None:
        raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    _check_payload_hash(payload_hash)

    if known is None:
        date = parse_credential(credential, "AuthorizationHeaderMalformed", _HEADER_MALFORMED)[1]
    else:
        scheme, signature = known
        date = scheme.date
    raw_time, amz_date, moment = _request_time(headers)
    if date != amz_date[:8]:
        raise S3Error(
            "AuthorizationHeaderMalformed",
            _HEADER_MALFORMED + "Invalid credential date. Date is not the same as X-Amz-Date.",
        )
    check_skew(moment, raw_time, now)
    if known is None:
        scheme = _scheme(credential, signed)
    _check_all_signed(headers, scheme.signed_headers)
    return V4Request(
        access_key=scheme.access_key,
        date=date,
        region=scheme.region,
        service=scheme.service,
        amz_date=amz_date,
        signed_headers=scheme.signed_headers,
        signature=signature,
        payload_hash=payload_hash,
        canonical_query=canonical_query(pairs) if pairs else "",
        presigned=False,
        scope=scheme.scope,
        signed_list=scheme.signed_list,
    )


def parse_query_auth(req: RequestView, pairs: QueryPairs, now: datetime) -> V4Request:
    """Parse the X-Amz-* presigned parameters and check expiry; the signature itself is left to ``verify``."""
    params: dict[str, str] = {}
    query_payload_hash: str | None = None
    for name, value in pairs:
        if name in _PRESIGN_PARAMS:
            params.setdefault(name, unquote(value or ""))
        elif query_payload_hash is None and name.lower() == "x-amz-content-sha256":
            query_payload_hash = unquote(value or "")
    if len(params) != len(_PRESIGN_PARAMS) or not all(params.values()):
        raise S3Error("AuthorizationQueryParametersError", _MISSING_QUERY_PARAMS)
    if params[P_ALGORITHM] != ALGORITHM:
        raise S3Error("AuthorizationQueryParametersError", f'X-Amz-Algorithm only supports "{ALGORITHM}"')

    amz_date = params[P_DATE]
    moment = parse_amz_date(amz_date)
    if moment is None:
        raise S3Error(
            "AuthorizationQueryParametersError",
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    raw_expires = params[P_EXPIRES]
    try:
        expires = int(raw_expires)
    except ValueError:
        raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires should be a number") from None
    if expires < 0:
        raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative")
    if expires == 0:  # the SDKs' presigners refuse 0 as well: a URL must live at least a second
        raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be greater than 0")
    if expires > MAX_PRESIGN_EXPIRES:
        raise S3Error(
            "AuthorizationQueryParametersError",
            f"X-Amz-Expires must be less than a week (in seconds) that is; {MAX_PRESIGN_EXPIRES}",
        )

    access_key, date, region, service = parse_credential(
        params[P_CREDENTIAL], "AuthorizationQueryParametersError", _QUERY_CREDENTIAL
    )
    if date != amz_date[:8]:
        raise S3Error(
            "AuthorizationQueryParametersError",
            f'{_QUERY_CREDENTIAL}Invalid credential date "{date}". '
            f'This date is not the same as X-Amz-Date: "{amz_date[:8]}".',
        )
    if moment - now > MAX_SKEW:
        raise S3Error("AccessDenied", "Request is not valid yet")
    expiry = moment + timedelta(seconds=expires)
    if now > expiry:
        raise S3Error(
            "AccessDenied",
            "Request has expired",
            **{"X-Amz-Expires": raw_expires, "Expires": iso8601(expiry), "ServerTime": iso8601(now)},
        )

    signed_headers = _parse_signed_headers(
        params[P_SIGNED_HEADERS], "AuthorizationQueryParametersError", _MISSING_QUERY_PARAMS
    )
    headers = req.headers
    _check_all_signed(headers, signed_headers)
    # A signer that saw the header signed it and used its value; one that did not used UNSIGNED-PAYLOAD.
    payload_hash = headers.get("x-amz-content-sha256") if "x-amz-content-sha256" in signed_headers else None
    if payload_hash is None:
        payload_hash = query_payload_hash
    if payload_hash is None:
        payload_hash = UNSIGNED_PAYLOAD
    else:
        _check_payload_hash(payload_hash)
    return V4Request(
        access_key=access_key,
        date=date,
        region=region,
        service=service,
        amz_date=amz_date,
        signed_headers=signed_headers,
        signature=params[P_SIGNATURE],
        payload_hash=payload_hash,
        canonical_query=canonical_query(pairs, skip=P_SIGNATURE),
        presigned=True,
        scope=f"{date}/{region}/{service}/{TERMINATOR}",
        signed_list=";".join(signed_headers),
    )


# ---------------------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------------------


def canonical_uris(raw_path: str) -> Iterator[str]:
    """The path as sent (S3 neither normalises nor double-encodes), then its canonical re-encoding.

    The second form is more lenient than AWS: it accepts clients that send reserved characters
    unencoded (``+``, ``!``, ``'``…) but signed them encoded.
    """
    path = raw_path or "/"
    yield path
    alternative = uri_encode(path, keep_slash=True)
    if alternative != path:
        yield alternative


def verify(req: RequestView, parsed: V4Request, secret: str) -> bytes:
    """Recompute the signature with ``secret``; return the signing key, or raise SignatureDoesNotMatch."""
    signing_key = derive_signing_key(secret, parsed.date, parsed.region, parsed.service)
    scope = parsed.scope
    headers_block = canonical_headers(req.headers, parsed.signed_headers)
    tail = f"{headers_block}\n{parsed.signed_list}\n{parsed.payload_hash}"
    provided = parsed.signature.encode("utf-8", "surrogateescape")
    attempts: list[tuple[str, str]] = []
    for uri in canonical_uris(req.raw_path):
        canonical_request = f"{req.method}\n{uri}\n{parsed.canonical_query}\n{tail}"
        to_sign = string_to_sign(parsed.amz_date, scope, canonical_request)
        if hmac.compare_digest(sign(signing_key, to_sign).encode("ascii"), provided):
            return signing_key
        attempts.append((canonical_request, to_sign))
    canonical_request, to_sign = attempts[0]
    raise S3Error(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=xml_safe(parsed.access_key),
        StringToSign=xml_safe(to_sign),
        SignatureProvided=xml_safe(parsed.signature),
        CanonicalRequest=xml_safe(canonical_request),
    )
