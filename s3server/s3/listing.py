"""ListObjects (v1) and ListObjectsV2: prefix, delimiter, pagination, encoding-type=url."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import quote_plus

from s3server.metadata.base import ListedRows, VersionsPage
from s3server.metadata.tables import load_dict
from s3server.s3 import xml
from s3server.s3.buckets import XML_HEADERS, require_bucket
from s3server.s3.common import owner_id, valid_version_id
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error

MAX_KEYS = 1000


def _encoder(req: S3Request):  # type: ignore[no-untyped-def]
    """Identity, or URL-encoding of keys and prefixes when encoding-type=url."""
    encoding = req.query.get("encoding-type")
    if encoding is None:
        return lambda s: s
    if encoding.lower() != "url":
        raise S3Error(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=encoding,
        )
    return url_encode


_UNCHANGED = re.compile(r"[A-Za-z0-9_.\-/*]*")  # what url_encode leaves as it is


def url_encode(value: str) -> str:
    """encoding-type=url as S3 applies it (an HTML-form encoder): a space is "+", "+" itself "%2B",
    "/" and "*" stay, every other byte but letters, digits and "-._" is %XX (so "~" is "%7E")."""
    if _UNCHANGED.fullmatch(value):
        return value  # most keys: a third of the encoder's cost
    return quote_plus(value, safe="/*").replace("~", "%7E")


def _max_keys(req: S3Request) -> int:
    raw = req.query.get("max-keys")
    if raw is None or raw == "":
        return MAX_KEYS
    try:
        value = int(raw)
    except ValueError as exc:
        raise S3Error(
            "InvalidArgument",
            "Provided max-keys not an integer or within integer range",
            ArgumentName="max-keys",
            ArgumentValue=raw,
        ) from exc
    if value < 0:
        raise S3Error(
            "InvalidArgument",
            "Argument maxKeys must be an integer between 0 and 2147483647",
            ArgumentName="maxKeys",
            ArgumentValue=raw,
        )
    return value


def encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogatepass")).decode()


def decode_token(token: str) -> str:
    try:
        # Strict: the lenient decoder drops non-alphabet characters, so "%%%" would mean "from the start".
        marker = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode(
            "utf-8", "surrogatepass"
        )
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token,
        ) from exc
    if not marker:
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token,
        )
    return marker


def _contents(page: ListedRows, enc, with_owner: bool) -> str:  # type: ignore[no-untyped-def]
    """The Contents and then the CommonPrefixes entries, as markup for xml.render's tail, written
    straight from the store's rows (see ListedRows)."""
    text, micros, stamp = xml.text, page.micros, xml.iso8601_micros
    out: list[str] = []
    prefixes: list[str] = []
    for entry in page.entries:
        if isinstance(entry, bytes):
            prefixes.append(
                f"<CommonPrefixes><Prefix>{text(enc(entry.decode('utf-8')))}</Prefix></CommonPrefixes>"
            )
            continue
        key, size, etag, modified, checksums, storage_class, owner = entry
        # etag, algorithm names, checksum type and storage class are ours: never need escaping
        out.append(
            f"<Contents><Key>{text(enc(key.decode('utf-8')))}</Key>"
            f'<LastModified>{stamp(micros(modified))}</LastModified><ETag>"{etag}"</ETag>'
        )
        if checksums and checksums != "{}":
            found = load_dict(checksums)
            for algorithm in found:
                if algorithm != "type":
                    out.append(f"<ChecksumAlgorithm>{algorithm}</ChecksumAlgorithm>")
            if "type" in found:
                out.append(f"<ChecksumType>{found['type']}</ChecksumType>")
        if with_owner:
            out.append(
                f"<Size>{int(size)}</Size><Owner><ID>{owner_id(owner)}</ID>"
                f"<DisplayName>{text(owner)}</DisplayName></Owner>"
                f"<StorageClass>{storage_class}</StorageClass></Contents>"
            )
        else:
            out.append(f"<Size>{int(size)}</Size><StorageClass>{storage_class}</StorageClass></Contents>")
    out += prefixes
    return "".join(out)


async def _page(req: S3Request, after: str, max_keys: int) -> ListedRows:
    assert req.bucket is not None
    await require_bucket(req)
    return await req.services.meta.list_object_rows(
        req.bucket,
        prefix=req.query.get("prefix", ""),
        delimiter=req.query.get("delimiter", ""),
        after=after,
        max_keys=min(max_keys, MAX_KEYS),
    )


async def list_objects(req: S3Request) -> S3Response:
    enc = _encoder(req)
    max_keys = _max_keys(req)
    marker = req.query.get("marker", "")
    page = await _page(req, marker, max_keys)
    prefix, delimiter = req.query.get("prefix", ""), req.query.get("delimiter", "")

    root = xml.element("ListBucketResult")
    xml.sub(root, "Name", req.bucket)
    xml.sub(root, "Prefix", enc(prefix))
    xml.sub(root, "Marker", enc(marker))
    if page.is_truncated and delimiter and page.next_marker is not None:
        xml.sub(root, "NextMarker", enc(page.next_marker))
    _closing(root, req, enc, max_keys, delimiter, page.is_truncated)
    return S3Response(body=xml.render(root, _contents(page, enc, with_owner=True)), headers=dict(XML_HEADERS))


