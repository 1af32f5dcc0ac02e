"""Users and access keys in their own SQLite file.

`lookup` runs on every signed request, so found keys are cached in memory. Changes made through this
store clear the cache at once; changes made by another process sharing the file are seen after at
most `cache_ttl` seconds. Secrets are stored as given (encryption at rest comes later).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from s3server.identity.model import (
    ROOT_USER,
    AccessKeyExists,
    Credential,
    IdentityUnavailable,
    InvalidIdentityName,
    NoSuchAccessKey,
    NoSuchUser,
    ProtectedUser,
    User,
    UserExists,
)
from s3server.sqlitedb import Database, apply_migrations

__all__ = ["MIGRATIONS", "IdentityStore", "generate_access_key", "generate_secret_key"]

T = TypeVar("T")

MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE users (
            name TEXT PRIMARY KEY,
            is_admin INTEGER NOT NULL DEFAULT 0,
            created INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE access_keys (
            access_key TEXT PRIMARY KEY,
            secret_key TEXT NOT NULL,
            user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
            active INTEGER NOT NULL DEFAULT 1,
            created INTEGER NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX access_keys_by_user ON access_keys (user, access_key)",
    ),
]

# IAM's user-name alphabet.
_USER_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")
# Access keys appear inside SigV4's `Credential=AK/date/region/s3/aws4_request` and SigV2's
# `AWS AK:sig`, so '/', ',', '=', ':' and whitespace are out.
_ACCESS_KEY = re.compile(r"[A-Za-z0-9_.@+-]{3,128}")
_SECRET_KEY = re.compile(r"[\x21-\x7e]{8,128}")

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SELECT_CREDENTIAL = (
    "SELECT k.access_key, k.secret_key, k.user, u.is_admin, k.active "
    "FROM access_keys AS k JOIN users AS u ON u.name = k.user"
)


def generate_access_key() -> str:
    """An AWS-shaped access key id: "AK" and 18 uppercase letters or digits."""
    return "AK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))


def generate_secret_key() -> str:
    """40 random letters and digits (about 238 bits), safe to paste into shells and config files."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def _now_micros() -> int:
    return time.time_ns() // 1000


def _credential(row: tuple[Any, ...]) -> Credential:
    access_key, secret_key, user, is_admin, active = row
    return Credential(access_key, secret_key, user, bool(is_admin), bool(active))


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidIdentityName(f"invalid {what}: {value!r}")


