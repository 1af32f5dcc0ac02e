"""Who can sign requests: users, their access keys, and the identity errors.

`Credential` lives here (not in the gateway) so identity has no dependency on the gateway; the
gateway's auth module re-exports it.

    Exception
     ├── IdentityError               a request to the identity store that cannot be honoured
     │    ├── InvalidIdentityName    a user name or access key that is malformed
     │    ├── UserExists / NoSuchUser
     │    ├── AccessKeyExists / NoSuchAccessKey
     │    ├── ProtectedUser          the root user cannot be deleted
     │    └── IdentityUnavailable    the backend failed (also a MetadataError: the caller answers 503)
     └── MetadataError
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from s3server.metadata.base import MetadataError

__all__ = [
    "ROOT_USER",
    "AccessKeyExists",
    "Credential",
    "IdentityError",
    "IdentityUnavailable",
    "InvalidIdentityName",
    "NoSuchAccessKey",
    "NoSuchUser",
    "ProtectedUser",
    "User",
    "UserExists",
]

ROOT_USER = "root"


@dataclass(frozen=True, slots=True)
class Credential:
    """An access key pair and the user it signs for."""

    access_key: str
    secret_key: str = field(repr=False)  # kept out of reprs, so out of logs and tracebacks
    user: str
    is_admin: bool = False
    active: bool = True


@dataclass(frozen=True, slots=True)
class User:
    name: str
    is_admin: bool
    created: datetime
    email: str | None = None  # lower-cased; what ACL grants by e-mail address (emailAddress=) resolve


class IdentityError(Exception):
    """The identity store refused a request (the admin API answers it as a client error)."""


class InvalidIdentityName(IdentityError):
    pass


class UserExists(IdentityError):
    pass


class NoSuchUser(IdentityError):
    pass


class AccessKeyExists(IdentityError):
    pass


class NoSuchAccessKey(IdentityError):
    pass


class ProtectedUser(IdentityError):
    pass


class IdentityUnavailable(IdentityError, MetadataError):
    """The identity database failed; like any metadata failure the request gets ServiceUnavailable."""
