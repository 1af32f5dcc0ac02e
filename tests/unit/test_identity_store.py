"""The identity stores (SQLite and PostgreSQL): users, access keys, the root bootstrap and the cache.

Every test that takes `make_store` or `ids` runs against both backends.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from s3server.identity.base import IdentityStoreBase
from s3server.identity.model import (
    AccessKeyExists,
    Credential,
    IdentityError,
    IdentityUnavailable,
    InvalidIdentityName,
    NoSuchAccessKey,
    NoSuchUser,
    ProtectedUser,
    UserExists,
)
from s3server.identity.postgres import MIGRATIONS as PG_IDENTITY_MIGRATIONS
from s3server.identity.postgres import PostgresIdentityStore
from s3server.identity.secrets import KEY_ENV, KEY_FILE, SecretBox, SecretUnreadable
from s3server.identity.store import IdentityStore, generate_access_key, generate_secret_key
from s3server.metadata.base import MetadataError
from s3server.metadata.postgres import PostgresMetadataStore
from s3server.pgdb import PgDatabase
from tests.support.postgres import PostgresCluster

ROOT_KEY = "rootaccess"
ROOT_SECRET = "rootsecret123"
BOX = SecretBox(b"identity-store-tests-server-key")


StoreFactory = Callable[..., IdentityStoreBase]


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores on one fresh database; two made by it share their data, like two processes."""
    if request.param == "sqlite":
        yield lambda **options: IdentityStore(tmp_path / "identity.db", **options)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    dsn = cluster.create_database("identity")
    yield lambda **options: PostgresIdentityStore(dsn, **{"secrets": BOX, **options})
    cluster.drop_database(dsn)


@pytest.fixture
async def ids(make_store: StoreFactory) -> AsyncIterator[IdentityStoreBase]:
    store = make_store()
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def test_generated_keys_are_aws_shaped() -> None:
    keys = {generate_access_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"AK[A-Z0-9]{18}", key)
    secret = generate_secret_key()
    assert len(secret) == 40 and secret.isalnum()
    assert generate_secret_key() != secret


async def test_ensure_root(ids: IdentityStoreBase) -> None:
    cred = await ids.ensure_root(ROOT_KEY, ROOT_SECRET)
    assert cred == Credential(ROOT_KEY, ROOT_SECRET, "root", is_admin=True, active=True)
    assert await ids.lookup(ROOT_KEY) == cred
    [root] = await ids.list_users()
    assert root.name == "root" and root.is_admin and root.created.utcoffset() is not None

    # Idempotent, and it reactivates a key someone switched off.
    await ids.set_access_key_active(ROOT_KEY, False)
    assert await ids.ensure_root(ROOT_KEY, ROOT_SECRET) == cred
    assert await ids.lookup(ROOT_KEY) == cred
    assert len(await ids.list_users()) == 1

    # A new secret for the same key replaces the old secret.
    await ids.ensure_root(ROOT_KEY, "another-secret")
    found = await ids.lookup(ROOT_KEY)
    assert found is not None and found.secret_key == "another-secret"


async def test_ensure_root_rotates_the_key(ids: IdentityStoreBase) -> None:
    await ids.ensure_root(ROOT_KEY, ROOT_SECRET)
    assert await ids.lookup(ROOT_KEY) is not None  # now cached
    await ids.ensure_root("newroot", "newsecret123")
    assert await ids.lookup(ROOT_KEY) is None
    assert await ids.lookup("newroot") == Credential("newroot", "newsecret123", "root", True, True)
    assert [c.access_key for c in await ids.list_access_keys("root")] == ["newroot"]


async def test_ensure_root_refuses_another_users_key(ids: IdentityStoreBase) -> None:
    await ids.create_user("alice")
    await ids.create_access_key("alice", "alicekey", "alicesecret")
    with pytest.raises(AccessKeyExists):
        await ids.ensure_root("alicekey", ROOT_SECRET)
    assert (await ids.lookup("alicekey")) == Credential("alicekey", "alicesecret", "alice", False, True)


