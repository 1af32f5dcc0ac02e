"""Digests computed while a body streams to storage, and their verification against what the client sent.

`PayloadDigests.update` runs on a worker thread (hashlib and awscrt release the GIL on large
buffers); `verify` raises the S3 error AWS gives for the first digest that does not match. CRC32C
and CRC64NVME come from awscrt (the library botocore itself uses), CRC32 from zlib, SHA from hashlib.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Mapping

from awscrt import checksums as crt

from s3server.s3.errors import S3Error

CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"
# Objects uploaded without a checksum get a CRC64NVME, as S3 does by default since 2025.
DEFAULT_ALGORITHM = "CRC64NVME"


class _Crc:
    __slots__ = ("_fn", "_value", "_width")

    def __init__(self, fn: Callable[[bytes, int], int], width: int) -> None:
        self._fn = fn
        self._width = width
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._value = self._fn(data, self._value)  # type: ignore[arg-type]

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width, "big")


def _zlib_crc32(data: bytes, value: int) -> int:
    return zlib.crc32(data, value)


class Hasher:
    """One incremental checksum by AWS algorithm name, with a base64 result."""

    FACTORIES: dict[str, Callable[[], object]] = {
        "CRC32": lambda: _Crc(_zlib_crc32, 4),
        "CRC32C": lambda: _Crc(crt.crc32c, 4),
        "CRC64NVME": lambda: _Crc(crt.crc64nvme, 8),
        "SHA1": hashlib.sha1,
        "SHA256": hashlib.sha256,
    }
    DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}

    __slots__ = ("_impl", "algorithm")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._impl = self.FACTORIES[algorithm]()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._impl.update(data)  # type: ignore[attr-defined]

    def digest(self) -> bytes:
        return self._impl.digest()  # type: ignore[attr-defined,no-any-return]

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode()


ALGORITHMS = tuple(Hasher.FACTORIES)


def header_name(algorithm: str) -> str:
    return CHECKSUM_HEADER_PREFIX + algorithm.lower()


def parse_content_md5(headers: Mapping[str, str]) -> bytes | None:
    """The Content-MD5 header as 16 raw bytes; malformed → InvalidDigest."""
    value = headers.get("Content-MD5")
    if value is None:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise S3Error("InvalidDigest") from exc
    if len(raw) != 16:
        raise S3Error("InvalidDigest")
    return raw


def _valid_value(algorithm: str, value: str) -> bool:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == Hasher.DIGEST_SIZES[algorithm]


class ChecksumRequest:
    """Which flexible checksum a request asks for, and the value when it came as a header.

    The value of a trailing checksum (x-amz-trailer) is known only once the body has been read;
    `trailer_value` is then called to fetch it.
    """

    __slots__ = ("algorithm", "trailer_value", "value")

    def __init__(
        self, algorithm: str, value: str | None, trailer_value: Callable[[], str | None] | None = None
    ) -> None:
        self.algorithm = algorithm
        self.value = value
        self.trailer_value = trailer_value

    def expected(self) -> str | None:
        if self.value is not None:
            return self.value
        if self.trailer_value is not None:
            value = self.trailer_value()
            if value is None or not _valid_value(self.algorithm, value):
                raise S3Error(
                    "InvalidRequest", f"Value for {header_name(self.algorithm)} trailing header is invalid."
                )
            return value
        return None


def checksum_request(
    headers: Mapping[str, str], trailers: Callable[[], Mapping[str, str]] | None = None
) -> ChecksumRequest | None:
    """Parse x-amz-checksum-*, x-amz-sdk-checksum-algorithm and x-amz-trailer into one request."""
    sent = [alg for alg in ALGORITHMS if header_name(alg) in headers]
    if len(sent) > 1:
        raise S3Error(
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    sdk = headers.get("x-amz-sdk-checksum-algorithm")
    if sdk is not None and sdk.upper() not in ALGORITHMS:
        raise S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if trailer:
        if not trailer.startswith(CHECKSUM_HEADER_PREFIX):
            raise S3Error(
                "InvalidRequest", "The value specified in the x-amz-trailer header is not supported"
            )
        algorithm = trailer[len(CHECKSUM_HEADER_PREFIX) :].upper()
        if algorithm not in ALGORITHMS or sent:
            raise S3Error(
                "InvalidRequest", "The value specified in the x-amz-trailer header is not supported"
            )
        if sdk is not None and sdk.upper() != algorithm:
            raise S3Error(
                "InvalidRequest",
                "Value for x-amz-sdk-checksum-algorithm header is invalid.",
            )
        assert trailers is not None, "a trailer needs an aws-chunked body"
        return ChecksumRequest(algorithm, None, lambda: trailers().get(trailer))
    if sent:
        algorithm = sent[0]
        value = headers[header_name(algorithm)].strip()
        if not _valid_value(algorithm, value):
            raise S3Error("InvalidRequest", f"Value for {header_name(algorithm)} header is invalid.")
        if sdk is not None and sdk.upper() != algorithm:
            raise S3Error(
                "InvalidRequest",
                "Value for x-amz-sdk-checksum-algorithm header is invalid.",
            )
        return ChecksumRequest(algorithm, value)
    if sdk is not None:
        return ChecksumRequest(sdk.upper(), None)
    return None


class PayloadDigests:
    """MD5 (the ETag) always; SHA-256 when the signature covers the payload; Content-MD5 when sent;
    one flexible checksum (the requested one, else the default CRC64NVME)."""

    __slots__ = ("_content_md5", "_expected_sha256", "_md5", "_sha256", "checksum", "request", "size")

    def __init__(
        self,
        *,
        content_md5: bytes | None = None,
        expected_sha256: str | None = None,
        checksum: ChecksumRequest | None = None,
    ) -> None:
        self._md5 = hashlib.md5()
        self._content_md5 = content_md5
        self._expected_sha256 = expected_sha256
        self._sha256 = hashlib.sha256() if expected_sha256 else None
        self.request = checksum
        self.checksum = Hasher(checksum.algorithm if checksum else DEFAULT_ALGORITHM)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        self.checksum.update(data)
        self.size += len(data)

    def verify(self) -> None:
        if self._sha256 is not None and self._sha256.hexdigest() != self._expected_sha256:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                ClientComputedContentSHA256=self._expected_sha256 or "",
                S3ComputedContentSHA256=self._sha256.hexdigest(),
            )
        if self._content_md5 is not None and self._md5.digest() != self._content_md5:
            raise S3Error(
                "BadDigest",
                ExpectedDigest=binascii.hexlify(self._content_md5).decode(),
                CalculatedDigest=base64.b64encode(self._md5.digest()).decode(),
            )
        if self.request is not None:
            expected = self.request.expected()
            if expected is not None and expected != self.checksum.b64():
                raise S3Error(
                    "BadDigest",
                    f"The {self.request.algorithm} you specified did not match the calculated checksum.",
                )

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    @property
    def md5_digest(self) -> bytes:
        return self._md5.digest()

    def checksums(self) -> dict[str, str]:
        """What the object record keeps: {algorithm: base64, "type": "FULL_OBJECT"}."""
        return {self.checksum.algorithm: self.checksum.b64(), "type": "FULL_OBJECT"}
