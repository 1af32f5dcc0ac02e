"""Buckets, objects, uploads and bucket policies: the console's JSON API over the S3 calls.

Listings are one ListObjectsV2 page per request (continuation tokens, never the whole bucket).
Small files go from the browser straight to S3 as a browser upload (PostObject) whose form the console
signs for the signed-in user (`post_form`): one key, one size, minutes to start; the browser checks the
returned ETag against its own MD5. Large files, and small ones when the console knows no address by
which browsers reach S3, stream through the console without being held in memory: as a multipart
upload whose parts the browser sends one request each (or one PutObject); the console hashes what it
forwards and checks the ETag S3 returns, so a damaged transfer is caught either way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from aiohttp import web
from lxml import etree

from ui.app import endpoint, keys_of, link_base, read_json, text_field
from ui.client import Endpoint, S3CallError, decode_listing, error_from, find_all, find_text
from ui.messages import ApiError
from ui.queries import all_buckets, count_by_listing, fetch_stats
from ui.sessions import Session
from ui.signing import MAX_PRESIGN_SECONDS, post_form

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
RELAY_CHUNK = 256 * 1024
DELETE_BATCH = 1000
MAX_KEY_BYTES = 1024
MAX_FORM_SIZE = 5 * 1024**3  # PostObject stores at most 5 GiB, like PutObject
FORM_SECONDS = 600  # a signed upload form must be posted within this long
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def bucket_of(request: web.Request) -> str:
    return request.match_info["bucket"]


def key_param(request: web.Request) -> str:
    key = request.query.get("key", "")
    if not key:
        raise ApiError(400, "Which object? The key is missing.")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ApiError(400, "Object keys are at most 1024 bytes long.")
    return key


def page_size(request: web.Request) -> int:
    """The `max` a listing asked for, within 1..MAX_PAGE_SIZE."""
    try:
        return max(1, min(MAX_PAGE_SIZE, int(request.query.get("max", PAGE_SIZE))))
    except ValueError:
        raise ApiError(400, "max must be a number of entries.") from None


def check_bucket_name(name: str) -> None:
    if not BUCKET_NAME.fullmatch(name) or ".." in name or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        raise ApiError(
            400,
            "That is not a valid bucket name: use 3 to 63 lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit.",
            "InvalidBucketName",
        )


def xml_request(root: etree._Element) -> tuple[bytes, dict[str, str]]:
    """An XML request body and its headers, Content-MD5 included (which DeleteObjects and
    PutBucketLifecycleConfiguration require)."""
    payload = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    digest = base64.b64encode(hashlib.md5(payload, usedforsecurity=False).digest()).decode()
    return payload, {"content-type": "application/xml", "content-md5": digest}


def _etag(value: str) -> str:
    return value.strip().strip('"')


# -- buckets


async def list_buckets(request: web.Request, session: Session) -> Any:
    """Buckets with object counts and sizes, and older versions with their size: from the server's
    statistics for admins, else null (the page then asks /usage per bucket for objects and bytes)."""
    ep, keys = endpoint(request), keys_of(session)
    buckets = await all_buckets(ep, keys)
    stats = await fetch_stats(ep, keys) if session.is_admin else None
    per_bucket = stats["buckets"] if stats else {}
    for bucket in buckets:
        usage = per_bucket.get(bucket["name"])
        bucket["objects"] = usage["objects"] if usage else None
        bucket["bytes"] = usage["bytes"] if usage else None
        bucket["versions"] = usage["versions"] if usage else None
        bucket["version_bytes"] = usage["version_bytes"] if usage else None
        bucket["exact"] = usage is not None
    return {"buckets": buckets, "usage": "statistics" if stats else "listing"}


async def bucket_usage(request: web.Request, session: Session) -> Any:
    return await count_by_listing(endpoint(request), keys_of(session), bucket_of(request))


async def create_bucket(request: web.Request, session: Session) -> Any:
    body = await read_json(request)
    name = text_field(body, "name", "The bucket name")
    check_bucket_name(name)
    await endpoint(request).call(keys_of(session), "PUT", Endpoint.path(name))
    return {"name": name}


async def delete_bucket(request: web.Request, session: Session) -> Any:
    ep, keys, bucket = endpoint(request), keys_of(session), bucket_of(request)
    try:
        await ep.call(keys, "DELETE", Endpoint.path(bucket))
    except S3CallError as err:
        if err.code != "BucketNotEmpty":
            raise
        root = (
            await ep.call(
                keys, "GET", Endpoint.path(bucket), params=[("list-type", "2"), ("max-keys", "1000")]
            )
        ).xml()
        count = len(find_all(root, "Contents"))
        more = find_text(root, "IsTruncated") == "true"
        held = f"more than {count} objects" if more else f"{count} object{'s' if count != 1 else ''}"
        raise ApiError(
            409,
            f"The bucket “{bucket}” is not empty: it still holds {held}. Delete them first, then "
            "delete the bucket.",
            "BucketNotEmpty",
        ) from None
    return {"deleted": bucket}


# -- objects


async def listing_page(
    request: web.Request, session: Session, params: list[tuple[str, str]]
) -> tuple[etree._Element, bool, list[str]]:
    """One listing of the request's bucket (ListObjectsV2 or ListObjectVersions, by `params`): the
    answer, whether its keys are URL-encoded, and its common prefixes decoded."""
    root = (
        await endpoint(request).call(
            keys_of(session), "GET", Endpoint.path(bucket_of(request)), params=params
        )
    ).xml()
    encoded = find_text(root, "EncodingType") == "url"
    folders = [
        decode_listing(find_text(node, "Prefix"), encoded) for node in find_all(root, "CommonPrefixes")
    ]
    return root, encoded, folders


async def list_objects(request: web.Request, session: Session) -> Any:
    """One page of ListObjectsV2: folders (common prefixes) and objects under a prefix."""
    query = request.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "/")
    params = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", str(page_size(request)))]
    if prefix:
        params.append(("prefix", prefix))
    if delimiter:
        params.append(("delimiter", delimiter))
    if query.get("token"):
        params.append(("continuation-token", query["token"]))
    root, encoded, folders = await listing_page(request, session, params)
    objects = [
        {
            "key": decode_listing(find_text(node, "Key"), encoded),
            "size": int(find_text(node, "Size", "0") or 0),
            "etag": _etag(find_text(node, "ETag")),
            "last_modified": find_text(node, "LastModified"),
            "storage_class": find_text(node, "StorageClass"),
        }
        for node in find_all(root, "Contents")
    ]
    truncated = find_text(root, "IsTruncated") == "true"
    return {
        "prefix": prefix,
        "folders": folders,
        "objects": objects,
        "truncated": truncated,
        "next_token": find_text(root, "NextContinuationToken") if truncated else "",
    }


async def _relay(request: web.Request, md5: Any, expected: int) -> AsyncIterator[bytes]:
    """The request body in pieces, hashed on the way; fewer bytes than announced is an error, which
    makes the outgoing request fail too, so S3 never stores a truncated object."""
    sent = 0
    async for chunk in request.content.iter_chunked(RELAY_CHUNK):
        md5.update(chunk)
        sent += len(chunk)
        yield chunk
    if sent != expected:
        raise ApiError(400, "The upload was cut off before all of its bytes arrived.", "IncompleteBody")


def _length(request: web.Request) -> int:
    if request.content_length is None:
        raise ApiError(411, "The upload must say how long it is (Content-Length).")
    return request.content_length


def _check_etag(etag: str, md5: Any) -> None:
    if re.fullmatch(r"[0-9a-f]{32}", etag) and etag != md5.hexdigest():
        raise ApiError(
            502,
            "The server stored different bytes than the console sent (the MD5 does not match the ETag).",
            "BadDigest",
        )


async def put_object(request: web.Request, session: Session) -> Any:
    """PutObject with the request body streamed through."""
    bucket, key = bucket_of(request), key_param(request)
    length = _length(request)
    md5 = hashlib.md5(usedforsecurity=False)
    headers = {
        "content-length": str(length),
        "content-type": request.headers.get("Content-Type") or "application/octet-stream",
    }
    reply = await endpoint(request).call(
        keys_of(session),
        "PUT",
        Endpoint.path(bucket, key),
        headers=headers,
        stream=_relay(request, md5, length),
    )
    etag = _etag(reply.headers.get("ETag", ""))
    _check_etag(etag, md5)
    return {"key": key, "size": length, "etag": etag, "md5": md5.hexdigest()}


async def upload_form(request: web.Request, session: Session) -> Any:
    """A signed PostObject form for one file: `url` to post it to and the `fields` to send before the
    file. `url` is null when the console knows no address by which browsers reach S3."""
    body = await read_json(request)
    key = text_field(body, "key", "The key")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ApiError(400, "Object keys are at most 1024 bytes long.")
    content_type = text_field(body, "content_type", "The content type", required=False)
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FORM_SIZE:
        raise ApiError(400, "The file size must be a number of bytes, at most 5 GiB.")
    base = link_base(request)
    if base is None:
        return {"url": None, "fields": {}}
    bucket = bucket_of(request)
    fields = post_form(
        keys_of(session),
        bucket=bucket,
        key=key,
        content_type=content_type or "application/octet-stream",
        size=size,
        expires=FORM_SECONDS,
        region=endpoint(request).region,
    )
    return {"url": base + Endpoint.path(bucket), "fields": fields}


async def create_folder(request: web.Request, session: Session) -> Any:
    """A zero-byte object named "prefix/name/", which listings show as a folder."""
    body = await read_json(request)
    name = text_field(body, "name", "The folder name").strip("/")
    prefix = text_field(body, "prefix", "The prefix", required=False)
    if not name:
        raise ApiError(400, "The folder name is required.")
    key = f"{prefix}{name}/"
    await endpoint(request).call(
        keys_of(session),
        "PUT",
        Endpoint.path(bucket_of(request), key),
        headers={"content-length": "0"},
        body=b"",
    )
    return {"key": key}


async def create_upload(request: web.Request, session: Session) -> Any:
    body = await read_json(request)
    key = text_field(body, "key", "The key")
    content_type = text_field(body, "content_type", "The content type", required=False)
    headers = {"content-type": content_type or "application/octet-stream"}
    reply = await endpoint(request).call(
        keys_of(session),
        "POST",
        Endpoint.path(bucket_of(request), key),
        params=[("uploads", "")],
        headers=headers,
    )
    return {"key": key, "upload_id": find_text(reply.xml(), "UploadId")}


async def upload_part(request: web.Request, session: Session) -> Any:
    bucket, key = bucket_of(request), key_param(request)
    upload_id = request.query.get("upload_id", "")
    try:
        part = int(request.query.get("part", ""))
    except ValueError:
        raise ApiError(400, "The part number is missing.") from None
    if not upload_id or not 1 <= part <= 10000:
        raise ApiError(400, "An upload id and a part number from 1 to 10000 are required.")
    length = _length(request)
    md5 = hashlib.md5(usedforsecurity=False)
    reply = await endpoint(request).call(
        keys_of(session),
        "PUT",
        Endpoint.path(bucket, key),
        params=[("partNumber", str(part)), ("uploadId", upload_id)],
        headers={"content-length": str(length)},
        stream=_relay(request, md5, length),
    )
    etag = _etag(reply.headers.get("ETag", ""))
    _check_etag(etag, md5)
    return {"part": part, "etag": etag}


def _complete_body(parts: list[dict[str, Any]]) -> bytes:
    root = etree.Element("CompleteMultipartUpload", nsmap={None: S3_NS})
    for item in parts:
        node = etree.SubElement(root, "Part")
        etree.SubElement(node, "PartNumber").text = str(int(item["part"]))
        etree.SubElement(node, "ETag").text = '"' + str(item["etag"]).strip('"') + '"'
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def complete_upload(request: web.Request, session: Session) -> Any:
    body = await read_json(request)
    key = text_field(body, "key", "The key")
    upload_id = text_field(body, "upload_id", "The upload id")
    parts = body.get("parts")
    if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
        raise ApiError(400, "The list of uploaded parts is missing.")
    try:
        payload = _complete_body(sorted(parts, key=lambda p: int(p["part"])))
    except (KeyError, TypeError, ValueError):
        raise ApiError(400, "Each part needs its number and ETag.") from None
    reply = await endpoint(request).call(
        keys_of(session),
        "POST",
        Endpoint.path(bucket_of(request), key),
        params=[("uploadId", upload_id)],
        headers={"content-type": "application/xml"},
        body=payload,
    )
    root = reply.xml()
    if etree.QName(root).localname == "Error":  # CompleteMultipartUpload may fail inside a 200
        raise S3CallError(500, find_text(root, "Code"), find_text(root, "Message"))
    return {"key": key, "etag": _etag(find_text(root, "ETag"))}


async def abort_upload(request: web.Request, session: Session) -> Any:
    body = await read_json(request)
    key = text_field(body, "key", "The key")
    upload_id = text_field(body, "upload_id", "The upload id")
    try:
        await endpoint(request).call(
            keys_of(session),
            "DELETE",
            Endpoint.path(bucket_of(request), key),
            params=[("uploadId", upload_id)],
        )
    except S3CallError as err:
        if err.code != "NoSuchUpload":
            raise
    return {"aborted": upload_id}


def _attachment(key: str) -> str:
    name = key.rstrip("/").rsplit("/", 1)[-1] or "download"
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: web.Request, session: Session) -> web.StreamResponse:
    """GetObject streamed to the browser as an attachment (with `version_id`, that version)."""
    bucket, key = bucket_of(request), key_param(request)
    version_id = request.query.get("version_id", "")
    params = [("versionId", version_id)] if version_id else []
    async with endpoint(request).open(
        keys_of(session), "GET", Endpoint.path(bucket, key), params=params
    ) as upstream:
        if upstream.status != 200:
            raise error_from(upstream.status, await upstream.read())
        response = web.StreamResponse(
            headers={
                "Content-Type": upstream.headers.get("Content-Type", "application/octet-stream"),
                "Content-Disposition": _attachment(key),
                "ETag": upstream.headers.get("ETag", ""),
                "Content-Security-Policy": "sandbox",
            }
        )
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        async for chunk in upstream.content.iter_chunked(RELAY_CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response


async def delete_objects(request: web.Request, session: Session) -> Any:
    """DeleteObjects in batches of 1000; reports what was deleted and what was not, key by key."""
    body = await read_json(request)
    keys_to_delete = body.get("keys")
    if (
        not isinstance(keys_to_delete, list)
        or not keys_to_delete
        or not all(isinstance(k, str) and k for k in keys_to_delete)
    ):
        raise ApiError(400, "Choose at least one object to delete.")
    ep, keys, bucket = endpoint(request), keys_of(session), bucket_of(request)
    deleted: list[str] = []
    errors: list[dict[str, str]] = []
    for start in range(0, len(keys_to_delete), DELETE_BATCH):
        root = etree.Element("Delete", nsmap={None: S3_NS})
        etree.SubElement(root, "Quiet").text = "false"
        for key in keys_to_delete[start : start + DELETE_BATCH]:
            etree.SubElement(etree.SubElement(root, "Object"), "Key").text = key
        payload, headers = xml_request(root)
        answer = (
            await ep.call(
                keys, "POST", Endpoint.path(bucket), params=[("delete", "")], headers=headers, body=payload
            )
        ).xml()
        deleted += [find_text(node, "Key") for node in find_all(answer, "Deleted")]
        errors += [
            {
                "key": find_text(node, "Key"),
                "code": find_text(node, "Code"),
                "message": find_text(node, "Message"),
            }
            for node in find_all(answer, "Error")
        ]
    return {"deleted": deleted, "errors": errors}


async def object_details(request: web.Request, session: Session) -> Any:
    """HeadObject (with its checksum) and GetObjectTagging."""
    ep, keys = endpoint(request), keys_of(session)
    bucket, key = bucket_of(request), key_param(request)
    path = Endpoint.path(bucket, key)
    head = await ep.call(keys, "HEAD", path, headers={"x-amz-checksum-mode": "ENABLED"})
    h = head.headers
    checksums = {
        name[len("x-amz-checksum-") :].upper(): value
        for name, value in ((n.lower(), v) for n, v in h.items())
        if name.startswith("x-amz-checksum-") and name != "x-amz-checksum-type"
    }
    metadata = {
        name[len("x-amz-meta-") :]: value
        for name, value in ((n.lower(), v) for n, v in h.items())
        if name.startswith("x-amz-meta-")
    }
    tags: dict[str, str] | None = {}
    try:
        root = (await ep.call(keys, "GET", path, params=[("tagging", "")])).xml()
        tags = {find_text(t, "Key"): find_text(t, "Value") for t in root.iterfind(".//{*}Tag")}
    except S3CallError as err:
        if err.code not in ("NoSuchTagSet", "NotImplemented"):
            raise
        tags = {} if err.code == "NoSuchTagSet" else None
    return {
        "bucket": bucket,
        "key": key,
        "size": int(h.get("Content-Length", "0") or 0),
        "etag": _etag(h.get("ETag", "")),
        "content_type": h.get("Content-Type", ""),
        "last_modified": h.get("Last-Modified", ""),
        "storage_class": h.get("x-amz-storage-class", "STANDARD"),
        "checksums": checksums,
        "checksum_type": h.get("x-amz-checksum-type", ""),
        "metadata": metadata,
        "tags": tags,
    }


async def presign(request: web.Request, session: Session) -> Any:
    body = await read_json(request)
    key = text_field(body, "key", "The key")
    try:
        expires = int(body.get("expires", 3600))
    except (TypeError, ValueError):
        raise ApiError(400, "The expiry must be a number of seconds.") from None
    if not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise ApiError(400, "A link can last from one second to seven days.")
    url = endpoint(request).presign(
        keys_of(session), bucket_of(request), key, expires, base=link_base(request)
    )
    return {"url": url, "expires": expires, "expires_at": int(time.time()) + expires}


# -- bucket policy


async def get_policy(request: web.Request, session: Session) -> Any:
    try:
        reply = await endpoint(request).call(
            keys_of(session), "GET", Endpoint.path(bucket_of(request)), params=[("policy", "")]
        )
    except S3CallError as err:
        if err.code == "NoSuchBucketPolicy":
            return {"policy": None}
        raise
    return {"policy": reply.body.decode("utf-8", "replace")}


def describe_json_error(exc: json.JSONDecodeError) -> str:
    return f"The policy is not valid JSON: {exc.msg.lower()} at line {exc.lineno}, column {exc.colno}."


async def put_policy(request: web.Request, session: Session) -> Any:
    body = await read_json(request)
    text = body.get("policy")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "The policy is empty. To make the bucket private, remove its policy instead.")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, describe_json_error(exc), "MalformedPolicy") from None
    await endpoint(request).call(
        keys_of(session),
        "PUT",
        Endpoint.path(bucket_of(request)),
        params=[("policy", "")],
        headers={"content-type": "application/json"},
        body=text.encode(),
    )
    return {"policy": text}


async def delete_policy(request: web.Request, session: Session) -> Any:
    await endpoint(request).call(
        keys_of(session), "DELETE", Endpoint.path(bucket_of(request)), params=[("policy", "")]
    )
    return {"policy": None}


B = "/api/buckets/{bucket}"
ROUTES = (
    ("GET", "/api/buckets", list_buckets),
    ("POST", "/api/buckets", create_bucket),
    ("DELETE", B, delete_bucket),
    ("GET", B + "/usage", bucket_usage),
    ("GET", B + "/objects", list_objects),
    ("PUT", B + "/object", put_object),
    ("POST", B + "/upload-form", upload_form),
    ("POST", B + "/folder", create_folder),
    ("GET", B + "/download", download),
    ("GET", B + "/details", object_details),
    ("POST", B + "/presign", presign),
    ("POST", B + "/delete", delete_objects),
    ("POST", B + "/multipart", create_upload),
    ("PUT", B + "/multipart/part", upload_part),
    ("POST", B + "/multipart/complete", complete_upload),
    ("POST", B + "/multipart/abort", abort_upload),
    ("GET", B + "/policy", get_policy),
    ("PUT", B + "/policy", put_policy),
    ("DELETE", B + "/policy", delete_policy),
)
