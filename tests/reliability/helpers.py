"""One server's world on disk (data dir, drives, metadata backend) that tests can start, kill and
restart, and an audit comparing the replica files, the storage index and what metadata references."""

from __future__ import annotations

import argparse
import hashlib
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from s3server.config import Settings, add_arguments, resolve
from s3server.metadata.backends import metadata_stores
from tests.support.server import RunningServer, start_server

BUCKET = "reliable"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@dataclass
class StorageSetup:
    """A data dir, its drives and its metadata backend, outliving the server processes that use them."""

    root: Path
    backend_args: list[str]
    drive_count: int = 3
    replicas: int = 3
    server: RunningServer | None = None
    servers: list[RunningServer] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def drives(self) -> list[Path]:
        return [self.root / f"drive{i}" for i in range(self.drive_count)]

    @property
    def storage_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir), "--replicas", str(self.replicas)]
        for drive in self.drives:
            args += ["--drive", str(drive)]
        return args

    def start(self, *extra: str) -> RunningServer:
        args = [*self.storage_args, *self.backend_args, "--enable-fault-injection", *extra]
        self.server = start_server(self.data_dir, args=args, env={"S3SERVER_ACCESS_LOG": "false"})
        self.servers.append(self.server)
        return self.server

    def kill(self) -> None:
        assert self.server is not None
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def scrub(self, *extra: str) -> tuple[int, str]:
        """`s3server scrub` against this data dir and drives (the server may be running)."""
        result = subprocess.run(
            [sys.executable, "-m", "s3server", "scrub", *self.storage_args, *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result.returncode, result.stdout + result.stderr

    # -- what is on disk

    def drive_ids(self) -> dict[Path, str]:
        return {d: (d / "drive-id").read_text().strip() for d in self.drives if (d / "drive-id").exists()}

    def replica_files(self) -> dict[str, set[str]]:
        """blob id -> ids of the drives holding a replica file."""
        found: dict[str, set[str]] = {}
        for drive, drive_id in self.drive_ids().items():
            for path in (drive / "blobs").rglob("*"):
                if path.is_file():
                    found.setdefault(path.name, set()).add(drive_id)
        return found

    def temp_files(self) -> list[Path]:
        return [p for d in self.drives for p in (d / "tmp").glob("*") if p.is_file()]

    def index_rows(self) -> dict[str, tuple[set[str], str]]:
        """blob id -> (replica drive ids, state), read straight from the index database."""
        with sqlite3.connect(self.data_dir / "storage-index.db") as conn:
            rows = conn.execute("SELECT blob_id, replicas, state FROM blobs").fetchall()
        return {b: (set(r.split(",")), state) for b, r, state in rows}

    def replica_paths(self, blob_id: str) -> list[Path]:
        return [
            p for d in self.drives for p in [d / "blobs" / blob_id[:2] / blob_id[2:4] / blob_id] if p.exists()
        ]

    def settings(self) -> Settings:
        """The Settings the servers of this setup run with."""
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        return resolve(parser.parse_args([*self.storage_args, *self.backend_args]), {})

    async def referenced(self, blob_ids: set[str]) -> set[str]:
        """Ask the metadata backend itself which blobs it references."""
        meta = metadata_stores(self.settings()).meta
        await meta.open()
        try:
            return await meta.referenced_blobs(sorted(blob_ids))
        finally:
            await meta.close()

    async def audit(self) -> dict[str, tuple[set[str], str]]:
        """Nothing orphaned, nothing missing: every replica file is listed by a committed index row,
        every row's replicas exist, and the rows are exactly the blobs metadata references."""
        files = self.replica_files()
        rows = self.index_rows()
        referenced = await self.referenced(set(files) | set(rows))
        assert self.temp_files() == []
        assert {b: s for b, (_, s) in rows.items() if s != "committed"} == {}
        assert set(rows) - referenced == set(), "indexed blobs nothing references"
        assert referenced - set(rows) == set(), "referenced blobs missing from the index"
        assert set(files) == set(rows), "replica files without a row, or rows without files"
        for blob_id, (replicas, _) in rows.items():
            assert files[blob_id] == replicas, (
                f"blob {blob_id}: files on {files[blob_id]}, index says {replicas}"
            )
        return rows
