"""`s3server admin migrate` on both backends, and what a PostgreSQL schema from the future does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from s3server.identity.postgres import MIGRATIONS as PG_IDENTITY_MIGRATIONS
from s3server.metadata.postgres import MIGRATIONS as PG_METADATA_MIGRATIONS
from s3server.metadata.sqlite import MIGRATIONS as SQLITE_METADATA_MIGRATIONS
from tests.support.postgres import PostgresCluster
from tests.support.server import start_server


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "s3server", "admin", "migrate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_postgres(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.create_database("migrate")
    for _ in range(2):  # the second run finds nothing to do
        result = migrate("--metadata", url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            f"metadata schema: version {len(PG_METADATA_MIGRATIONS)} ({url})",
            f"identity schema: version {len(PG_IDENTITY_MIGRATIONS)} ({url})",
        ]
    tables = postgres_cluster.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
        url.split("?")[0].rsplit("/", 1)[1],
    )
    assert tables.strip().split(",") == [
        "access_keys", "bucket_counters", "bucket_lifecycle", "buckets", "kms_key_versions", "kms_keys",
        "leases", "object_blobs", "object_versions", "objects", "parts", "s3_rate_buckets",
        "schema_versions", "storage_nodes", "uploads", "users",
    ]  # fmt: skip


def test_migrate_sqlite(tmp_path: Path) -> None:
    result = migrate("--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"metadata schema: version {len(SQLITE_METADATA_MIGRATIONS)} ({tmp_path / 'data' / 'metadata.db'})"
    )
    assert (tmp_path / "data" / "identity.db").exists()


def test_password_never_printed(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.dsn("nowhere").replace("postgres@", "postgres:hunter2@")
    result = migrate("--metadata", url)
    assert result.returncode == 1
    assert "hunter2" not in result.stdout + result.stderr
    assert "postgres:***@" in result.stderr


def test_unknown_metadata_url() -> None:
    result = migrate("--metadata", "mysql://somewhere/db")
    assert result.returncode == 2 and "postgresql://" in result.stderr


def test_a_newer_schema_is_refused(postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    url = postgres_cluster.create_database("future")
    assert migrate("--metadata", url).returncode == 0
    name = url.split("?")[0].rsplit("/", 1)[1]
    postgres_cluster.psql("UPDATE schema_versions SET version = 999 WHERE component = 'metadata'", name)
    result = migrate("--metadata", url)
    assert result.returncode == 1 and "999" in result.stderr
    with pytest.raises(RuntimeError, match="999"):
        start_server(tmp_path / "data", args=["--metadata", url])
