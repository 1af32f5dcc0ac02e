"""Digests computed while a body streams to storage, and their verification against what the client sent.

`PayloadDigests.update` runs on a worker thread (hashlib releases the GIL on large buffers); `verify`
raises the S3 error AWS gives for the first digest that does not match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from s3server.s3.errors import S3Error


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


class PayloadDigests:
    """MD5 (the ETag) always; SHA-256 when the signature covers the payload; Content-MD5 when sent."""

    __slots__ = ("_content_md5", "_expected_sha256", "_md5", "_sha256", "size")

    def __init__(self, *, content_md5: bytes | None = None, expected_sha256: str | None = None) -> None:
        self._md5 = hashlib.md5()
        self._content_md5 = content_md5
        self._expected_sha256 = expected_sha256
        self._sha256 = hashlib.sha256() if expected_sha256 else None
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
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

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    @property
    def md5_digest(self) -> bytes:
        return self._md5.digest()
