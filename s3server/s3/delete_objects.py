"""DeleteObjects: up to 1000 keys in one request, each deleted through the saga like DeleteObject.

The body must carry Content-MD5 or a flexible checksum (AWS refuses it otherwise). Every key gets its
own outcome: Deleted (also for keys that never existed, as deletes are idempotent) or Error; Quiet
mode reports the errors only. Keys are deleted a few at a time concurrently, answered in request
order. Each key is authorized as its own DeleteObject (a policy may allow some prefixes only), so a
key the caller may not delete is an AccessDenied entry, as on AWS. An entry's ETag, LastModifiedTime
and Size are that key's conditional delete (DeleteObject's If-Match and x-amz-if-match-*): a key
whose condition fails is a PreconditionFailed (or NoSuchKey) entry and the others are still deleted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from s3server.metadata.base import DeleteCondition, DeleteResult
from s3server.metadata.errors import DomainError, MetadataError
from s3server.s3 import xml
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, require_bucket
from s3server.s3.common import is_version_id, new_version_id, valid_version_id
from s3server.s3.conditions import delete_condition
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error, from_domain
from s3server.s3.object_lock import wants_bypass

log = logging.getLogger("s3server.delete_objects")

MAX_KEYS = 1000
CONCURRENCY = 16


@dataclass(slots=True)
class _Target:
    key: str
    version_id: str | None
    condition: DeleteCondition | None = None
    error: S3Error | None = None
    done: DeleteResult | None = None


def _parse(body: bytes) -> tuple[list[_Target], bool]:
    root = xml.parse(body)
    if xml.local(root) != "Delete":
        raise S3Error("MalformedXML")
    quiet_text = xml.child_text(root, "Quiet")
    quiet = quiet_text is not None and quiet_text.strip().lower() == "true"
    targets: list[_Target] = []
    for element in xml.children(root, "Object"):
        key = xml.child_text(element, "Key")
        if not key:  # a Key is required and at least one character long
            raise S3Error("MalformedXML")
        try:
            condition = delete_condition(
                xml.child_text(element, "ETag"),
                xml.child_text(element, "LastModifiedTime"),
                xml.child_text(element, "Size"),
                source="xml",
            )
        except S3Error as err:
            raise S3Error("MalformedXML") from err
        targets.append(_Target(key, xml.child_text(element, "VersionId"), condition))
    if not targets or len(targets) > MAX_KEYS:
        raise S3Error("MalformedXML")
    return targets, quiet


async def _delete(req: S3Request, target: _Target, gate: asyncio.Semaphore, bypass: bool) -> None:
    assert req.bucket is not None
    async with gate:
        try:
            if target.version_id == "":
                valid_version_id(target.version_id, "versionId")  # InvalidArgument
            if target.version_id is not None and not is_version_id(target.version_id):
                raise S3Error("NoSuchVersion", Key=target.key, VersionId=target.version_id)  # never ours
            if req.authorize is not None:
                await req.authorize("s3:DeleteObject", req.bucket, target.key)
            try:
                target.done = await req.services.saga.delete_object(
                    req.bucket,
                    target.key,
                    target.version_id,
                    marker_id=new_version_id(),
                    bypass_governance=bypass,
                    condition=target.condition,
                )
            except (DomainError, MetadataError) as exc:  # each key answers for itself, not the request
                raise from_domain(exc) from exc
        except S3Error as err:
            target.error = err
        except Exception:
            log.exception("DeleteObjects: deleting %r failed (request %s)", target.key, req.request_id)
            target.error = S3Error("InternalError")


async def delete_objects(req: S3Request) -> S3Response:
    assert req.bucket is not None
    await require_bucket(req)
    targets, quiet = _parse(await read_verified_body(req, xml.MAX_XML_BODY))
    bypass = await wants_bypass(req)
    gate = asyncio.Semaphore(CONCURRENCY)
    await asyncio.gather(*(_delete(req, target, gate, bypass) for target in targets))

    root = xml.element("DeleteResult")
    for target in targets:
        if target.error is None:
            if quiet:
                continue
            entry = xml.sub(root, "Deleted")
            xml.sub(entry, "Key", target.key)
            if target.version_id is not None:
                xml.sub(entry, "VersionId", target.version_id)
            done = target.done
            if done is not None and done.delete_marker:
                xml.sub(entry, "DeleteMarker", True)
                if done.version_id is not None:
                    xml.sub(entry, "DeleteMarkerVersionId", done.version_id)
        else:
            entry = xml.sub(root, "Error")
            xml.sub(entry, "Key", target.key)
            if target.version_id is not None:
                xml.sub(entry, "VersionId", target.version_id)
            xml.sub(entry, "Code", target.error.code)
            xml.sub(entry, "Message", target.error.message)
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


HANDLERS = {
    "DeleteObjects": delete_objects,
}
