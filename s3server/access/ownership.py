"""Object Ownership: who owns what is written into a bucket, and whether ACLs still count.

    BucketOwnerEnforced   ACLs are disabled: they grant nothing, and a write that sets one other than
                          the bucket owner's full control is AccessControlListNotSupported; the
                          bucket's owner owns every object
    BucketOwnerPreferred  an object written with bucket-owner-full-control is the bucket owner's
    ObjectWriter          the writer owns what it writes (also what a bucket without the setting does)

A bucket row without the setting behaves as ObjectWriter and GetBucketOwnershipControls answers
OwnershipControlsNotFoundError. More lenient than AWS: new buckets get no setting (AWS now defaults
to BucketOwnerEnforced), so canned ACLs keep working for clients written before that change.
"""

from __future__ import annotations

from collections.abc import Mapping

from s3server.access import acl, public_block
from s3server.metadata.base import Bucket
from s3server.s3 import xml
from s3server.s3.common import owner_id
from s3server.s3.errors import S3Error

ENFORCED = "BucketOwnerEnforced"
PREFERRED = "BucketOwnerPreferred"
WRITER = "ObjectWriter"
VALUES = (ENFORCED, PREFERRED, WRITER)
OWNER_FULL_CONTROL = "bucket-owner-full-control"


def parse_xml(body: bytes) -> str:
    """A PutBucketOwnershipControls body: exactly one Rule with a known ObjectOwnership."""
    root = xml.parse(body)
    if xml.local(root) != "OwnershipControls":
        raise S3Error("MalformedXML")
    rules = xml.children(root, "Rule")
    if len(rules) != 1 or len(root) != 1:
        raise S3Error("MalformedXML")
    value = (xml.child_text(rules[0], "ObjectOwnership") or "").strip()
    if value not in VALUES:
        raise S3Error("MalformedXML")
    return value


def render_xml(value: str) -> bytes:
    root = xml.element("OwnershipControls")
    rule = xml.sub(root, "Rule")
    xml.sub(rule, "ObjectOwnership", value)
    return xml.render(root)


def from_create_header(headers: Mapping[str, str]) -> str | None:
    """CreateBucket's x-amz-object-ownership (None without it)."""
    value = headers.get("x-amz-object-ownership")
    if value is None:
        return None
    if value not in VALUES:
        raise S3Error(
            "InvalidArgument",
            "Invalid x-amz-object-ownership header",
            ArgumentName="x-amz-object-ownership",
            ArgumentValue=value,
        )
    return value


def _owner_full_control_only(stored: str, owner: str) -> bool:
    """Whether an ACL says no more than "the bucket owner has full control" (AWS's equivalent forms)."""
    if stored in (acl.DEFAULT, OWNER_FULL_CONTROL):
        return True
    grants = acl.grants_of(stored, owner)
    return bool(grants) and all(
        g.kind == acl.USER and g.value == owner_id(owner) and g.permission == "FULL_CONTROL" for g in grants
    )


def admit_acl(bucket: Bucket, requested: str) -> str:
    """The ACL a write may store on `bucket` or in it: refused when ACLs are disabled
    (AccessControlListNotSupported) or a public one is blocked (AccessDenied)."""
    if bucket.ownership == ENFORCED:
        if not _owner_full_control_only(requested, bucket.owner):
            raise S3Error("AccessControlListNotSupported")
        return acl.DEFAULT
    if public_block.loads(bucket.public_access_block).block_public_acls and acl.is_public(requested):
        raise S3Error("AccessDenied")
    return requested


def object_owner(bucket: Bucket, writer: str, requested: str) -> str:
    """Who owns an object `writer` writes into `bucket` with the ACL `requested`."""
    if bucket.ownership == ENFORCED or (bucket.ownership == PREFERRED and requested == OWNER_FULL_CONTROL):
        return bucket.owner
    return writer
