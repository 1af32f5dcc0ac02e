"""What every identity backend shares: validation, key generation, the root rules and the lookup cache.

A backend (SQLite in `store.py`, PostgreSQL in `postgres.py`) subclasses `IdentityStoreBase` and
implements the small `_…` primitives, each one statement or transaction, raising IdentityUnavailable
when its database fails. Everything a caller can observe (which names are valid, what is generated,
that root cannot be deleted, how long another process's change may stay cached) lives here once.

`lookup` runs on every signed request, so found keys are cached in memory. Changes made through a
store clear its cache at once; changes made by another process sharing the database are seen after
at most `cache_ttl` seconds.

Secrets are sealed (AES-GCM, `secrets.py`) here before a backend stores them and opened here after
it fetches them, so backends only ever see sealed strings; rows stored in plain text by an older
release are sealed when the store opens.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from s3server.identity.model import (
    ROOT_USER,
    AccessKeyExists,
    Credential,
    InvalidIdentityName,
    NoSuchAccessKey,
    NoSuchUser,
    ProtectedUser,
    User,
    UserExists,
)
from s3server.identity.secrets import SecretBox

__all__ = [
    "IdentityStoreBase",
    "check_access_key",
    "check_secret_key",
    "check_user_name",
    "from_micros",
    "generate_access_key",
    "generate_secret_key",
    "now_micros",
]

T = TypeVar("T")

# IAM's user-name alphabet.
_USER_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")
# Access keys appear inside SigV4's `Credential=AK/date/region/s3/aws4_request` and SigV2's
# `AWS AK:sig`, so '/', ',', '=', ':' and whitespace are out.
_ACCESS_KEY = re.compile(r"[A-Za-z0-9_.@+-]{3,128}")
# E-mail addresses: one @, a dot in the domain, no whitespace (enough to catch a typo, not RFC 5322).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SECRET_KEY = re.compile(r"[\x21-\x7e]{8,128}")

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GENERATE_TRIES = 8


def generate_access_key() -> str:
    """An AWS-shaped access key id: "AK" and 18 uppercase letters or digits."""
    return "AK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))


def generate_secret_key() -> str:
    """40 random letters and digits (about 238 bits), safe to paste into shells and config files."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def now_micros() -> int:
    return time.time_ns() // 1000


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidIdentityName(f"invalid {what}: {value!r}")


def check_user_name(name: str) -> None:
    _check(_USER_NAME, name, "user name")


def check_email(email: str) -> str:
    """A plausible e-mail address, lower-cased (AWS compares them without case)."""
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidIdentityName(f"invalid e-mail address {email!r}")
    return email


def check_access_key(access_key: str) -> None:
    _check(_ACCESS_KEY, access_key, "access key")


def check_secret_key(secret_key: str) -> None:
    _check(_SECRET_KEY, secret_key, "secret key")


