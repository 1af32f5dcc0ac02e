"""Server-side encryption as S3 requests speak it: the SSE-S3, SSE-KMS and SSE-C headers (and their
copy-source variants), bucket default encryption, and the headers answers carry.

A write decides its encryption before reading a byte (`for_write`): the request's headers, else the
bucket's default, else none. A read opens the stored data key (`data_key`), which for SSE-C needs the
same customer key again. An SSE-KMS data key is bound to its encryption context: the request's
pairs plus aws:s3:arn (the object's ARN, or the bucket's with a bucket key), as S3 makes it. The
cipher itself is `storage.encryption`; the keys, `identity.keys` and `identity.kms`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from s3server.identity.keys import (
    KeyUnavailable,
    KmsError,
    customer_key_hmac,
    customer_key_matches,
    new_data_key,
    open_key,
    seal_key,
)
from s3server.metadata.base import Bucket, Encryption
from s3server.s3.context import S3Request
from s3server.s3.errors import S3Error
from s3server.storage.encryption import opaque_etag

SSE = "x-amz-server-side-encryption"
KMS_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
KMS_CONTEXT = "x-amz-server-side-encryption-context"
BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"
CUSTOMER_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
CUSTOMER_KEY = "x-amz-server-side-encryption-customer-key"
CUSTOMER_KEY_MD5 = "x-amz-server-side-encryption-customer-key-MD5"
COPY_SOURCE = "x-amz-copy-source-"

ARN_CONTEXT = "aws:s3:arn"

SSE_S3, SSE_KMS, SSE_C = "AES256", "aws:kms", "SSE-C"
MODES = (SSE_S3, SSE_KMS)
_AAD = {SSE_S3: b"s3server sse-s3", SSE_C: b"s3server sse-c"}
_NOT_APPLICABLE = "The encryption parameters are not applicable to this object."
_NEEDS_KEY = (
    "The object was stored using a form of Server Side Encryption. The correct parameters must be "
    "provided to retrieve the object."
)
_NEEDS_TLS = (
    "Requests specifying Server Side Encryption with Customer provided keys must be made over a "
    "secure connection."
)


@dataclass(frozen=True, slots=True)
class CustomerKey:
    """An SSE-C key as a request sent it: the 256-bit key and its MD5 (base64, echoed in answers)."""

    key: bytes
    md5: str


@dataclass(frozen=True, slots=True)
class Sealing:
    """A new object's (or upload's) encryption: the record to keep and the data key to seal with."""

    record: Encryption
    data_key: bytes
    customer: CustomerKey | None = None

    def etag(self, md5_hex: str) -> str:
        return etag_of(self.record, self.data_key, md5_hex)


def etag_of(encryption: Encryption | None, data_key: bytes | None, md5_hex: str) -> str:
    """SSE-S3 (and clear) objects keep the plaintext MD5 as ETag, as AWS does; SSE-C and SSE-KMS do not."""
    if encryption is None or data_key is None or encryption.mode == SSE_S3:
        return md5_hex
    return opaque_etag(data_key, md5_hex)


def _invalid(message: str, name: str, value: str = "") -> S3Error:
    return S3Error("InvalidArgument", message, ArgumentName=name, ArgumentValue=value)


_CUSTOMER_HEADERS = (CUSTOMER_ALGORITHM, CUSTOMER_KEY, CUSTOMER_KEY_MD5)


def customer_key(
    req: S3Request, prefix: str = "", headers: Mapping[str, str] | None = None
) -> CustomerKey | None:
    """The SSE-C key of a request (prefix COPY_SOURCE: of its copy source; `headers`: a browser
    upload's form fields), validated as AWS does."""
    headers = req.headers if headers is None else headers
    # x-amz-server-side-encryption-customer-* → x-amz-copy-source-server-side-encryption-customer-*
    names = _CUSTOMER_HEADERS if not prefix else [n.replace("x-amz-", prefix, 1) for n in _CUSTOMER_HEADERS]
    algorithm, key, md5 = (headers.get(n) for n in names)
    if algorithm is None and key is None and md5 is None:
        return None
    if not req.secure and not req.services.settings.allow_sse_c_over_http:
        raise S3Error("InvalidRequest", _NEEDS_TLS)
    if algorithm is None:
        raise _invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid "
            "encryption algorithm.",
            names[0],
        )
    if algorithm != "AES256":
        raise S3Error("InvalidEncryptionAlgorithmError", ArgumentName=names[0], ArgumentValue=algorithm)
    if not key:
        raise _invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an "
            "appropriate secret key.",
            names[1],
        )
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise _invalid("The secret key was invalid for the specified algorithm.", names[1])
    actual = base64.b64encode(hashlib.md5(raw, usedforsecurity=False).digest()).decode()
    if md5 is None:
        raise _invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the "
            "client calculated MD5 of the secret key.",
            names[2],
        )
    if md5 != actual:
        raise _invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.", names[2]
        )
    return CustomerKey(raw, actual)


