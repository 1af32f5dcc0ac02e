"""Versioning in the console: a bucket's versioning state, and the versions of its keys.

Versions are listed one ListObjectVersions page per request, like objects: under a folder (for the
browser's "show versions" view, delete markers included) or of one exact key (prefix=key, then only
that key's entries; keys that merely start with it sort after it, so its versions come first and the
listing is finished once another key appears). Paging uses S3's key and version-id markers.
A version is downloaded through the browser's download endpoint with `version_id`, and deleted with
DeleteObject?versionId=, which removes exactly that version (or delete marker) for good.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from lxml import etree

from ui.api_buckets import S3_NS, _etag, bucket_of, listing_page, page_size
from ui.app import endpoint, keys_of, read_json, text_field
from ui.client import Endpoint, S3CallError, decode_listing, find_text
from ui.messages import ApiError
from ui.sessions import Session

STATES = ("Enabled", "Suspended")


async def get_versioning(request: web.Request, session: Session) -> Any:
    """GetBucketVersioning ("" for a bucket never versioned) and whether Object Lock is on (which
    keeps versioning from being suspended)."""
    ep, keys, path = endpoint(request), keys_of(session), Endpoint.path(bucket_of(request))
    root = (await ep.call(keys, "GET", path, params=[("versioning", "")])).xml()
    try:
        lock = (await ep.call(keys, "GET", path, params=[("object-lock", "")])).xml()
        object_lock = find_text(lock, "ObjectLockEnabled") == "Enabled"
    except S3CallError as err:
        if err.code not in ("ObjectLockConfigurationNotFoundError", "NotImplemented"):
            raise
        object_lock = False
    return {"status": find_text(root, "Status"), "object_lock": object_lock}


async def put_versioning(request: web.Request, session: Session) -> Any:
    """PutBucketVersioning: turn versioning on, or suspend it."""
    body = await read_json(request)
    status = text_field(body, "status", "The versioning state")
    if status not in STATES:
        raise ApiError(400, "Versioning is either Enabled or Suspended.")
    root = etree.Element("VersioningConfiguration", nsmap={None: S3_NS})
    etree.SubElement(root, "Status").text = status
    await endpoint(request).call(
        keys_of(session),
        "PUT",
        Endpoint.path(bucket_of(request)),
        params=[("versioning", "")],
        headers={"content-type": "application/xml"},
        body=etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
    )
    return {"status": status}


def _version(node: etree._Element, encoded: bool) -> dict[str, Any]:
    marker = etree.QName(node).localname == "DeleteMarker"
    return {
        "key": decode_listing(find_text(node, "Key"), encoded),
        "version_id": find_text(node, "VersionId"),
        "is_latest": find_text(node, "IsLatest") == "true",
        "delete_marker": marker,
        "size": 0 if marker else int(find_text(node, "Size", "0") or 0),
        "etag": "" if marker else _etag(find_text(node, "ETag")),
        "last_modified": find_text(node, "LastModified"),
    }


async def list_versions(request: web.Request, session: Session) -> Any:
    """One page of ListObjectVersions: of the exact `key` if given, else folders and versions under
    `prefix`. `next_key_marker`/`next_version_marker` continue it; both empty at the end."""
    query = request.query
    key = query.get("key", "")
    prefix = key or query.get("prefix", "")
    delimiter = "" if key else query.get("delimiter", "/")
    params = [("versions", ""), ("encoding-type", "url"), ("max-keys", str(page_size(request)))]
    params += [(name, value) for name, value in (("prefix", prefix), ("delimiter", delimiter)) if value]
    key_marker, version_marker = query.get("key_marker", ""), query.get("version_marker", "")
    if key_marker:
        params.append(("key-marker", key_marker))
        if version_marker:
            params.append(("version-id-marker", version_marker))
    root, encoded, folders = await listing_page(request, session, params)
    # Version and DeleteMarker entries interleave in listing order; keep it.
    versions = [
        _version(node, encoded)
        for node in root
        if isinstance(node.tag, str) and etree.QName(node).localname in ("Version", "DeleteMarker")
    ]
    truncated = find_text(root, "IsTruncated") == "true"
    next_key = decode_listing(find_text(root, "NextKeyMarker"), encoded) if truncated else ""
    next_version = find_text(root, "NextVersionIdMarker") if truncated else ""
    if key:
        ours = [v for v in versions if v["key"] == key]
        if len(ours) < len(versions) or next_key != key:
            next_key = next_version = ""  # another key began: this key has no more versions
        versions, folders = ours, []
    return {
        "key": key,
        "prefix": prefix,
        "folders": folders,
        "versions": versions,
        "next_key_marker": next_key,
        "next_version_marker": next_version if next_key else "",
    }


async def delete_version(request: web.Request, session: Session) -> Any:
    """DeleteObject?versionId=: removes that version, or that delete marker, and nothing else."""
    body = await read_json(request)
    key = text_field(body, "key", "The key")
    version_id = text_field(body, "version_id", "The version id")
    reply = await endpoint(request).call(
        keys_of(session),
        "DELETE",
        Endpoint.path(bucket_of(request), key),
        params=[("versionId", version_id)],
    )
    return {
        "key": key,
        "version_id": version_id,
        "delete_marker": reply.headers.get("x-amz-delete-marker") == "true",
    }


B = "/api/buckets/{bucket}"
ROUTES = (
    ("GET", B + "/versioning", get_versioning),
    ("PUT", B + "/versioning", put_versioning),
    ("GET", B + "/versions", list_versions),
    ("POST", B + "/delete-version", delete_version),
)
