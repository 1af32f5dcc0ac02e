"""The public access block: a bucket's four switches against public ACLs and public policies.

    BlockPublicAcls        ACL writes (Put*Acl, PutObject, CopyObject, CreateMultipartUpload,
                           PostObject) that would make something public are AccessDenied
    IgnorePublicAcls       grants to AllUsers / AuthenticatedUsers grant nothing
    BlockPublicPolicy      a PutBucketPolicy whose document is public is AccessDenied
    RestrictPublicBuckets  while the policy is public, its Allow statements admit only the owner

Stored as compact JSON on the bucket's row; absent means no block at all (as on AWS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from s3server.s3 import xml
from s3server.s3.errors import S3Error


@dataclass(frozen=True, slots=True)
class PublicAccessBlock:
    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False


# AWS's element names (also the stored JSON's) → the fields
FIELDS = {
    "BlockPublicAcls": "block_public_acls",
    "IgnorePublicAcls": "ignore_public_acls",
    "BlockPublicPolicy": "block_public_policy",
    "RestrictPublicBuckets": "restrict_public_buckets",
}


NONE = PublicAccessBlock()


def loads(stored: str | None) -> PublicAccessBlock:
    """The block a bucket row stores (no block when unset)."""
    if not stored:
        return NONE
    raw = json.loads(stored)
    return PublicAccessBlock(**{field: bool(raw.get(name, False)) for name, field in FIELDS.items()})


def dumps(block: PublicAccessBlock) -> str:
    return json.dumps({name: getattr(block, field) for name, field in FIELDS.items()}, separators=(",", ":"))


def parse_xml(body: bytes) -> PublicAccessBlock:
    """A PutPublicAccessBlock body; a missing switch is off, anything but true/false MalformedXML."""
    root = xml.parse(body)
    if xml.local(root) != "PublicAccessBlockConfiguration":
        raise S3Error("MalformedXML")
    values: dict[str, bool] = {}
    for child in root:
        name = xml.local(child)
        text = (child.text or "").strip().lower()
        if name not in FIELDS or FIELDS[name] in values or text not in ("true", "false"):
            raise S3Error("MalformedXML")
        values[FIELDS[name]] = text == "true"
    return PublicAccessBlock(**values)


def render_xml(block: PublicAccessBlock) -> bytes:
    root = xml.element("PublicAccessBlockConfiguration")
    for name, field in FIELDS.items():
        xml.sub(root, name, getattr(block, field))
    return xml.render(root)
