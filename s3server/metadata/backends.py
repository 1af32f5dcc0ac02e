"""Which metadata and identity stores `--metadata` selects, and `s3server admin migrate`.

Empty (the default) or "sqlite": embedded SQLite files in the data dir. A postgresql:// (or
postgres://) URL: both stores in that PostgreSQL database, sharing one connection pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s3server.config import Settings
from s3server.identity.base import IdentityStoreBase
from s3server.identity.postgres import PostgresIdentityStore
from s3server.identity.secrets import SecretBox
from s3server.identity.store import IdentityStore
from s3server.metadata.postgres import PostgresMetadataStore
from s3server.metadata.sqlite import SqliteMetadataStore
from s3server.pgdb import PgDatabase, is_postgres_url, redact

__all__ = ["MetadataBackend", "SchemaVersion", "describe", "metadata_stores", "migrate"]

METADATA_FILE = "metadata.db"
IDENTITY_FILE = "identity.db"


@dataclass(frozen=True, slots=True)
class MetadataBackend:
    """The two stores one `--metadata` setting gives (not yet opened)."""

    meta: SqliteMetadataStore | PostgresMetadataStore
    identity: IdentityStoreBase


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    component: str  # "metadata" or "identity"
    location: str  # a file path or a URL without its password
    version: int


def _is_embedded(url: str) -> bool:
    return url in ("", "sqlite")


def describe(settings: Settings) -> str:
    """Where the metadata lives, for logs (never shows a password)."""
    if _is_embedded(settings.metadata):
        return f"SQLite in {settings.data_path}"
    return redact(settings.metadata)


def metadata_stores(settings: Settings) -> MetadataBackend:
    """The stores for `settings.metadata`; raises ValueError for a URL of an unknown kind."""
    url = settings.metadata.strip()
    if _is_embedded(url):
        data = Path(settings.data_path)
        return MetadataBackend(
            SqliteMetadataStore(data / METADATA_FILE),
            IdentityStore(data / IDENTITY_FILE, secrets=SecretBox.load(data)),
        )
    if is_postgres_url(url):
        db = PgDatabase(url)
        return MetadataBackend(
            PostgresMetadataStore(db), PostgresIdentityStore(db, secrets=SecretBox.load(settings.data_path))
        )
    raise ValueError(f"--metadata must be empty, 'sqlite' or a postgresql:// URL, not {redact(url)!r}")


async def migrate(settings: Settings) -> list[SchemaVersion]:
    """Bring both schemas up to date (what every start does too) and report their versions."""
    if _is_embedded(settings.metadata):
        settings.data_path.mkdir(parents=True, exist_ok=True)
    backend = metadata_stores(settings)
    await backend.meta.open()
    try:
        await backend.identity.open()
        try:
            identity_version = await backend.identity.schema_version()
        finally:
            await backend.identity.close()
        meta_version = await backend.meta.schema_version()
    finally:
        await backend.meta.close()
    if _is_embedded(settings.metadata):
        data = Path(settings.data_path)
        meta_at, identity_at = str(data / METADATA_FILE), str(data / IDENTITY_FILE)
    else:
        meta_at = identity_at = redact(settings.metadata)
    return [
        SchemaVersion("metadata", meta_at, meta_version),
        SchemaVersion("identity", identity_at, identity_version),
    ]
