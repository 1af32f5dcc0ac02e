"""Kept point lookups of the SQLite store: a write through any other connection, of this process or
of another store on the same file (another worker), is seen on the very next lookup; a caller's
changes to a record it was given never reach the next caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from s3server.metadata.base import Bucket, ObjectRecord, Segment
from s3server.metadata.sqlite import SqliteMetadataStore


def record(key: str, etag: str) -> ObjectRecord:
    return ObjectRecord(
        bucket="b",
        key=key,
        size=3,
        etag=etag,
        last_modified=datetime(2026, 1, 1, tzinfo=UTC),
        segments=[Segment("0" * 32, 3)],
        headers={"Cache-Control": "max-age=1"},
        owner="me",
    )


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteMetadataStore, SqliteMetadataStore]]:
    """Two stores on one database file, as two worker processes have."""
    one, two = SqliteMetadataStore(tmp_path / "m.db"), SqliteMetadataStore(tmp_path / "m.db")
    await one.open()
    await two.open()
    await one.create_bucket(Bucket("b", "me", "us-east-1", datetime(2026, 1, 1, tzinfo=UTC)))
    yield one, two
    await one.close()
    await two.close()


async def test_writes_elsewhere_are_seen_on_the_next_lookup(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    one, two = stores
    assert await one.get_object("b", "k") is None  # a missing key is kept too
    await two.put_object(record("k", "a" * 32))
    got = await one.get_object("b", "k")
    assert got is not None and got.etag == "a" * 32
    assert (await one.get_object("b", "k")).etag == "a" * 32  # type: ignore[union-attr]
    await two.put_object(record("k", "c" * 32))
    assert (await one.get_object("b", "k")).etag == "c" * 32  # type: ignore[union-attr]
    await one.put_object(record("k", "d" * 32))  # this store's own writer: another connection too
    assert (await one.get_object("b", "k")).etag == "d" * 32  # type: ignore[union-attr]
    await two.delete_object("b", "k")
    assert await one.get_object("b", "k") is None

    assert (await one.get_bucket("b")).policy is None  # type: ignore[union-attr]
    await two.set_bucket_policy("b", '{"Statement": []}')
    assert (await one.get_bucket("b")).policy == '{"Statement": []}'  # type: ignore[union-attr]
    await two.delete_bucket("b")
    assert await one.get_bucket("b") is None


async def test_a_callers_changes_stay_its_own(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    one, _ = stores
    await one.put_object(record("k", "a" * 32))
    first = await one.get_object("b", "k")
    assert first is not None
    first.etag = "changed"
    first.is_latest = False
    second = await one.get_object("b", "k")
    assert second is not None and second is not first
    assert second.etag == "a" * 32 and second.is_latest
    assert second.headers == {"Cache-Control": "max-age=1"}


async def test_a_kept_lookup_is_one_statement(
    stores: tuple[SqliteMetadataStore, SqliteMetadataStore],
) -> None:
    """While nothing is committed, a kept bucket or object lookup asks only PRAGMA data_version: no
    BEGIN and COMMIT around it, and no query."""
    one, _ = stores
    await one.put_object(record("k", "a" * 32))
    await one.get_object("b", "k")
    await one.get_bucket("b")
    statements: list[str] = []
    one.db.set_trace_callback(statements.append)
    try:
        assert (await one.get_object("b", "k")).etag == "a" * 32  # type: ignore[union-attr]
        assert (await one.get_bucket("b")) is not None
    finally:
        one.db.set_trace_callback(None)
    assert [s.strip().upper() for s in statements] == ["PRAGMA DATA_VERSION"] * 2, statements