async def test_root_survives_reopen(make_store: StoreFactory) -> None:
    first = make_store()
    await first.open()
    await first.ensure_root(ROOT_KEY, ROOT_SECRET)
    await first.create_user("alice")
    alice = await first.create_access_key("alice")
    await first.close()

    second = make_store()
    await second.open()
    try:
        assert await second.lookup(ROOT_KEY) == Credential(ROOT_KEY, ROOT_SECRET, "root", True, True)
        assert await second.lookup(alice.access_key) == alice
        assert [u.name for u in await second.list_users()] == ["alice", "root"]
    finally:
        await second.close()


async def test_users(ids: IdentityStoreBase) -> None:
    alice = await ids.create_user("alice")
    assert alice.name == "alice" and not alice.is_admin
    admin = await ids.create_user("ops.admin@example", is_admin=True)
    assert admin.is_admin
    with pytest.raises(UserExists):
        await ids.create_user("alice")
    assert [(u.name, u.is_admin) for u in await ids.list_users()] == [
        ("alice", False),
        ("ops.admin@example", True),
    ]
    assert await ids.get_user("alice") == alice
    assert await ids.get_user("nobody") is None

    await ids.delete_user("alice")
    with pytest.raises(NoSuchUser):
        await ids.delete_user("alice")
    assert [u.name for u in await ids.list_users()] == ["ops.admin@example"]


async def test_user_emails(ids: IdentityStoreBase) -> None:
    alice = await ids.create_user("alice", email="Alice@Example.COM")
    assert alice.email == "alice@example.com"
    assert await ids.get_user("alice") == alice
    assert await ids.user_by_email("ALICE@example.com") == alice
    assert await ids.user_by_email("bob@example.com") is None
    with pytest.raises(UserExists):  # an address names one user only
        await ids.create_user("bob", email="alice@example.com")
    assert await ids.get_user("bob") is None
    bob = await ids.create_user("bob")
    assert bob.email is None
    with pytest.raises(UserExists):
        await ids.set_user_email("bob", "alice@EXAMPLE.com")
    assert (await ids.set_user_email("alice", "alice@example.com")).email == "alice@example.com"  # her own
    assert (await ids.set_user_email("bob", "bob@example.com")).email == "bob@example.com"
    assert (await ids.user_by_email("bob@example.com")) == await ids.get_user("bob")
    assert (await ids.set_user_email("alice", None)).email is None
    assert await ids.user_by_email("alice@example.com") is None
    assert [u.email for u in await ids.list_users()] == [None, "bob@example.com"]
    for bad in ("no-at-sign", "two@@example.com", "a b@example.com", "x@localhost"):
        with pytest.raises(InvalidIdentityName):
            await ids.create_user("carol", email=bad)
    with pytest.raises(NoSuchUser):
        await ids.set_user_email("nobody", "n@example.com")


@pytest.mark.parametrize("name", ["", "has space", "slash/y", "x" * 65, "ünï"])
async def test_invalid_user_names(ids: IdentityStoreBase, name: str) -> None:
    with pytest.raises(InvalidIdentityName):
        await ids.create_user(name)


async def test_root_cannot_be_deleted(ids: IdentityStoreBase) -> None:
    await ids.ensure_root(ROOT_KEY, ROOT_SECRET)
    with pytest.raises(ProtectedUser):
        await ids.delete_user("root")
    assert await ids.lookup(ROOT_KEY) is not None


