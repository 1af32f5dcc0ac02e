"""Object tags: GetObjectTagging, PutObjectTagging, DeleteObjectTagging, and the x-amz-tagging header.

A tag update is a metadata-only change (MetadataStore.update_tags): the object's bytes and blobs
are never touched. The limits are AWS's: 10 tags, keys of 1-128 and values of 0-256 UTF-16 code
units, letters/digits/white space and `_ . : / = + - @` only, unique keys, no `aws:` prefix.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote_plus

from s3server.s3 import xml
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, require_object
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error
from s3server.s3.versioning import version_headers

MAX_TAGS = 10
MAX_KEY = 128
MAX_VALUE = 256
MAX_TAGGING_BODY = 64 * 1024
_SYMBOLS = frozenset("_.:/=+-@")
_BAD_HEADER = (
    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters "
    "without tag name duplicates."
)


def _utf16_length(text: str) -> int:
    """S3 keeps tags in UTF-16 and counts code units: a character outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def _allowed(text: str) -> bool:
    return all(c in _SYMBOLS or unicodedata.category(c)[0] in "LNZ" for c in text)


def validate_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Check a tag set against AWS's limits; duplicate keys, bad lengths or characters → InvalidTag."""
    if len(pairs) > MAX_TAGS:
        # What AWS answers here is BadRequest, not InvalidTag.
        raise S3Error("BadRequest", "Object tags cannot be greater than 10")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key in tags:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key", TagKey=key)
        if not 1 <= _utf16_length(key) <= MAX_KEY or not _allowed(key):
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid", TagKey=key)
        if key.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "Your TagKey cannot be prefixed with aws:", TagKey=key)
        if _utf16_length(value) > MAX_VALUE or not _allowed(value):
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid", TagKey=key)
        tags[key] = value
    return tags


def parse_tagging_header(value: str | None) -> dict[str, str]:
    """x-amz-tagging (`k1=v1&k2`, form-encoded: `+` is a space) as a validated tag set."""
    if value is None or not value.strip():
        return {}
    pairs: list[tuple[str, str]] = []
    for piece in value.split("&"):
        if not piece:
            continue
        name, eq, rest = piece.partition("=")
        if "=" in rest:
            raise S3Error("InvalidArgument", _BAD_HEADER, ArgumentName="x-amz-tagging", ArgumentValue=value)
        pairs.append((unquote_plus(name), unquote_plus(rest) if eq else ""))
    if len({key for key, _ in pairs}) != len(pairs):
        raise S3Error("InvalidArgument", _BAD_HEADER, ArgumentName="x-amz-tagging", ArgumentValue=value)
    return validate_tags(pairs)


def parse_tagging_document(body: bytes) -> dict[str, str]:
    """<Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>; an empty TagSet is allowed."""
    root = xml.parse(body)
    if xml.local(root) != "Tagging":
        raise S3Error("MalformedXML")
    tag_sets = xml.children(root, "TagSet")
    if len(tag_sets) != 1:
        raise S3Error("MalformedXML")
    pairs: list[tuple[str, str]] = []
    for tag in xml.children(tag_sets[0], "Tag"):
        key = xml.child_text(tag, "Key")
        value = xml.child_text(tag, "Value")
        if key is None or value is None:
            raise S3Error("MalformedXML")
        pairs.append((key, value))
    return validate_tags(pairs)


def tagging_document(tags: dict[str, str]) -> bytes:
    root = xml.element("Tagging")
    tag_set = xml.sub(root, "TagSet")
    for key in sorted(tags):
        tag = xml.sub(tag_set, "Tag")
        xml.sub(tag, "Key", key)
        xml.sub(tag, "Value", tags[key])
    return xml.render(root)


async def get_object_tagging(req: S3Request) -> S3Response:
    record = await require_object(req)
    headers = dict(XML_HEADERS)
    headers.update(version_headers(None, record))
    return S3Response(body=tagging_document(record.tags), headers=headers)


async def _set_tags(req: S3Request, tags: dict[str, str]) -> dict[str, str]:
    """Replace the tags of the version the request names; its x-amz-version-id header."""
    assert req.bucket is not None and req.key is not None
    record = await require_object(req)
    if await req.services.meta.update_tags(req.bucket, req.key, tags, record.version_id) is None:
        raise S3Error("NoSuchKey", Key=req.key)  # deleted meanwhile
    return version_headers(None, record)


async def put_object_tagging(req: S3Request) -> S3Response:
    tags = parse_tagging_document(await read_verified_body(req, MAX_TAGGING_BODY))
    return S3Response(headers=await _set_tags(req, tags))


async def delete_object_tagging(req: S3Request) -> S3Response:
    return S3Response(status=204, headers=await _set_tags(req, {}))


HANDLERS = {
    "GetObjectTagging": get_object_tagging,
    "PutObjectTagging": put_object_tagging,
    "DeleteObjectTagging": delete_object_tagging,
}