def _bucket_key(headers: Mapping[str, str]) -> bool:
    value = headers.get(BUCKET_KEY)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise _invalid("Bucket key enabled must be true or false", BUCKET_KEY, value)
    return value.lower() == "true"


def _context(headers: Mapping[str, str]) -> dict[str, str] | None:
    """x-amz-server-side-encryption-context: base64 of a JSON object of strings."""
    value = headers.get(KMS_CONTEXT)
    if value is None:
        return None
    try:
        parsed = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise _invalid("The encryption context is not valid JSON of string values.", KMS_CONTEXT, value)
    return parsed


def _full_context(given: dict[str, str] | None, bucket: str, key: str, bucket_key: bool) -> str:
    """The encryption context a data key is bound to, as S3 makes it: the request's pairs plus
    aws:s3:arn, the object's ARN (the bucket's with an S3 Bucket Key); base64 of canonical JSON,
    which is also the associated data the key service binds."""
    arn = f"arn:aws:s3:::{bucket}" if bucket_key else f"arn:aws:s3:::{bucket}/{key}"
    context = dict(given or {})
    if context.setdefault(ARN_CONTEXT, arn) != arn:
        raise _invalid(
            f"The encryption context's {ARN_CONTEXT} must be the ARN of the object (or, with an S3 "
            "Bucket Key, of the bucket).",
            KMS_CONTEXT,
            base64.b64encode(json.dumps(given).encode()).decode(),
        )
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(canonical.encode()).decode()


def default_of(bucket: Bucket) -> dict[str, object] | None:
    """The bucket's default encryption rule (see s3.bucket_encryption), None when it has none."""
    return json.loads(bucket.encryption) if bucket.encryption else None


async def for_write(
    req: S3Request, bucket: Bucket, key: str | None = None, headers: Mapping[str, str] | None = None
) -> Sealing | None:
    """The encryption a write of `key` (default: the request's) asks for (its headers, or a browser
    upload's form fields) or inherits (the bucket's default)."""
    headers = req.headers if headers is None else headers
    key = req.key if key is None else key
    assert key is not None
    customer = customer_key(req, headers=headers)
    mode = headers.get(SSE)
    if customer is not None:
        if mode is not None:
            raise _invalid(
                "Server Side Encryption with Customer provided key is incompatible with the encryption "
                "method specified",
                SSE,
                mode,
            )
        return seal_customer(customer)
    if mode is None:
        for name in (KMS_KEY_ID, KMS_CONTEXT):
            if name in headers:
                raise _invalid(f"{name} is only valid with {SSE}: aws:kms", name, headers[name])
        rule = default_of(bucket)
        if rule is None:
            return None
        algorithm = str(rule["SSEAlgorithm"])
        key_id = rule.get("KMSMasterKeyID")
        bucket_key = bool(rule.get("BucketKeyEnabled")) if BUCKET_KEY not in headers else _bucket_key(headers)
        where = (bucket.name, key)
        return await seal_managed(
            req, algorithm, None if key_id is None else str(key_id), None, bucket_key, where
        )
    if mode not in MODES:
        raise _invalid("The encryption method specified is not supported", SSE, mode)
    if mode != SSE_KMS:
        for name in (KMS_KEY_ID, KMS_CONTEXT):
            if name in headers:
                raise _invalid(f"{name} is only valid with {SSE}: aws:kms", name, headers[name])
    key_id = headers.get(KMS_KEY_ID) or None
    bucket_key = _bucket_key(headers)
    if mode == SSE_KMS and BUCKET_KEY not in headers:
        # An SSE-KMS write that says nothing of a bucket key takes the bucket's setting, as on AWS.
        rule = default_of(bucket)
        bucket_key = bool(rule and rule.get("BucketKeyEnabled"))
    where = (bucket.name, key)
    return await seal_managed(req, mode, key_id, _context(headers), bucket_key, where)


def seal_customer(customer: CustomerKey) -> Sealing:
    data_key = new_data_key()
    record = Encryption(
        mode=SSE_C,
        wrapped_key=seal_key(customer.key, data_key, _AAD[SSE_C]),
        key_hmac=customer_key_hmac(customer.key),
    )
    return Sealing(record, data_key, customer)


def _kms_error(exc: KmsError) -> S3Error:
    return S3Error(f"KMS.{exc.code}", exc.message)


