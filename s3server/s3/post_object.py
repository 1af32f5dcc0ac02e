"""PostObject: browser-based uploads, `POST /BUCKET` with a multipart/form-data body.

The form carries the key, the object's attributes and, unless the upload is anonymous, a policy
signed with SigV4 or SigV2. Order of checks: the form's shape, the signature, the policy (expiry,
conditions, fields it does not name), access to the bucket for the signer, the attributes; then the
file field streams through the saga exactly like a PutObject body, its size held to the policy's
content-length-range as it arrives. The server-side encryption fields (x-amz-server-side-encryption,
its -aws-kms-key-id, -context and -bucket-key-enabled, the SSE-C customer fields) are read as
PutObject reads those headers, and the bucket's default applies when there are none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from multidict import CIMultiDict

from s3server.s3 import sse, xml
from s3server.s3.buckets import XML_HEADERS, require_bucket
from s3server.s3.checksums import PayloadDigests, checksum_request
from s3server.s3.common import validate_key
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error
from s3server.s3.form import FormReader, form_boundary
from s3server.s3.object_lock import write_lock
from s3server.s3.objects import MAX_PUT_SIZE, ObjectAttributes, checksum_headers, write_object
from s3server.s3.post_policy import Policy, parse
from s3server.s3.tagging import parse_tagging_document
from s3server.s3.versioning import version_headers

FILENAME = "${filename}"
SUCCESS_STATUSES = frozenset({"200", "201", "204"})
_NOT_FORM = "Bucket POST must be of the enclosure-type multipart/form-data"


def _key(fields: Mapping[str, str], filename: str) -> str:
    key = fields.get("key")
    if not key:
        raise S3Error(
            "InvalidArgument",
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of "
            "the fields.",
            ArgumentName="key",
            ArgumentValue="",
        )
    return key.replace(FILENAME, filename)


def _digests(fields: Mapping[str, str]) -> PayloadDigests:
    """x-amz-checksum-<algorithm> (and x-amz-checksum-algorithm) fields, checked as PutObject's headers."""
    names = {name: value for name, value in fields.items() if name.startswith("x-amz-checksum-")}
    if "x-amz-checksum-algorithm" in names:
        names["x-amz-sdk-checksum-algorithm"] = names.pop("x-amz-checksum-algorithm")
    return PayloadDigests(checksum=checksum_request(names))


async def _sized(chunks: AsyncIterator[bytes], low: int, high: int) -> AsyncIterator[bytes]:
    """The file's bytes, refused as soon as they pass `high`, and at the end if short of `low`."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > high:
            raise S3Error("EntityTooLarge", ProposedSize=str(size), MaxSizeAllowed=str(high))
        yield chunk
    if size < low:
        raise S3Error(
            "EntityTooSmall",
            ProposedSize=str(size),
            MinSizeAllowed=str(low),
        )


def _location(req: S3Request, key: str) -> str:
    """The new object's URL, in the addressing style the form was posted with."""
    scheme = "https" if req.services.settings.tls or req.services.settings.tls_cert else "http"
    host = req.headers.get("Host", "")
    path = quote(key, safe="/~")
    domain = req.services.settings.domain.lower()
    if domain and host.lower().rsplit(":", 1)[0].endswith("." + domain):
        return f"{scheme}://{host}/{path}"
    return f"{scheme}://{host}/{quote(req.bucket or '', safe='')}/{path}"


def _redirect(url: str, bucket: str, key: str, etag: str) -> str | None:
    """success_action_redirect with bucket, key and etag added; None when it is not an http(s) URL
    (AWS then answers as if no redirect was asked for)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    query = f"bucket={quote(bucket, safe='')}&key={quote(key, safe='')}&etag={quote(etag, safe='')}"
    return f"{url}{'&' if parts.query else '?'}{query}"


def _answer(
    req: S3Request, fields: Mapping[str, str], key: str, etag: str, extra: dict[str, str]
) -> S3Response:
    """success_action_redirect (303), else success_action_status: 201 with a PostResponse, 200 or 204."""
    assert req.bucket is not None
    location = _location(req, key)
    headers = {"ETag": etag, "Location": location, **extra}
    target = fields.get("success_action_redirect") or fields.get("redirect")
    if target:
        redirect = _redirect(target, req.bucket, key, etag)
        if redirect is not None:
            headers["Location"] = redirect
            return S3Response(status=303, headers=headers)
    status = fields.get("success_action_status", "204")
    if status not in SUCCESS_STATUSES:
        status = "204"
    if status == "201":
        root = xml.element("PostResponse", namespaced=False)
        xml.subs(root, [("Location", location), ("Bucket", req.bucket), ("Key", key), ("ETag", etag)])
        return S3Response(status=201, headers={**headers, **XML_HEADERS}, body=xml.render(root))
    return S3Response(status=int(status), headers=headers)


async def post_object(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.authorize_as is not None and req.form_signer is not None
    boundary = form_boundary(req.headers.get("Content-Type"))
    if boundary is None:
        raise S3Error("PreconditionFailed", Condition=_NOT_FORM)
    bucket = await require_bucket(req)
    form = FormReader(req.body.chunks(), boundary)
    fields, upload = await form.read_fields()
    key = _key(fields, upload.filename)
    principal = await req.form_signer(fields)
    policy: Policy | None = None
    if principal is not None:
        policy = parse(fields["policy"])
        policy.check({**fields, "key": key, "bucket": req.bucket}, datetime.now(UTC))
    extra_keys = {"s3:x-amz-acl": fields["acl"]} if "acl" in fields else {}
    await req.authorize_as(principal, "s3:PutObject", req.bucket, key, extra_keys)

    validate_key(key)
    headers = CIMultiDict(fields)
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    tags = parse_tagging_document(fields["tagging"].encode()) if fields.get("tagging") else {}
    attributes = ObjectAttributes.parse(headers, tags)
    digests = _digests(fields)
    low, high = policy.length_range if policy is not None and policy.length_range else (0, MAX_PUT_SIZE)
    chunks = _sized(form.file_chunks(), low, min(high, MAX_PUT_SIZE))
    lock = write_lock(headers, bucket, require_integrity=False)
    sealing = await sse.for_write(req, bucket, key, headers)
    record = await write_object(req, bucket, key, attributes, chunks, digests, lock=lock, sealing=sealing)
    etag = f'"{record.etag}"'
    extra = {**checksum_headers(record.checksums), **version_headers(bucket, record)}
    if sealing is not None:
        extra.update(sse.headers_of(sealing.record, sealing.customer, context=True))
    return _answer(req, fields, key, etag, extra)


HANDLERS = {"PostObject": post_object}