class IdentityStoreBase(ABC):
    """Users and their access keys, with a cache in front of `lookup`."""

    def __init__(self, *, cache_ttl: float = 10.0, secrets: SecretBox | None = None) -> None:
        self.cache_ttl = cache_ttl
        self.secrets = secrets  # None only for stores built without one: secrets are then kept plain
        self._cache: dict[str, tuple[Credential, float]] = {}
        self._generation = 0

    # -- what a backend provides (each raises IdentityUnavailable when its database fails)

    @abstractmethod
    async def _open(self) -> None:
        """Connect and bring the schema up to date."""

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int:
        """The schema version the database is at (its number of migrations once open)."""

    @abstractmethod
    async def _fetch_credential(self, access_key: str) -> Credential | None: ...

    @abstractmethod
    async def _install_root(self, access_key: str, secret_key: str, created: int) -> None:
        """In one transaction: make root an admin whose only key is this pair, active; raise
        AccessKeyExists if the key belongs to another user."""

    @abstractmethod
    async def _insert_user(self, name: str, is_admin: bool, created: int, email: str | None = None) -> bool:
        """False when the name is taken."""

    @abstractmethod
    async def _fetch_user_by_email(self, email: str) -> User | None: ...

    @abstractmethod
    async def _update_email(self, name: str, email: str | None) -> bool:
        """False when there is no such user."""

    @abstractmethod
    async def _fetch_user(self, name: str) -> User | None: ...

    @abstractmethod
    async def _fetch_users(self) -> list[User]:
        """Ordered by name."""

    @abstractmethod
    async def _remove_user(self, name: str) -> bool:
        """Remove the user and their keys; False when there is no such user."""

    @abstractmethod
    async def _insert_access_key(
        self, user: str, access_key: str, secret_key: str, created: int
    ) -> Credential | None:
        """The new credential, or None when the access key is taken; raise NoSuchUser."""

    @abstractmethod
    async def _fetch_access_keys(self, user: str | None) -> list[Credential]:
        """Ordered by user then access key (one user's keys when `user` is given)."""

    @abstractmethod
    async def _update_access_key(self, access_key: str, active: bool) -> bool:
        """False when there is no such key."""

    @abstractmethod
    async def _remove_access_key(self, access_key: str) -> bool:
        """False when there is no such key."""

    @abstractmethod
    async def _fetch_secrets(self) -> list[tuple[str, str]]:
        """Every (access key, stored secret) pair, to seal the ones stored in plain text."""

    @abstractmethod
    async def _replace_secret(self, access_key: str, old: str, new: str) -> bool:
        """Store `new` as the key's secret if it still holds `old` (False otherwise)."""

    # -- lifecycle

    async def open(self) -> None:
        await self._open()
        await self._seal_plain_secrets()

    async def close(self) -> None:
        self._invalidate()
        await self._close()

    # -- plumbing

    def _invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()

    def _seal(self, secret: str, access_key: str) -> str:
        return secret if self.secrets is None else self.secrets.seal(secret, access_key)

    def _opened(self, credential: Credential) -> Credential:
        """The credential with its stored secret opened."""
        if self.secrets is None or not self.secrets.is_sealed(credential.secret_key):
            return credential
        return replace(credential, secret_key=self.secrets.open(credential.secret_key, credential.access_key))

    async def _seal_plain_secrets(self) -> None:
        """The data migration to encryption at rest: seal every secret still stored in plain text.
        Safe to run from several processes at once (each row is replaced only if unchanged)."""
        if self.secrets is None:
            return
        for access_key, stored in await self._fetch_secrets():
            if not self.secrets.is_sealed(stored):
                await self._replace_secret(access_key, stored, self.secrets.seal(stored, access_key))

    async def _changing(self, change: Awaitable[T]) -> T:
        """Await a change; whatever its outcome, cached credentials may now be wrong."""
        try:
            return await change
        finally:
            self._invalidate()

    # -- the hot path

    async def lookup(self, access_key: str) -> Credential | None:
        """The credential for an access key (active or not), or None if there is no such key."""
        hit = self._cache.get(access_key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        generation = self._generation
        credential = await self._fetch_credential(access_key)
        if credential is not None:
            credential = self._opened(credential)
        # A change that committed while we read may have made this answer stale: don't cache it.
        if credential is not None and generation == self._generation:
            self._cache[access_key] = (credential, time.monotonic() + self.cache_ttl)
        return credential

    # -- root

    async def ensure_root(self, access_key: str, secret_key: str) -> Credential:
        """Make "root" an admin whose one and only key is this pair, active (run at every start)."""
        check_access_key(access_key)
        check_secret_key(secret_key)
        sealed = self._seal(secret_key, access_key)
        await self._changing(self._install_root(access_key, sealed, now_micros()))
        return Credential(access_key, secret_key, ROOT_USER, is_admin=True, active=True)

    # -- users

    async def create_user(self, name: str, is_admin: bool = False, email: str | None = None) -> User:
        check_user_name(name)
        email = await self._free_email(email)
        created = now_micros()
        if not await self._changing(self._insert_user(name, is_admin, created, email)):
            raise UserExists(f"user {name!r} already exists")
        return User(name, is_admin, from_micros(created), email)

    async def _free_email(self, email: str | None, owner: str | None = None) -> str | None:
        """A well-formed address (lower-cased) that no other user has; None stays None."""
        if email is None:
            return None
        email = check_email(email)
        holder = await self._fetch_user_by_email(email)
        if holder is not None and holder.name != owner:
            raise UserExists(f"e-mail address {email!r} belongs to user {holder.name!r}")
        return email

    async def set_user_email(self, name: str, email: str | None) -> User:
        """Give a user an e-mail address (None removes it); NoSuchUser, UserExists when taken."""
        email = await self._free_email(email, owner=name)
        if not await self._update_email(name, email):
            raise NoSuchUser(f"no user {name!r}")
        user = await self._fetch_user(name)
        if user is None:
            raise NoSuchUser(f"no user {name!r}")
        return user

    async def user_by_email(self, email: str) -> User | None:
        """The user with this address (compared without case), None when nobody has it."""
        return await self._fetch_user_by_email(email.strip().lower())

    async def get_user(self, name: str) -> User | None:
        return await self._fetch_user(name)

    async def list_users(self) -> list[User]:
        return await self._fetch_users()

    async def delete_user(self, name: str) -> None:
        """Remove a user and all of their access keys. Root is refused: it would lock the admin out."""
        if name == ROOT_USER:
            raise ProtectedUser("the root user cannot be deleted")
        if not await self._changing(self._remove_user(name)):
            raise NoSuchUser(f"no user {name!r}")

    # -- access keys

    async def create_access_key(
        self, user: str, access_key: str | None = None, secret_key: str | None = None
    ) -> Credential:
        """Add a key pair for `user`; either half is generated when not given."""
        if access_key is not None:
            check_access_key(access_key)
        if secret_key is not None:
            check_secret_key(secret_key)
        secret = secret_key if secret_key is not None else generate_secret_key()
        for _ in range(_GENERATE_TRIES if access_key is None else 1):
            candidate = access_key if access_key is not None else generate_access_key()
            sealed = self._seal(secret, candidate)
            created = await self._changing(self._insert_access_key(user, candidate, sealed, now_micros()))
            if created is not None:
                return replace(created, secret_key=secret)
            if access_key is not None:
                raise AccessKeyExists(f"access key {candidate} already exists")
        raise AccessKeyExists("could not generate an unused access key")

    async def list_access_keys(self, user: str | None = None) -> list[Credential]:
        """Every key (with its secret) ordered by user then key, or only one user's keys."""
        return [self._opened(credential) for credential in await self._fetch_access_keys(user)]

    async def set_access_key_active(self, access_key: str, active: bool) -> None:
        if not await self._changing(self._update_access_key(access_key, active)):
            raise NoSuchAccessKey(f"no access key {access_key}")

    async def delete_access_key(self, access_key: str) -> None:
        if not await self._changing(self._remove_access_key(access_key)):
            raise NoSuchAccessKey(f"no access key {access_key}")
