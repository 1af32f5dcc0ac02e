"""Canned ACLs: what they grant, how they read back as AccessControlPolicy XML, how requests set them.

Only canned ACLs are stored (per bucket and per object); a grant list in a request body is accepted
when it says exactly what a canned ACL says, since arbitrary per-grantee grants are not supported.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from s3server.s3 import xml
from s3server.s3.common import owner_id
from s3server.s3.errors import S3Error

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

# canned ACL → the (group, permission) grants it adds beyond the owner's FULL_CONTROL
CANNED: dict[str, frozenset[tuple[str, str]]] = {
    "private": frozenset(),
    "public-read": frozenset({(ALL_USERS, "READ")}),
    "public-read-write": frozenset({(ALL_USERS, "READ"), (ALL_USERS, "WRITE")}),
    "authenticated-read": frozenset({(AUTHENTICATED_USERS, "READ")}),
    # The owner-only variants grant nothing beyond the owner here: buckets and objects share an owner.
    "bucket-owner-read": frozenset(),
    "bucket-owner-full-control": frozenset(),
    "aws-exec-read": frozenset(),
    "log-delivery-write": frozenset(),
}
DEFAULT = "private"


def validate(canned: str) -> str:
    if canned not in CANNED:
        raise S3Error(
            "InvalidArgument", f"Invalid canned ACL: {canned}", ArgumentName="x-amz-acl", ArgumentValue=canned
        )
    return canned


def from_headers(headers: Mapping[str, str]) -> str:
    """The canned ACL a write (CreateBucket, PutObject, CreateMultipartUpload, CopyObject) asks for:
    its x-amz-acl header, private without one."""
    if any(name.lower().startswith("x-amz-grant-") for name in headers):
        raise S3Error("NotImplemented", "Explicit grant headers are not supported; use a canned ACL")
    return validate(headers.get("x-amz-acl", DEFAULT))


def allows(canned: str, authenticated: bool, permission: str) -> bool:
    """Whether the ACL's group grants give a non-owner `permission` (READ or WRITE)."""
    grants = CANNED.get(canned, frozenset())
    if (ALL_USERS, permission) in grants:
        return True
    return authenticated and (AUTHENTICATED_USERS, permission) in grants


def is_public(canned: str) -> bool:
    return any(group == ALL_USERS for group, _ in CANNED.get(canned, frozenset()))


def render(owner: str, canned: str) -> bytes:
    """GetBucketAcl / GetObjectAcl answer for an owner and a canned ACL."""
    root = xml.element("AccessControlPolicy")
    owner_el = xml.sub(root, "Owner")
    xml.sub(owner_el, "ID", owner_id(owner))
    xml.sub(owner_el, "DisplayName", owner)
    grants = xml.sub(root, "AccessControlList")
    grant = xml.sub(grants, "Grant")
    grantee = etree.SubElement(grant, "Grantee", nsmap={"xsi": XSI})
    grantee.set(f"{{{XSI}}}type", "CanonicalUser")
    xml.sub(grantee, "ID", owner_id(owner))
    xml.sub(grantee, "DisplayName", owner)
    xml.sub(grant, "Permission", "FULL_CONTROL")
    for group, permission in sorted(CANNED.get(canned, frozenset())):
        grant = xml.sub(grants, "Grant")
        grantee = etree.SubElement(grant, "Grantee", nsmap={"xsi": XSI})
        grantee.set(f"{{{XSI}}}type", "Group")
        xml.sub(grantee, "URI", group)
        xml.sub(grant, "Permission", permission)
    return xml.render(root)


def from_request(headers: Mapping[str, str], body: bytes) -> str:
    """The canned ACL a Put*Acl request sets: the x-amz-acl header, or a body equal to a canned ACL."""
    if "x-amz-acl" in headers:
        if body.strip():
            raise S3Error("UnexpectedContent", "This request does not support content")
        return validate(headers["x-amz-acl"])
    if any(name.lower().startswith("x-amz-grant-") for name in headers):
        raise S3Error("NotImplemented", "Explicit grant headers are not supported; use a canned ACL")
    if not body.strip():
        raise S3Error(
            "MissingSecurityHeader",
            "Your request was missing a required header",
            MissingHeaderName="x-amz-acl",
        )
    root = xml.parse(body)
    if xml.local(root) != "AccessControlPolicy":
        raise S3Error("MalformedACLError")
    grants: set[tuple[str, str]] = set()
    acl = next(iter(xml.children(root, "AccessControlList")), None)
    if acl is None:
        raise S3Error("MalformedACLError")
    for grant in xml.children(acl, "Grant"):
        grantee = next(iter(xml.children(grant, "Grantee")), None)
        permission = xml.child_text(grant, "Permission")
        if grantee is None or permission is None:
            raise S3Error("MalformedACLError")
        uri = xml.child_text(grantee, "URI")
        if uri is not None:
            grants.add((uri, permission))
        elif permission != "FULL_CONTROL":
            raise S3Error("NotImplemented", "Grants to individual users are not supported; use a canned ACL")
    for canned in ("private", "public-read", "public-read-write", "authenticated-read"):
        if CANNED[canned] == grants:
            return canned
    raise S3Error("NotImplemented", "Only grant lists equal to a canned ACL are supported")
