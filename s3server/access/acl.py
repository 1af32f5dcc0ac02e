"""ACLs: canned ACLs and explicit grants, how they are stored, read back, set by requests and decided.

A stored ACL is either a canned ACL's name ("private", "public-read", …: the owner's FULL_CONTROL plus
the canned grants) or, once a request names grantees (x-amz-grant-* headers or an AccessControlPolicy
body), the JSON list of exactly those grants, as AWS keeps them. Grantees are a user's canonical id
(its DisplayName kept beside it) or AWS's groups; grantees are checked when the ACL is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from lxml import etree

from s3server.identity.model import User
from s3server.s3 import xml
from s3server.s3.common import owner_id
from s3server.s3.errors import S3Error

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
# x-amz-grant-* header → the permission it grants
GRANT_HEADERS = {
    "x-amz-grant-full-control": "FULL_CONTROL",
    "x-amz-grant-read": "READ",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-write-acp": "WRITE_ACP",
}

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
    "log-delivery-write": frozenset({(LOG_DELIVERY, "WRITE"), (LOG_DELIVERY, "READ_ACP")}),
}
DEFAULT = "private"

USER, EMAIL, GROUP = "CanonicalUser", "AmazonCustomerByEmail", "Group"


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    kind: str  # CanonicalUser (value: canonical id), Group (value: URI), AmazonCustomerByEmail (unresolved)
    value: str
    permission: str
    name: str = ""  # a CanonicalUser grantee's DisplayName (its user name)


# An account directory for resolving grantees: canonical id or e-mail address → user name (None: unknown).
Directory = Callable[[str, str], Awaitable[str | None]]


def validate(canned: str) -> str:
    if canned not in CANNED:
        raise S3Error(
            "InvalidArgument", f"Invalid canned ACL: {canned}", ArgumentName="x-amz-acl", ArgumentValue=canned
        )
    return canned


def _dump(grants: Sequence[Grant]) -> str:
    return json.dumps([[g.kind, g.value, g.permission, g.name] for g in grants], separators=(",", ":"))


@lru_cache(maxsize=4096)
def _load(stored: str) -> tuple[Grant, ...] | None:
    """The explicit grants of a stored ACL, None for a canned one."""
    if not stored.startswith("["):
        return None
    return tuple(Grant(kind, value, permission, name) for kind, value, permission, name in json.loads(stored))


def grants_of(stored: str, owner: str) -> tuple[Grant, ...]:
    """Every grant a stored ACL makes, the owner's included (as GetBucketAcl lists them)."""
    explicit = _load(stored)
    if explicit is not None:
        return explicit
    owner_grant = Grant(USER, owner_id(owner), "FULL_CONTROL", owner)
    return (owner_grant, *(Grant(GROUP, g, p) for g, p in sorted(CANNED.get(stored, frozenset()))))


def allows(stored: str, user: str | None, permission: str, ignore_public: bool = False) -> bool:
    """Whether the ACL grants `permission` (READ, WRITE, READ_ACP, WRITE_ACP) to `user` (None:
    anonymous) through a group, a grant to the user's canonical id, or FULL_CONTROL; with
    `ignore_public`, grants to AllUsers and AuthenticatedUsers count for nothing."""
    explicit = _load(stored)
    if explicit is None:
        if ignore_public:
            return False  # a canned ACL grants only to groups
        grants = CANNED.get(stored, frozenset())
        if (ALL_USERS, permission) in grants:
            return True
        return user is not None and (AUTHENTICATED_USERS, permission) in grants
    me = owner_id(user) if user is not None else None
    for grant in explicit:
        if grant.permission != permission and grant.permission != "FULL_CONTROL":
            continue
        if (
            grant.kind == GROUP
            and not ignore_public
            and (grant.value == ALL_USERS or (user is not None and grant.value == AUTHENTICATED_USERS))
        ):
            return True
        if grant.kind == USER and grant.value == me:
            return True
    return False


def is_public(stored: str) -> bool:
    """Whether the ACL grants anything to everyone or to every signed-in caller (AWS's "public")."""
    explicit = _load(stored)
    if explicit is None:
        return any(group in (ALL_USERS, AUTHENTICATED_USERS) for group, _ in CANNED.get(stored, frozenset()))
    return any(g.kind == GROUP and g.value in (ALL_USERS, AUTHENTICATED_USERS) for g in explicit)


def render(owner: str, stored: str) -> bytes:
    """GetBucketAcl / GetObjectAcl answer for an owner and a stored ACL."""
    root = xml.element("AccessControlPolicy")
    owner_el = xml.sub(root, "Owner")
    xml.sub(owner_el, "ID", owner_id(owner))
    xml.sub(owner_el, "DisplayName", owner)
    grants = xml.sub(root, "AccessControlList")
    for grant in grants_of(stored, owner):
        grant_el = xml.sub(grants, "Grant")
        grantee = etree.SubElement(grant_el, "Grantee", nsmap={"xsi": XSI})
        grantee.set(f"{{{XSI}}}type", grant.kind)
        if grant.kind == USER:
            xml.sub(grantee, "ID", grant.value)
            xml.sub(grantee, "DisplayName", grant.name)
        else:
            xml.sub(grantee, "URI", grant.value)
        xml.sub(grant_el, "Permission", grant.permission)
    return xml.render(root)


