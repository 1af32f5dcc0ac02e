"""Users and access keys in PostgreSQL, in the same database (and pool) as the metadata.

The rules, the generated keys, the lookup cache and the sealing of secrets are `IdentityStoreBase`'s;
this module only stores and fetches rows (secrets arrive sealed). Its schema is versioned as the
"identity" component, next to "metadata".
"""

from __future__ import annotations

import asyncpg

from s3server.identity.base import IdentityStoreBase, from_micros
from s3server.identity.model import (
    ROOT_USER,
    AccessKeyExists,
    Credential,
    IdentityUnavailable,
    NoSuchUser,
    User,
)
from s3server.identity.secrets import SecretBox
from s3server.pgdb import PgClient, PgDatabase

__all__ = ["COMPONENT", "MIGRATIONS", "PostgresIdentityStore"]

COMPONENT = "identity"

# Append new migrations; never edit an applied one. Times are microseconds since the epoch, as in
# the SQLite store, so both backends hand back identical values.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE users (
            name TEXT COLLATE "C" PRIMARY KEY,
            is_admin BOOLEAN NOT NULL DEFAULT FALSE,
            created BIGINT NOT NULL
        )""",
        """CREATE TABLE access_keys (
            access_key TEXT COLLATE "C" PRIMARY KEY,
            secret_key TEXT NOT NULL,
            user_name TEXT COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created BIGINT NOT NULL
        )""",
        "CREATE INDEX access_keys_by_user ON access_keys (user_name, access_key)",
    ),
    # A user's e-mail address, unique when set: ACL grants by e-mail address name the user with it.
    ("ALTER TABLE users ADD COLUMN email TEXT", "CREATE UNIQUE INDEX users_by_email ON users (email)"),
]

_SELECT_CREDENTIAL = (
    "SELECT k.access_key, k.secret_key, k.user_name, u.is_admin, k.active "
    "FROM access_keys AS k JOIN users AS u ON u.name = k.user_name"
)


def _credential(row: asyncpg.Record) -> Credential:
    access_key, secret_key, user, is_admin, active = row
    return Credential(access_key, secret_key, user, is_admin, active)


_USER_COLUMNS = "name, is_admin, created, email"


def _user(row: asyncpg.Record) -> User:
    name, is_admin, created, email = row
    return User(name, is_admin, from_micros(created), email)


class PostgresIdentityStore(IdentityStoreBase, PgClient):
    """Users and their access keys in PostgreSQL; `db` is usually the metadata store's."""

    def __init__(self, db: PgDatabase | str, *, secrets: SecretBox, cache_ttl: float = 10.0) -> None:
        super().__init__(cache_ttl=cache_ttl, secrets=secrets)
        self.db = PgDatabase(db) if isinstance(db, str) else db

    unavailable = IdentityUnavailable
    label = "identity store"

    # -- lifecycle

    async def _open(self) -> None:
        await self._open_migrated(COMPONENT, MIGRATIONS)

    async def _close(self) -> None:
        await self.db.close()

    async def schema_version(self) -> int:
        """The schema version the database is at (len(MIGRATIONS) once open)."""
        return await self._schema_version(COMPONENT)

    # -- rows

    async def _fetch_credential(self, access_key: str) -> Credential | None:
        async def run(conn: asyncpg.Connection) -> Credential | None:
            row = await conn.fetchrow(f"{_SELECT_CREDENTIAL} WHERE k.access_key = $1", access_key)
            return None if row is None else _credential(row)

        return await self._run(run)

    async def _install_root(self, access_key: str, secret_key: str, created: int) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            # Serialise concurrent starts (several workers or machines) on the root user's row.
            await conn.execute(
                "INSERT INTO users (name, is_admin, created) VALUES ($1, TRUE, $2) "
                "ON CONFLICT (name) DO UPDATE SET is_admin = TRUE",
                ROOT_USER,
                created,
            )
            owner = await conn.fetchval("SELECT user_name FROM access_keys WHERE access_key = $1", access_key)
            if owner is not None and owner != ROOT_USER:
                raise AccessKeyExists(f"access key {access_key} belongs to user {owner!r}, not root")
            await conn.execute(
                "DELETE FROM access_keys WHERE user_name = $1 AND access_key <> $2", ROOT_USER, access_key
            )
            await conn.execute(
                "INSERT INTO access_keys (access_key, secret_key, user_name, active, created) "
                "VALUES ($1, $2, $3, TRUE, $4) "
                "ON CONFLICT (access_key) DO UPDATE SET secret_key = excluded.secret_key, active = TRUE",
                access_key,
                secret_key,
                ROOT_USER,
                created,
            )

        await self._transaction(run)

    async def _insert_user(self, name: str, is_admin: bool, created: int, email: str | None = None) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "INSERT INTO users (name, is_admin, created, email) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (name) DO NOTHING",
                name,
                is_admin,
                created,
                email,
            )
            return status.endswith(" 1")

        return await self._run(run)

    async def _fetch_user(self, name: str) -> User | None:
        async def run(conn: asyncpg.Connection) -> User | None:
            row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE name = $1", name)
            return None if row is None else _user(row)

        return await self._run(run)

    async def _fetch_user_by_email(self, email: str) -> User | None:
        async def run(conn: asyncpg.Connection) -> User | None:
            row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE email = $1", email)
            return None if row is None else _user(row)

        return await self._run(run)

    async def _update_email(self, name: str, email: str | None) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute("UPDATE users SET email = $2 WHERE name = $1", name, email)
            return status.endswith(" 1")

        return await self._run(run)

    async def _fetch_users(self) -> list[User]:
        async def run(conn: asyncpg.Connection) -> list[User]:
            return [
                _user(row) for row in await conn.fetch(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
            ]

        return await self._run(run)

    async def _remove_user(self, name: str) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            return (await conn.execute("DELETE FROM users WHERE name = $1", name)).endswith(" 1")

        return await self._run(run)

    async def _insert_access_key(
        self, user: str, access_key: str, secret_key: str, created: int
    ) -> Credential | None:
        async def run(conn: asyncpg.Connection) -> Credential | None:
            is_admin = await conn.fetchval("SELECT is_admin FROM users WHERE name = $1 FOR SHARE", user)
            if is_admin is None:
                raise NoSuchUser(f"no user {user!r}")
            status = await conn.execute(
                "INSERT INTO access_keys (access_key, secret_key, user_name, active, created) "
                "VALUES ($1, $2, $3, TRUE, $4) ON CONFLICT (access_key) DO NOTHING",
                access_key,
                secret_key,
                user,
                created,
            )
            if not status.endswith(" 1"):
                return None
            return Credential(access_key, secret_key, user, is_admin=is_admin, active=True)

        return await self._transaction(run)

    async def _fetch_access_keys(self, user: str | None) -> list[Credential]:
        async def run(conn: asyncpg.Connection) -> list[Credential]:
            if user is None:
                rows = await conn.fetch(f"{_SELECT_CREDENTIAL} ORDER BY k.user_name, k.access_key")
            else:
                rows = await conn.fetch(
                    f"{_SELECT_CREDENTIAL} WHERE k.user_name = $1 ORDER BY k.access_key", user
                )
            return [_credential(row) for row in rows]

        return await self._run(run)

    async def _update_access_key(self, access_key: str, active: bool) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "UPDATE access_keys SET active = $2 WHERE access_key = $1", access_key, active
            )
            return status.endswith(" 1")

        return await self._run(run)

    async def _remove_access_key(self, access_key: str) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            return (await conn.execute("DELETE FROM access_keys WHERE access_key = $1", access_key)).endswith(
                " 1"
            )

        return await self._run(run)

    async def _fetch_secrets(self) -> list[tuple[str, str]]:
        async def run(conn: asyncpg.Connection) -> list[tuple[str, str]]:
            rows = await conn.fetch("SELECT access_key, secret_key FROM access_keys")
            return [(row[0], row[1]) for row in rows]

        return await self._run(run)

    async def _replace_secret(self, access_key: str, old: str, new: str) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "UPDATE access_keys SET secret_key = $3 WHERE access_key = $1 AND secret_key = $2",
                access_key,
                old,
                new,
            )
            return status.endswith(" 1")

        return await self._run(run)
