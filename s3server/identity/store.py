"""Users and access keys in their own SQLite file (the embedded default).

The rules, the generated keys, the lookup cache and the sealing of secrets are `IdentityStoreBase`'s;
this module only stores and fetches rows, one `Database.write` per change. Without an explicit
`SecretBox`, secrets are sealed under the key kept beside the database file (the data dir).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from s3server.identity.base import IdentityStoreBase, from_micros, generate_access_key, generate_secret_key
from s3server.identity.model import (
    ROOT_USER,
    AccessKeyExists,
    Credential,
    IdentityUnavailable,
    NoSuchUser,
    User,
)
from s3server.identity.secrets import SecretBox
from s3server.sqlitedb import Database, apply_migrations
from s3server.sqlitedb import schema_version as read_schema_version

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
    # A user's e-mail address, unique when set: ACL grants by e-mail address name the user with it.
    ("ALTER TABLE users ADD COLUMN email TEXT", "CREATE UNIQUE INDEX users_by_email ON users (email)"),
]

_SELECT_CREDENTIAL = (
    "SELECT k.access_key, k.secret_key, k.user, u.is_admin, k.active "
    "FROM access_keys AS k JOIN users AS u ON u.name = k.user"
)


def _credential(row: tuple[Any, ...]) -> Credential:
    access_key, secret_key, user, is_admin, active = row
    return Credential(access_key, secret_key, user, bool(is_admin), bool(active))


_USER_COLUMNS = "name, is_admin, created, email"


def _user(row: tuple[Any, ...]) -> User:
    name, is_admin, created, email = row
    return User(name, bool(is_admin), from_micros(created), email)


class IdentityStore(IdentityStoreBase):
    """Users and their access keys in one SQLite file, with a cache in front of `lookup`."""

    def __init__(
        self, path: Path, *, cache_ttl: float = 10.0, readers: int = 2, secrets: SecretBox | None = None
    ) -> None:
        super().__init__(cache_ttl=cache_ttl, secrets=secrets or SecretBox.load(Path(path).parent))
        self.path = Path(path)
        self.db = Database(self.path, readers=readers)

    # -- plumbing

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.db.write(fn)
        except sqlite3.Error as exc:
            raise IdentityUnavailable(f"identity store {self.path}: {exc}") from exc

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.db.read(fn)
        except sqlite3.Error as exc:
            raise IdentityUnavailable(f"identity store {self.path}: {exc}") from exc

    # -- lifecycle

    async def _open(self) -> None:
        try:
            await self.db.open()
        except (sqlite3.Error, OSError) as exc:
            raise IdentityUnavailable(f"cannot open identity store {self.path}: {exc}") from exc
        try:
            await self._write(lambda conn: apply_migrations(conn, MIGRATIONS))
        except BaseException:
            await self.db.close()
            raise

    async def _close(self) -> None:
        await self.db.close()

    async def schema_version(self) -> int:
        """The schema version the file is at (len(MIGRATIONS) once open)."""
        return await self._read(read_schema_version)

    # -- rows

    async def _fetch_credential(self, access_key: str) -> Credential | None:
        def run(conn: sqlite3.Connection) -> Credential | None:
            row = conn.execute(f"{_SELECT_CREDENTIAL} WHERE k.access_key = ?", (access_key,)).fetchone()
            return None if row is None else _credential(row)

        return await self._read(run)

    async def _install_root(self, access_key: str, secret_key: str, created: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT user FROM access_keys WHERE access_key = ?", (access_key,)).fetchone()
            if row is not None and row[0] != ROOT_USER:
                raise AccessKeyExists(f"access key {access_key} belongs to user {row[0]!r}, not root")
            conn.execute(
                "INSERT INTO users (name, is_admin, created) VALUES (?, 1, ?) "
                "ON CONFLICT (name) DO UPDATE SET is_admin = 1",
                (ROOT_USER, created),
            )
            conn.execute(
                "DELETE FROM access_keys WHERE user = ? AND access_key <> ?", (ROOT_USER, access_key)
            )
            conn.execute(
                "INSERT INTO access_keys (access_key, secret_key, user, active, created) "
                "VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (access_key) DO UPDATE SET secret_key = excluded.secret_key, active = 1",
                (access_key, secret_key, ROOT_USER, created),
            )

        await self._write(run)

    async def _insert_user(self, name: str, is_admin: bool, created: int, email: str | None = None) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO users (name, is_admin, created, email) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, int(is_admin), created, email),
            )
            return cursor.rowcount == 1

        return await self._write(run)

    async def _fetch_user(self, name: str) -> User | None:
        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
            return None if row is None else _user(row)

        return await self._read(run)

    async def _fetch_user_by_email(self, email: str) -> User | None:
        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (email,)).fetchone()
            return None if row is None else _user(row)

        return await self._read(run)

    async def _update_email(self, name: str, email: str | None) -> bool:
        return await self._write(
            lambda conn: conn.execute("UPDATE users SET email = ? WHERE name = ?", (email, name)).rowcount > 0
        )

    async def _fetch_users(self) -> list[User]:
        def run(conn: sqlite3.Connection) -> list[User]:
            return [_user(row) for row in conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")]

        return await self._read(run)

    async def _remove_user(self, name: str) -> bool:
        return await self._write(
            lambda conn: conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0
        )

    async def _insert_access_key(
        self, user: str, access_key: str, secret_key: str, created: int
    ) -> Credential | None:
        def run(conn: sqlite3.Connection) -> Credential | None:
            row = conn.execute("SELECT is_admin FROM users WHERE name = ?", (user,)).fetchone()
            if row is None:
                raise NoSuchUser(f"no user {user!r}")
            cursor = conn.execute(
                "INSERT INTO access_keys (access_key, secret_key, user, active, created) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (access_key) DO NOTHING",
                (access_key, secret_key, user, created),
            )
            if cursor.rowcount == 0:
                return None
            return Credential(access_key, secret_key, user, is_admin=bool(row[0]), active=True)

        return await self._write(run)

    async def _fetch_access_keys(self, user: str | None) -> list[Credential]:
        def run(conn: sqlite3.Connection) -> list[Credential]:
            if user is None:
                rows = conn.execute(f"{_SELECT_CREDENTIAL} ORDER BY k.user, k.access_key")
            else:
                rows = conn.execute(f"{_SELECT_CREDENTIAL} WHERE k.user = ? ORDER BY k.access_key", (user,))
            return [_credential(row) for row in rows]

        return await self._read(run)

    async def _update_access_key(self, access_key: str, active: bool) -> bool:
        return await self._write(
            lambda conn: (
                conn.execute(
                    "UPDATE access_keys SET active = ? WHERE access_key = ?", (int(active), access_key)
                ).rowcount
                > 0
            )
        )

    async def _remove_access_key(self, access_key: str) -> bool:
        return await self._write(
            lambda conn: (
                conn.execute("DELETE FROM access_keys WHERE access_key = ?", (access_key,)).rowcount > 0
            )
        )

    async def _fetch_secrets(self) -> list[tuple[str, str]]:
        return await self._read(
            lambda conn: [
                (row[0], row[1]) for row in conn.execute("SELECT access_key, secret_key FROM access_keys")
            ]
        )

    async def _replace_secret(self, access_key: str, old: str, new: str) -> bool:
        return await self._write(
            lambda conn: (
                conn.execute(
                    "UPDATE access_keys SET secret_key = ? WHERE access_key = ? AND secret_key = ?",
                    (new, access_key, old),
                ).rowcount
                > 0
            )
        )
