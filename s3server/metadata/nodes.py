"""The storage node list kept in the metadata database (`s3server admin nodes add|remove|list`), for
each backend: a gateway started without `--storage-nodes` places replicas on these nodes.

The two mixins run their SQL through the store's own plumbing (`_write`, `_read` for SQLite; `_run`
for PostgreSQL), as `metadata.leases` does.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg

from s3server.metadata.base import NodeEntry

__all__ = ["NODES_MIGRATION_POSTGRES", "NODES_MIGRATION_SQLITE", "PostgresNodes", "SqliteNodes"]

NODES_MIGRATION_SQLITE = (
    "CREATE TABLE storage_nodes (name TEXT PRIMARY KEY, url TEXT NOT NULL) WITHOUT ROWID",
)
NODES_MIGRATION_POSTGRES = (
    'CREATE TABLE storage_nodes (name TEXT COLLATE "C" PRIMARY KEY, url TEXT NOT NULL)',
)
_LIST = "SELECT name, url FROM storage_nodes ORDER BY name"


class SqliteNodes:
    """The storage node list methods of SqliteMetadataStore."""

    _write: Any
    _read: Any

    async def add_storage_node(self, node: NodeEntry) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            known = conn.execute("SELECT 1 FROM storage_nodes WHERE name = ?", (node.name,)).fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO storage_nodes (name, url) VALUES (?, ?)", (node.name, node.url)
            )
            return known is None

        return await self._write(run)

    async def remove_storage_node(self, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM storage_nodes WHERE name = ?", (name,)).rowcount == 1

        return await self._write(run)

    async def storage_nodes(self) -> list[NodeEntry]:
        def run(conn: sqlite3.Connection) -> list[NodeEntry]:
            return [NodeEntry(row[0], row[1]) for row in conn.execute(_LIST)]

        return await self._read(run)


class PostgresNodes:
    """The storage node list methods of PostgresMetadataStore."""

    _run: Any
    _transaction: Any

    async def add_storage_node(self, node: NodeEntry) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "INSERT INTO storage_nodes (name, url) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                node.name,
                node.url,
            )
            if status.endswith(" 1"):
                return True
            await conn.execute("UPDATE storage_nodes SET url = $2 WHERE name = $1", node.name, node.url)
            return False

        return await self._transaction(run)

    async def remove_storage_node(self, name: str) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute("DELETE FROM storage_nodes WHERE name = $1", name)
            return status.endswith(" 1")

        return await self._run(run)

    async def storage_nodes(self) -> list[NodeEntry]:
        async def run(conn: asyncpg.Connection) -> list[NodeEntry]:
            return [NodeEntry(row["name"], row["url"]) for row in await conn.fetch(_LIST)]

        return await self._run(run)