async def list_objects_v2(req: S3Request) -> S3Response:
    enc = _encoder(req)
    max_keys = _max_keys(req)
    token = req.query.get("continuation-token")
    start_after = req.query.get("start-after", "")
    if token is not None:
        if token == "":
            raise S3Error(
                "InvalidArgument",
                "The continuation token provided is incorrect",
                ArgumentName="continuation-token",
                ArgumentValue=token,
            )
        after = max(decode_token(token), start_after)
    else:
        after = start_after
    page = await _page(req, after, max_keys)
    prefix, delimiter = req.query.get("prefix", ""), req.query.get("delimiter", "")
    fetch_owner = req.query.get("fetch-owner", "").lower() == "true"

    root = xml.element("ListBucketResult")
    xml.sub(root, "Name", req.bucket)
    xml.sub(root, "Prefix", enc(prefix))
    xml.sub(root, "MaxKeys", max_keys)
    xml.sub(root, "KeyCount", len(page.entries))
    if delimiter:
        xml.sub(root, "Delimiter", enc(delimiter))
    xml.sub(root, "IsTruncated", page.is_truncated)
    if "encoding-type" in req.query:
        xml.sub(root, "EncodingType", "url")
    if token is not None:
        xml.sub(root, "ContinuationToken", token)
    if page.is_truncated and page.next_marker is not None:
        xml.sub(root, "NextContinuationToken", encode_token(page.next_marker))
    if start_after:
        xml.sub(root, "StartAfter", enc(start_after))
    return S3Response(
        body=xml.render(root, _contents(page, enc, with_owner=fetch_owner)), headers=dict(XML_HEADERS)
    )


def _closing(root: Any, req: S3Request, enc, max_keys: int, delimiter: str, truncated: bool) -> None:  # type: ignore[no-untyped-def]
    """MaxKeys, Delimiter, IsTruncated and EncodingType, as ListObjects and ListObjectVersions end."""
    xml.sub(root, "MaxKeys", max_keys)
    if delimiter:
        xml.sub(root, "Delimiter", enc(delimiter))
    xml.sub(root, "IsTruncated", truncated)
    if "encoding-type" in req.query:
        xml.sub(root, "EncodingType", "url")


def _versions(page: VersionsPage, enc) -> str:  # type: ignore[no-untyped-def]
    """The Version, DeleteMarker and CommonPrefixes entries, as markup for xml.render's tail."""
    text = xml.text
    out: list[str] = []
    for rec in page.versions:
        tag = "DeleteMarker" if rec.delete_marker else "Version"
        out.append(f"<{tag}><Key>{text(enc(rec.key))}</Key><VersionId>{rec.version_id}</VersionId>")
        out.append(f"<IsLatest>{'true' if rec.is_latest else 'false'}</IsLatest>")
        out.append(f"<LastModified>{xml.iso8601(rec.last_modified)}</LastModified>")
        if not rec.delete_marker:
            out.append(f'<ETag>"{rec.etag}"</ETag>')
            for algorithm in rec.checksums:
                if algorithm != "type":
                    out.append(f"<ChecksumAlgorithm>{algorithm}</ChecksumAlgorithm>")
            if "type" in rec.checksums:
                out.append(f"<ChecksumType>{rec.checksums['type']}</ChecksumType>")
            out.append(f"<Size>{int(rec.size)}</Size><StorageClass>{rec.storage_class}</StorageClass>")
        out.append(
            f"<Owner><ID>{owner_id(rec.owner)}</ID><DisplayName>{text(rec.owner)}</DisplayName></Owner></{tag}>"
        )
    for cp in page.common_prefixes:
        out.append(f"<CommonPrefixes><Prefix>{text(enc(cp))}</Prefix></CommonPrefixes>")
    return "".join(out)


async def list_object_versions(req: S3Request) -> S3Response:
    assert req.bucket is not None
    enc = _encoder(req)
    max_keys = _max_keys(req)
    prefix, delimiter = req.query.get("prefix", ""), req.query.get("delimiter", "")
    key_marker = req.query.get("key-marker", "")
    version_marker = req.query.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise S3Error(
            "InvalidArgument",
            "A version-id marker cannot be specified without a key marker.",
            ArgumentName="version-id-marker",
            ArgumentValue=version_marker,
        )
    if version_marker:
        valid_version_id(version_marker, "version-id-marker")
    await require_bucket(req)
    page = await req.services.meta.list_object_versions(
        req.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_id_marker=version_marker,
        max_keys=min(max_keys, MAX_KEYS),
    )
    root = xml.element("ListVersionsResult")
    xml.sub(root, "Name", req.bucket)
    xml.sub(root, "Prefix", enc(prefix))
    xml.sub(root, "KeyMarker", enc(key_marker))
    xml.sub(root, "VersionIdMarker", version_marker)
    if page.is_truncated and page.next_key_marker is not None:
        xml.sub(root, "NextKeyMarker", enc(page.next_key_marker))
        if page.next_version_id_marker is not None:
            xml.sub(root, "NextVersionIdMarker", page.next_version_id_marker)
    _closing(root, req, enc, max_keys, delimiter, page.is_truncated)
    return S3Response(body=xml.render(root, _versions(page, enc)), headers=dict(XML_HEADERS))


HANDLERS = {
    "ListObjects": list_objects,
    "ListObjectsV2": list_objects_v2,
    "ListObjectVersions": list_object_versions,
}