async def test_access_keys(ids: IdentityStoreBase) -> None:
    await ids.create_user("alice")
    await ids.create_user("bob", is_admin=True)
    generated = await ids.create_access_key("alice")
    assert re.fullmatch(r"AK[A-Z0-9]{18}", generated.access_key)
    assert len(generated.secret_key) == 40
    assert generated.user == "alice" and not generated.is_admin and generated.active

    given = await ids.create_access_key("bob", "bobkey01", "bobsecret01")
    assert given == Credential("bobkey01", "bobsecret01", "bob", is_admin=True, active=True)
    half = await ids.create_access_key("alice", secret_key="chosen-secret")
    assert half.secret_key == "chosen-secret" and half.access_key.startswith("AK")

    with pytest.raises(AccessKeyExists):
        await ids.create_access_key("alice", "bobkey01")
    with pytest.raises(NoSuchUser):
        await ids.create_access_key("carol")
    with pytest.raises(InvalidIdentityName):
        await ids.create_access_key("alice", "bad/key")
    with pytest.raises(InvalidIdentityName):
        await ids.create_access_key("alice", "goodkey", "short")

    everyone = await ids.list_access_keys()
    assert [(c.user, c.access_key) for c in everyone] == sorted(
        [("alice", generated.access_key), ("alice", half.access_key), ("bob", "bobkey01")]
    )
    assert await ids.list_access_keys("bob") == [given]
    assert await ids.list_access_keys("nobody") == []

    assert await ids.lookup(generated.access_key) == generated
    assert await ids.lookup("bobkey01") == given
    assert await ids.lookup("missing") is None


async def test_deactivate_and_delete_invalidate_the_cache(ids: IdentityStoreBase) -> None:
    await ids.create_user("alice")
    cred = await ids.create_access_key("alice", "alicekey", "alicesecret")
    assert await ids.lookup("alicekey") == cred  # cached from here on

    await ids.set_access_key_active("alicekey", False)
    off = await ids.lookup("alicekey")
    assert off is not None and off.active is False
    await ids.set_access_key_active("alicekey", True)
    on = await ids.lookup("alicekey")
    assert on is not None and on.active is True

    await ids.delete_access_key("alicekey")
    assert await ids.lookup("alicekey") is None
    with pytest.raises(NoSuchAccessKey):
        await ids.delete_access_key("alicekey")
    with pytest.raises(NoSuchAccessKey):
        await ids.set_access_key_active("alicekey", True)


async def test_deleting_a_user_removes_their_keys(ids: IdentityStoreBase) -> None:
    await ids.create_user("alice")
    cred = await ids.create_access_key("alice")
    assert await ids.lookup(cred.access_key) == cred
    await ids.delete_user("alice")
    assert await ids.lookup(cred.access_key) is None
    assert await ids.list_access_keys() == []


async def test_lookup_is_cached(ids: IdentityStoreBase, monkeypatch: pytest.MonkeyPatch) -> None:
    await ids.create_user("alice")
    cred = await ids.create_access_key("alice")
    assert await ids.lookup(cred.access_key) == cred
    reads = 0
    fetch = ids._fetch_credential

    async def counting(access_key: str) -> Any:
        nonlocal reads
        reads += 1
        return await fetch(access_key)

    monkeypatch.setattr(ids, "_fetch_credential", counting)
    for _ in range(100):
        assert await ids.lookup(cred.access_key) == cred
    assert reads == 0


async def test_sqlite_lookup_is_cached_without_statements(tmp_path: Path) -> None:
    ids = IdentityStore(tmp_path / "identity.db")
    await ids.open()
    try:
        await ids.create_user("alice")
        cred = await ids.create_access_key("alice")
        assert await ids.lookup(cred.access_key) == cred
        reads = 0

        def trace(sql: str) -> None:
            nonlocal reads
            reads += sql.lstrip().upper().startswith("SELECT")

        ids.db.set_trace_callback(trace)
        for _ in range(100):
            assert await ids.lookup(cred.access_key) == cred
        ids.db.set_trace_callback(None)
        assert reads == 0
    finally:
        await ids.close()