# -- what requests ask for

_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*(?:"([^"]*)"|([^,\s"]*))\s*(?:,|$)')


def _header_grants(headers: Mapping[str, str]) -> list[Grant] | None:
    """The grants of a request's x-amz-grant-* headers; None without any."""
    named = [(name, headers[name]) for name in GRANT_HEADERS if name in headers]
    if not named:
        return None
    grants: list[Grant] = []
    for name, value in named:
        pos = 0
        while pos < len(value):
            match = _GRANTEE.match(value, pos)
            if match is None or match.end() == pos:
                raise S3Error(
                    "InvalidArgument", f"Invalid grant header: {name}", ArgumentName=name, ArgumentValue=value
                )
            kind, quoted, bare = match.groups()
            grantee = quoted if quoted is not None else bare
            label = {"id": USER, "uri": GROUP, "emailAddress": EMAIL}[kind]
            grants.append(Grant(label, grantee, GRANT_HEADERS[name]))
            pos = match.end()
    return grants


def _body_grants(body: bytes) -> list[Grant]:
    root = xml.parse(body)
    if xml.local(root) != "AccessControlPolicy":
        raise S3Error("MalformedACLError")
    acl = next(iter(xml.children(root, "AccessControlList")), None)
    if acl is None:
        raise S3Error("MalformedACLError")
    grants = []
    for grant in xml.children(acl, "Grant"):
        grantee = next(iter(xml.children(grant, "Grantee")), None)
        permission = xml.child_text(grant, "Permission")
        if grantee is None or permission not in PERMISSIONS:
            raise S3Error("MalformedACLError")
        kind = grantee.get(f"{{{XSI}}}type")
        field = {USER: "ID", GROUP: "URI", EMAIL: "EmailAddress"}.get(kind or "")
        value = xml.child_text(grantee, field) if field else None
        if kind is None or value is None:
            raise S3Error("MalformedACLError")
        grants.append(Grant(kind, value.strip(), permission))
    return grants


def from_headers(headers: Mapping[str, str]) -> str:
    """The ACL a write (CreateBucket, PutObject, CreateMultipartUpload, CopyObject) asks for: its
    x-amz-acl or x-amz-grant-* headers (grantees still to be `resolved`), private without either."""
    grants = _header_grants(headers)
    if grants is None:
        return validate(headers.get("x-amz-acl", DEFAULT))
    if "x-amz-acl" in headers:
        raise S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
    return _dump(grants)


def from_request(headers: Mapping[str, str], body: bytes) -> str:
    """The ACL a Put*Acl request sets: x-amz-acl, x-amz-grant-* headers, or an AccessControlPolicy body
    (grantees still to be `resolved`)."""
    has_body = bool(body.strip())
    if "x-amz-acl" in headers or any(name in headers for name in GRANT_HEADERS):
        if has_body:
            raise S3Error("UnexpectedContent", "This request does not support content")
        return from_headers(headers)
    if not has_body:
        raise S3Error(
            "MissingSecurityHeader",
            "Your request was missing a required header",
            MissingHeaderName="x-amz-acl",
        )
    return _dump(_body_grants(body))


async def resolved(stored: str, directory: Directory) -> str:
    """A requested ACL with every grantee checked: canonical ids must name a user (InvalidArgument),
    e-mail addresses a user's address (UnresolvableGrantByEmailAddress), groups be AWS's URIs."""
    explicit = _load(stored)
    if explicit is None:
        return stored
    out = []
    for grant in explicit:
        if grant.kind == GROUP:
            if grant.value not in GROUPS:
                raise S3Error(
                    "InvalidArgument", "Invalid group uri", ArgumentName="uri", ArgumentValue=grant.value
                )
            out.append(grant)
            continue
        name = await directory(grant.kind, grant.value)
        if name is None:
            if grant.kind == EMAIL:
                raise S3Error("UnresolvableGrantByEmailAddress", EmailAddress=grant.value)
            raise S3Error(
                "InvalidArgument", "Invalid id", ArgumentName="CanonicalUser/ID", ArgumentValue=grant.value
            )
        out.append(Grant(USER, owner_id(name), grant.permission, name))
    return _dump(out)


class _Users(Protocol):
    async def list_users(self) -> list[User]: ...

    async def user_by_email(self, email: str) -> User | None: ...


def directory_of(identity: _Users) -> Directory:
    """Grantee resolution against the identity store: a canonical id is a user's `owner_id`, an
    e-mail address the one a user was given (`s3server admin user add --email`)."""

    async def find(kind: str, value: str) -> str | None:
        if kind == EMAIL:
            user = await identity.user_by_email(value)
            return None if user is None else user.name
        return next((u.name for u in await identity.list_users() if owner_id(u.name) == value), None)

    return find


async def requested(stored: str, identity: _Users) -> str:
    """`resolved` against the identity store; canned ACLs never ask it."""
    return stored if _load(stored) is None else await resolved(stored, directory_of(identity))
