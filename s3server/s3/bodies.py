"""Verifying what a client sent: the digests of a streamed body, and small bodies checked whole.

`payload_digests` is the one way a handler builds the hashes a body must match (Content-MD5, the
signed payload SHA-256, the flexible checksum from a header or an aws-chunked trailer), so PutObject
and UploadPart verify alike. `read_verified_body` does the same for the small XML bodies of
DeleteObjects and PutObjectTagging, which AWS refuses without an integrity header.
"""

from __future__ import annotations

from s3server.s3.checksums import ChecksumRequest, PayloadDigests, checksum_request, parse_content_md5
from s3server.s3.context import S3Request
from s3server.s3.errors import S3Error


def payload_digests(req: S3Request, default_algorithm: str | None = None) -> PayloadDigests:
    """The digests a body upload is verified against; `default_algorithm` is the checksum to compute
    when the request names none (the algorithm a multipart upload was created with)."""
    body = req.body
    checksum = checksum_request(req.headers, lambda: body.trailers)
    if checksum is None and default_algorithm is not None:
        checksum = ChecksumRequest(default_algorithm, None)
    return PayloadDigests(
        content_md5=parse_content_md5(req.headers),
        expected_sha256=body.expected_sha256,
        checksum=checksum,
    )


async def read_verified_body(
    req: S3Request, limit: int, *, integrity_required: bool = True, body_checksums: bool = True
) -> bytes:
    """A small body, checked against Content-MD5 / x-amz-checksum-* (and the signed SHA-256).

    With `integrity_required`, a request carrying neither header is refused as AWS refuses it. Without
    `body_checksums`, x-amz-checksum-* headers are not about this body (CompleteMultipartUpload's
    describe the object being assembled) and only Content-MD5 is checked.
    """
    if body_checksums:
        digests = payload_digests(req)
    else:
        digests = PayloadDigests(
            content_md5=parse_content_md5(req.headers), expected_sha256=req.body.expected_sha256
        )
    checksum = digests.request
    sent = checksum is not None and (checksum.value is not None or checksum.trailer_value is not None)
    if integrity_required and not sent and "Content-MD5" not in req.headers:
        raise S3Error("InvalidRequest", "Missing required header for this request: Content-MD5")
    data = await req.body.read(limit)
    digests.update(data)
    digests.verify()
    return data