async def test_other_process_changes_seen_after_ttl(make_store: StoreFactory) -> None:
    """Two stores on one database, as two server processes would be: the cache is bounded by its TTL."""
    writer = make_store()
    reader = make_store(cache_ttl=0.2)
    await writer.open()
    await reader.open()
    try:
        await writer.create_user("alice")
        cred = await writer.create_access_key("alice")
        assert await reader.lookup(cred.access_key) == cred
        await writer.set_access_key_active(cred.access_key, False)
        await asyncio.sleep(0.3)
        found = await reader.lookup(cred.access_key)
        assert found is not None and not found.active
    finally:
        await reader.close()
        await writer.close()


async def test_backend_failure_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db"
    path.write_bytes(b"this is not a sqlite database, just some bytes" * 100)
    store = IdentityStore(path)
    with pytest.raises(IdentityUnavailable) as err:
        await store.open()
    assert isinstance(err.value, MetadataError) and isinstance(err.value, IdentityError)
    assert isinstance(err.value.__cause__, sqlite3.DatabaseError)


async def test_postgres_failure_is_unavailable(postgres_cluster: PostgresCluster) -> None:
    """A database that does not exist (or a server that is down) is IdentityUnavailable, quickly."""
    dsn = postgres_cluster.dsn("no_such_database")
    store = PostgresIdentityStore(PgDatabase(dsn, timeout=5.0), secrets=BOX)
    with pytest.raises(IdentityUnavailable) as err:
        await store.open()
    assert isinstance(err.value, MetadataError) and isinstance(err.value, IdentityError)


async def test_postgres_identity_shares_the_metadata_pool(postgres_cluster: PostgresCluster) -> None:
    """One PgDatabase serves both stores; the pool closes when the last of them closes."""
    dsn = postgres_cluster.create_database("shared")
    db = PgDatabase(dsn)
    meta = PostgresMetadataStore(db)
    ids = PostgresIdentityStore(db, secrets=BOX)
    await meta.open()
    await ids.open()
    try:
        await ids.ensure_root(ROOT_KEY, ROOT_SECRET)
        await meta.close()
        assert db.is_open
        assert await ids.lookup(ROOT_KEY) is not None
        assert await ids.schema_version() == len(PG_IDENTITY_MIGRATIONS)
    finally:
        await ids.close()
        postgres_cluster.drop_database(dsn)
    assert not db.is_open


# -- secrets at rest


async def test_secrets_are_sealed_at_rest(ids: IdentityStoreBase) -> None:
    await ids.ensure_root(ROOT_KEY, ROOT_SECRET)
    await ids.create_user("alice")
    generated = await ids.create_access_key("alice")
    imported = await ids.create_access_key("alice", "ALICEIMPORTED", "imported-secret-value")
    assert imported.secret_key == "imported-secret-value"
    stored = dict(await ids._fetch_secrets())
    plain = {
        ROOT_KEY: ROOT_SECRET,
        generated.access_key: generated.secret_key,
        imported.access_key: imported.secret_key,
    }
    assert set(stored) == set(plain)
    for access_key, value in stored.items():
        assert SecretBox.is_sealed(value)
        assert plain[access_key] not in value
    ids._invalidate()
    for access_key, secret in plain.items():
        found = await ids.lookup(access_key)
        assert found is not None and found.secret_key == secret
    listed = {c.access_key: c.secret_key for c in await ids.list_access_keys()}
    assert listed == plain


async def test_plain_secrets_are_sealed_when_the_store_opens(make_store: StoreFactory) -> None:
    """Rows an older release stored in plain text: sealed on open, and still usable."""
    first = make_store()
    await first.open()
    await first.create_user("alice")
    await first._insert_access_key("alice", "LEGACYKEY", "legacy-plain-secret", 0)
    assert dict(await first._fetch_secrets())["LEGACYKEY"] == "legacy-plain-secret"
    found = await first.lookup("LEGACYKEY")  # readable before the migration too
    assert found is not None and found.secret_key == "legacy-plain-secret"
    await first.close()

    second = make_store()
    await second.open()
    try:
        stored = dict(await second._fetch_secrets())["LEGACYKEY"]
        assert SecretBox.is_sealed(stored) and "legacy-plain-secret" not in stored
        found = await second.lookup("LEGACYKEY")
        assert found is not None and found.secret_key == "legacy-plain-secret" and found.user == "alice"
    finally:
        await second.close()