class IdentityStore:
    """Users and their access keys, with a cache in front of `lookup`."""

    def __init__(self, path: Path, *, cache_ttl: float = 10.0, readers: int = 2) -> None:
        self.path = Path(path)
        self.cache_ttl = cache_ttl
        self.db = Database(self.path, readers=readers)
        self._cache: dict[str, tuple[Credential, float]] = {}
        self._generation = 0

    # -- plumbing

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.db.write(fn)
        except sqlite3.Error as exc:
            raise IdentityUnavailable(f"identity store {self.path}: {exc}") from exc
        finally:
            self._invalidate()

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.db.read(fn)
        except sqlite3.Error as exc:
            raise IdentityUnavailable(f"identity store {self.path}: {exc}") from exc

    def _invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()

    # -- lifecycle

    async def open(self) -> None:
        try:
            await self.db.open()
        except (sqlite3.Error, OSError) as exc:
            raise IdentityUnavailable(f"cannot open identity store {self.path}: {exc}") from exc
        try:
            await self._write(lambda conn: apply_migrations(conn, MIGRATIONS))
        except BaseException:
            await self.db.close()
            raise

    async def close(self) -> None:
        self._invalidate()
        await self.db.close()

    # -- the hot path

    async def lookup(self, access_key: str) -> Credential | None:
        """The credential for an access key (active or not), or None if there is no such key."""
        hit = self._cache.get(access_key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        generation = self._generation

        def run(conn: sqlite3.Connection) -> Credential | None:
            row = conn.execute(f"{_SELECT_CREDENTIAL} WHERE k.access_key = ?", (access_key,)).fetchone()
            return None if row is None else _credential(row)

        credential = await self._read(run)
        # A change that committed while we read may have made this answer stale: don't cache it.
        if credential is not None and generation == self._generation:
            self._cache[access_key] = (credential, time.monotonic() + self.cache_ttl)
        return credential

    # -- root

    async def ensure_root(self, access_key: str, secret_key: str) -> Credential:
        """Make "root" an admin whose one and only key is this pair, active (run at every start)."""
        _check(_ACCESS_KEY, access_key, "access key")
        _check(_SECRET_KEY, secret_key, "secret key")

        def run(conn: sqlite3.Connection) -> Credential:
            row = conn.execute("SELECT user FROM access_keys WHERE access_key = ?", (access_key,)).fetchone()
            if row is not None and row[0] != ROOT_USER:
                raise AccessKeyExists(f"access key {access_key} belongs to user {row[0]!r}, not root")
            now = _now_micros()
            conn.execute(
                "INSERT INTO users (name, is_admin, created) VALUES (?, 1, ?) "
                "ON CONFLICT (name) DO UPDATE SET is_admin = 1",
                (ROOT_USER, now),
            )
            conn.execute(
                "DELETE FROM access_keys WHERE user = ? AND access_key <> ?",
                (ROOT_USER, access_key),
            )
            conn.execute(
                "INSERT INTO access_keys (access_key, secret_key, user, active, created) "
                "VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (access_key) DO UPDATE SET secret_key = excluded.secret_key, active = 1",
                (access_key, secret_key, ROOT_USER, now),
            )
            return Credential(access_key, secret_key, ROOT_USER, is_admin=True, active=True)

        return await self._write(run)

    # -- users

    async def create_user(self, name: str, is_admin: bool = False) -> User:
        _check(_USER_NAME, name, "user name")
        created = _now_micros()

        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO users (name, is_admin, created) VALUES (?, ?, ?)",
                    (name, int(is_admin), created),
                )
            except sqlite3.IntegrityError as exc:
                raise UserExists(f"user {name!r} already exists") from exc

        await self._write(run)
        return User(name, is_admin, _EPOCH + timedelta(microseconds=created))

    async def get_user(self, name: str) -> User | None:
        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute("SELECT name, is_admin, created FROM users WHERE name = ?", (name,)).fetchone()
            return (
                None if row is None else User(row[0], bool(row[1]), _EPOCH + timedelta(microseconds=row[2]))
            )

        return await self._read(run)

    async def list_users(self) -> list[User]:
        def run(conn: sqlite3.Connection) -> list[User]:
            rows = conn.execute("SELECT name, is_admin, created FROM users ORDER BY name")
            return [User(n, bool(a), _EPOCH + timedelta(microseconds=c)) for n, a, c in rows]

        return await self._read(run)

    async def delete_user(self, name: str) -> None:
        """Remove a user and all of their access keys. Root is refused: it would lock the admin out."""
        if name == ROOT_USER:
            raise ProtectedUser("the root user cannot be deleted")

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise NoSuchUser(f"no user {name!r}")

        await self._write(run)

    # -- access keys

    async def create_access_key(
        self, user: str, access_key: str | None = None, secret_key: str | None = None
    ) -> Credential:
        """Add a key pair for `user`; either half is generated when not given."""
        generated = access_key is None
        if access_key is not None:
            _check(_ACCESS_KEY, access_key, "access key")
        if secret_key is not None:
            _check(_SECRET_KEY, secret_key, "secret key")
        secret = secret_key if secret_key is not None else generate_secret_key()

        def run(conn: sqlite3.Connection) -> Credential:
            row = conn.execute("SELECT is_admin FROM users WHERE name = ?", (user,)).fetchone()
            if row is None:
                raise NoSuchUser(f"no user {user!r}")
            key = access_key
            for _ in range(8):
                candidate = key if key is not None else generate_access_key()
                try:
                    conn.execute(
                        "INSERT INTO access_keys (access_key, secret_key, user, active, created) "
                        "VALUES (?, ?, ?, 1, ?)",
                        (candidate, secret, user, _now_micros()),
                    )
                except sqlite3.IntegrityError as exc:
                    if not generated:
                        raise AccessKeyExists(f"access key {candidate} already exists") from exc
                    continue
                return Credential(candidate, secret, user, is_admin=bool(row[0]), active=True)
            raise AccessKeyExists("could not generate an unused access key")

        return await self._write(run)

    async def list_access_keys(self, user: str | None = None) -> list[Credential]:
        """Every key (with its secret) ordered by user then key, or only one user's keys."""

        def run(conn: sqlite3.Connection) -> list[Credential]:
            if user is None:
                rows = conn.execute(f"{_SELECT_CREDENTIAL} ORDER BY k.user, k.access_key")
            else:
                rows = conn.execute(f"{_SELECT_CREDENTIAL} WHERE k.user = ? ORDER BY k.access_key", (user,))
            return [_credential(row) for row in rows]

        return await self._read(run)

    async def set_access_key_active(self, access_key: str, active: bool) -> None:
        def run(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE access_keys SET active = ? WHERE access_key = ?", (int(active), access_key)
            )
            if cursor.rowcount == 0:
                raise NoSuchAccessKey(f"no access key {access_key}")

        await self._write(run)

    async def delete_access_key(self, access_key: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM access_keys WHERE access_key = ?", (access_key,)).rowcount == 0:
                raise NoSuchAccessKey(f"no access key {access_key}")

        await self._write(run)
