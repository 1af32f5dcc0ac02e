"""The keys of the built-in key service (SSE-KMS, `identity.kms`), for each backend.

A key is a row of `kms_keys` (id, alias, enabled, created) and one row of `kms_key_versions` per
version of its material, already sealed under the server identity key by the caller: the store
never sees key material in clear. Rotation adds a version and never removes one, so data keys
sealed under old versions still open. The (key_id, version) primary key makes two rotations racing
for the same version number fail one of them (`add_kms_key_version` answers False) instead of
losing one.

The two mixins run their SQL through the store's own plumbing (`_write`, `_read` for SQLite;
`_run`, `_transaction` for PostgreSQL) and its timestamp converters (`stamp`, `when`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from s3server.metadata.base import KmsKey
from s3server.metadata.errors import KmsAliasExistsError

__all__ = ["KMS_MIGRATION_POSTGRES", "KMS_MIGRATION_SQLITE", "PostgresKmsKeys", "SqliteKmsKeys"]

KMS_MIGRATION_SQLITE = (
    """CREATE TABLE kms_keys (
            key_id TEXT PRIMARY KEY,
            alias TEXT UNIQUE,
            enabled INTEGER NOT NULL,
            created INTEGER NOT NULL
        ) WITHOUT ROWID""",
    """CREATE TABLE kms_key_versions (
            key_id TEXT NOT NULL REFERENCES kms_keys (key_id),
            version INTEGER NOT NULL,
            material TEXT NOT NULL,
            PRIMARY KEY (key_id, version)
        ) WITHOUT ROWID""",
)
KMS_MIGRATION_POSTGRES = (
    """CREATE TABLE kms_keys (
            key_id TEXT COLLATE "C" PRIMARY KEY,
            alias TEXT COLLATE "C" UNIQUE,
            enabled BOOLEAN NOT NULL,
            created TIMESTAMPTZ NOT NULL
        )""",
    """CREATE TABLE kms_key_versions (
            key_id TEXT COLLATE "C" NOT NULL REFERENCES kms_keys (key_id),
            version INTEGER NOT NULL,
            material TEXT NOT NULL,
            PRIMARY KEY (key_id, version)
        )""",
)
_KEY = "SELECT key_id, alias, enabled, created FROM kms_keys WHERE key_id = {0} OR alias = {0}"
_KEYS = "SELECT key_id, alias, enabled, created FROM kms_keys ORDER BY created, key_id"
_VERSIONS = "SELECT key_id, material FROM kms_key_versions WHERE key_id = {0} ORDER BY version"
_ALL_VERSIONS = "SELECT key_id, material FROM kms_key_versions ORDER BY key_id, version"


def _keys(rows: Iterable[Sequence[Any]], versions: Iterable[Sequence[Any]], when: Any) -> list[KmsKey]:
    materials: dict[str, list[str]] = {}
    for key_id, material in versions:
        materials.setdefault(key_id, []).append(material)
    return [
        KmsKey(row[0], when(row[3]), tuple(materials.get(row[0], ())), row[1], bool(row[2])) for row in rows
    ]


class SqliteKmsKeys:
    """The key service methods of SqliteMetadataStore."""

    _write: Any
    _read: Any
    stamp: Any
    when: Any

    async def create_kms_key(self, key: KmsKey) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if (
                key.alias is not None
                and conn.execute("SELECT 1 FROM kms_keys WHERE alias = ?", (key.alias,)).fetchone()
            ):
                raise KmsAliasExistsError(key.alias)
            conn.execute(
                "INSERT INTO kms_keys (key_id, alias, enabled, created) VALUES (?, ?, ?, ?)",
                (key.key_id, key.alias, int(key.enabled), self.stamp(key.created)),
            )
            conn.executemany(
                "INSERT INTO kms_key_versions (key_id, version, material) VALUES (?, ?, ?)",
                [(key.key_id, n, m) for n, m in enumerate(key.materials, 1)],
            )

        await self._write(run)

    async def get_kms_key(self, name: str) -> KmsKey | None:
        def run(conn: sqlite3.Connection) -> KmsKey | None:
            row = conn.execute(_KEY.format("?1"), (name,)).fetchone()
            if row is None:
                return None
            return _keys([row], conn.execute(_VERSIONS.format("?"), (row[0],)), self.when)[0]

        return await self._read(run)

    async def kms_keys(self) -> list[KmsKey]:
        def run(conn: sqlite3.Connection) -> list[KmsKey]:
            return _keys(conn.execute(_KEYS).fetchall(), conn.execute(_ALL_VERSIONS), self.when)

        return await self._read(run)

    async def set_kms_key_enabled(self, key_id: str, enabled: bool) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute("UPDATE kms_keys SET enabled = ? WHERE key_id = ?", (int(enabled), key_id))
            return cursor.rowcount == 1

        return await self._write(run)

    async def add_kms_key_version(self, key_id: str, version: int, material: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM kms_keys WHERE key_id = ?", (key_id,)).fetchone() is None:
                return False
            cursor = conn.execute(
                "INSERT INTO kms_key_versions (key_id, version, material) VALUES (?, ?, ?) "
                "ON CONFLICT (key_id, version) DO NOTHING",
                (key_id, version, material),
            )
            return cursor.rowcount == 1

        return await self._write(run)


class PostgresKmsKeys:
    """The key service methods of PostgresMetadataStore."""

    _run: Any
    _transaction: Any
    when: Any

    async def create_kms_key(self, key: KmsKey) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute(
                    "INSERT INTO kms_keys (key_id, alias, enabled, created) VALUES ($1, $2, $3, $4)",
                    key.key_id,
                    key.alias,
                    key.enabled,
                    key.created,
                )
            except asyncpg.UniqueViolationError as exc:
                raise KmsAliasExistsError(key.alias or key.key_id) from exc
            await conn.executemany(
                "INSERT INTO kms_key_versions (key_id, version, material) VALUES ($1, $2, $3)",
                [(key.key_id, n, m) for n, m in enumerate(key.materials, 1)],
            )

        await self._transaction(run)

    async def get_kms_key(self, name: str) -> KmsKey | None:
        async def run(conn: asyncpg.Connection) -> KmsKey | None:
            row = await conn.fetchrow(_KEY.format("$1"), name)
            if row is None:
                return None
            versions = await conn.fetch(_VERSIONS.format("$1"), row[0])
            return _keys([row], versions, self.when)[0]

        return await self._transaction(run)

    async def kms_keys(self) -> list[KmsKey]:
        async def run(conn: asyncpg.Connection) -> list[KmsKey]:
            return _keys(await conn.fetch(_KEYS), await conn.fetch(_ALL_VERSIONS), self.when)

        return await self._transaction(run)

    async def set_kms_key_enabled(self, key_id: str, enabled: bool) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute("UPDATE kms_keys SET enabled = $2 WHERE key_id = $1", key_id, enabled)
            return status.endswith(" 1")

        return await self._run(run)

    async def add_kms_key_version(self, key_id: str, version: int, material: str) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            if await conn.fetchval("SELECT 1 FROM kms_keys WHERE key_id = $1", key_id) is None:
                return False
            status = await conn.execute(
                "INSERT INTO kms_key_versions (key_id, version, material) VALUES ($1, $2, $3) "
                "ON CONFLICT (key_id, version) DO NOTHING",
                key_id,
                version,
                material,
            )
            return status.endswith(" 1")

        return await self._transaction(run)