async def test_another_server_key_cannot_open_secrets(make_store: StoreFactory) -> None:
    writer = make_store()
    await writer.open()
    try:
        await writer.create_user("alice")
        cred = await writer.create_access_key("alice")
        await writer.create_user("bob")
        other = await writer.create_access_key("bob")
    finally:
        await writer.close()
    stranger = make_store(secrets=SecretBox(b"some other server key entirely"))
    await stranger.open()
    try:
        with pytest.raises(SecretUnreadable) as err:
            await stranger.lookup(cred.access_key)
        assert isinstance(err.value, IdentityUnavailable)
        assert cred.secret_key not in str(err.value)
    finally:
        await stranger.close()
    # A sealed secret moved onto another key's row does not open either (the key is bound in).
    owner = make_store()
    await owner.open()
    try:
        stored = dict(await owner._fetch_secrets())
        moved = stored[cred.access_key]
        assert await owner._replace_secret(other.access_key, stored[other.access_key], moved)
        owner._invalidate()
        with pytest.raises(SecretUnreadable):
            await owner.lookup(other.access_key)
    finally:
        await owner.close()


def test_server_key_file_is_generated_once(tmp_path: Path) -> None:
    box = SecretBox.load(tmp_path, environ={})
    path = tmp_path / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    again = SecretBox.load(tmp_path, environ={})
    assert again.open(box.seal("s3cr3t-value", "AK1"), "AK1") == "s3cr3t-value"
    assert path.read_text() == (tmp_path / KEY_FILE).read_text()
    sealed = box.seal("s3cr3t-value", "AK1")
    assert sealed != box.seal("s3cr3t-value", "AK1")  # a fresh nonce each time


def test_server_key_from_the_environment(tmp_path: Path) -> None:
    one = SecretBox.load(tmp_path / "a", environ={KEY_ENV: "shared-between-machines"})
    two = SecretBox.load(tmp_path / "b", environ={KEY_ENV: "shared-between-machines"})
    assert two.open(one.seal("value-1234", "AK"), "AK") == "value-1234"
    assert not (tmp_path / "a" / KEY_FILE).exists()
    with pytest.raises(ValueError, match=KEY_ENV):
        SecretBox.load(tmp_path, environ={KEY_ENV: "short"})


async def test_users_from_before_emails_keep_working(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A database made before e-mail addresses existed is migrated on open, on both backends."""
    from s3server.identity import store as sqlite_identity
    from s3server.pgdb import apply_migrations as pg_migrations
    from s3server.sqlitedb import Database, apply_migrations

    db = Database(tmp_path / "identity.db")
    await db.open()
    await db.write(lambda conn: apply_migrations(conn, sqlite_identity.MIGRATIONS[:1]))
    await db.write(
        lambda conn: conn.execute("INSERT INTO users (name, is_admin, created) VALUES ('old', 0, 0)")
    )
    await db.close()
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    dsn = cluster.create_database("identity-old")
    pg = PgDatabase(dsn)
    await pg.open()
    await pg.run(lambda conn: pg_migrations(conn, "identity", PG_IDENTITY_MIGRATIONS[:1]))
    await pg.run(
        lambda conn: conn.execute("INSERT INTO users (name, is_admin, created) VALUES ('old', false, 0)")
    )
    await pg.close()
    for store in (
        IdentityStore(tmp_path / "identity.db", secrets=BOX),
        PostgresIdentityStore(dsn, secrets=BOX),
    ):
        await store.open()
        try:
            old = await store.get_user("old")
            assert old is not None and old.email is None
            assert (await store.set_user_email("old", "old@example.com")).email == "old@example.com"
        finally:
            await store.close()
    cluster.drop_database(dsn)