async def seal_managed(
    req: S3Request,
    mode: str,
    key_id: str | None,
    context: dict[str, str] | None,
    bucket_key: bool,
    where: tuple[str, str],
) -> Sealing:
    """A new data key for SSE-S3 (under the master key) or SSE-KMS (under a key of the key service,
    bound to the encryption context of object `where`: (bucket, key))."""
    keys = req.services.keys
    data_key = new_data_key()
    if mode == SSE_S3:
        record = Encryption(
            mode=SSE_S3, wrapped_key=keys.master.seal(data_key, _AAD[SSE_S3]), bucket_key=bucket_key
        )
        return Sealing(record, data_key)
    if keys.kms is None:
        raise S3Error("NotImplemented", "SSE-KMS is not configured on this server")
    full = _full_context(context, *where, bucket_key)
    try:
        arn = await keys.kms.resolve(key_id)
        wrapped = await keys.kms.wrap(arn, data_key, _kms_context(full))
    except KmsError as exc:
        raise _kms_error(exc) from None
    record = Encryption(mode=SSE_KMS, wrapped_key=wrapped, key_id=arn, bucket_key=bucket_key, context=full)
    return Sealing(record, data_key)


def _kms_context(context: str | None) -> bytes:
    return b"" if context is None else base64.b64decode(context)


async def data_key(
    req: S3Request, encryption: Encryption | None, prefix: str = "", *, managed: bool = True
) -> bytes | None:
    """The data key to read an object with (None: stored in clear). SSE-C objects need the same
    customer key in the request (prefix COPY_SOURCE for a copy's source); others refuse one.
    managed=False checks the request's keys only (HEAD: S3 asks its key service nothing then, so
    HEAD of an object under a disabled KMS key succeeds) and returns None for SSE-S3 and SSE-KMS."""
    customer = customer_key(req, prefix)
    if encryption is None or encryption.mode != SSE_C:
        if customer is not None:
            raise S3Error("InvalidRequest", _NOT_APPLICABLE)
        if encryption is None or not managed:
            return None
        return await _open_managed(req, encryption)
    if customer is None:
        raise S3Error("InvalidRequest", _NEEDS_KEY)
    if encryption.key_hmac is None or not customer_key_matches(customer.key, encryption.key_hmac):
        raise S3Error("AccessDenied")
    try:
        return open_key(customer.key, encryption.wrapped_key, _AAD[SSE_C])
    except KeyUnavailable:
        raise S3Error("AccessDenied") from None


async def _open_managed(req: S3Request, encryption: Encryption) -> bytes:
    keys = req.services.keys
    try:
        if encryption.mode == SSE_S3:
            return keys.master.open(encryption.wrapped_key, _AAD[SSE_S3])
        if keys.kms is None or encryption.key_id is None:
            raise S3Error("InternalError", "SSE-KMS is not configured on this server")
        return await keys.kms.unwrap(
            encryption.key_id, encryption.wrapped_key, _kms_context(encryption.context)
        )
    except KmsError as exc:
        raise _kms_error(exc) from None
    except KeyUnavailable:
        raise S3Error(
            "InternalError", "The object's data key does not open under this server's keys"
        ) from None


def refuse_on_read(req: S3Request) -> None:
    """GET and HEAD name no encryption of their own: x-amz-server-side-encryption is refused."""
    for name in (SSE, KMS_KEY_ID, KMS_CONTEXT):
        if name in req.headers:
            raise _invalid(f"{name} header is not supported for this operation.", name, req.headers[name])


def headers_of(
    encryption: Encryption | None, customer: CustomerKey | None = None, *, context: bool = False
) -> dict[str, str]:
    """The encryption headers of an answer about an object (or upload) stored with `encryption`;
    `context`: with the SSE-KMS encryption context (PutObject, CopyObject and CreateMultipartUpload
    answer it, as AWS's do)."""
    if encryption is None:
        return {}
    if encryption.mode == SSE_C:
        out = {CUSTOMER_ALGORITHM: "AES256"}
        if customer is not None:
            out[CUSTOMER_KEY_MD5] = customer.md5
        return out
    out = {SSE: encryption.mode}
    if encryption.mode == SSE_KMS and encryption.key_id is not None:
        out[KMS_KEY_ID] = encryption.key_id
        if context and encryption.context is not None:
            out[KMS_CONTEXT] = encryption.context
    if encryption.bucket_key:
        out[BUCKET_KEY] = "true"
    return out


def read_headers(req: S3Request, encryption: Encryption | None) -> dict[str, str]:
    """headers_of for a GET or HEAD, echoing the SSE-C key MD5 the request sent."""
    customer = None
    if encryption is not None and encryption.mode == SSE_C:
        customer = customer_key(req)
    return headers_of(encryption, customer)
