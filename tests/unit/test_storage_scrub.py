"""`s3server scrub`: checks every blob, repairs from good copies, reports what it could not save."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from s3server.cli import main
from s3server.config import resolve
from s3server.faults import corrupt_file
from s3server.storage import build_blob_store
from s3server.storage.index import BLOCK_SIZE


def _write_blobs(settings_env: dict[str, str], blobs: list[bytes]) -> tuple[list[str], dict[str, list[str]]]:
    """Write blobs with a store of these settings; returns their ids and replica paths."""

    async def run() -> tuple[list[str], dict[str, list[str]]]:
        store = build_blob_store(resolve(None, settings_env))
        await store.open()
        try:
            ids: list[str] = []
            for data in blobs:
                writer = store.new_writer()
                writer.write(data)
                writer.seal()
                await writer.commit(hashlib.md5(data).hexdigest())
                ids.append(writer.blob_id)
            paths = {}
            for blob_id in ids:
                info = await store.info(blob_id)
                paths[blob_id] = [store.by_id[d].path_of(blob_id) for d in info.replicas]
            return ids, paths
        finally:
            await store.close()

    return asyncio.run(run())


@pytest.fixture
def layout(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    drives = [str(tmp_path / f"drive{i}") for i in range(3)]
    args = ["--data-dir", str(tmp_path / "data")]
    for drive in drives:
        args += ["--drive", drive]
    env = {"S3SERVER_DATA_DIR": str(tmp_path / "data"), "S3SERVER_DRIVES": ",".join(drives)}
    return args, env


def test_scrub_repairs_and_reports(
    layout: tuple[list[str], dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    args, env = layout
    data = [os.urandom(2 * BLOCK_SIZE + 1), os.urandom(100), os.urandom(BLOCK_SIZE), b""]
    ids, paths = _write_blobs(env, data)
    corrupt_file(paths[ids[0]][1], BLOCK_SIZE + 3)  # one bad block in one replica
    os.unlink(paths[ids[1]][0])  # one replica missing
    for path in paths[ids[2]]:  # every replica bad in the same block
        corrupt_file(path, 10)

    assert main(["scrub", *args, "--no-repair"]) == 1
    out = capsys.readouterr().out
    assert "4 blobs checked" in out and "1 ok, 0 repaired, 2 degraded, 1 unrecoverable" in out
    assert os.path.getsize(paths[ids[0]][1]) == len(data[0])  # untouched
    assert not os.path.exists(paths[ids[1]][0])

    assert main(["scrub", *args, "--progress"]) == 1
    captured = capsys.readouterr()
    assert "1 ok, 2 repaired, 0 degraded, 1 unrecoverable" in captured.out
    assert f"unrecoverable: blob {ids[2]}" in captured.out
    assert "scrub" in captured.err  # the progress bar
    for blob_id, content in zip(ids[:2], data[:2], strict=True):
        for path in paths[blob_id]:
            assert Path(path).read_bytes() == content

    for path in paths[ids[2]]:  # the lost blob's copies are left as they were, for forensics
        assert os.path.exists(path)
    assert main(["scrub", *args]) == 1
    assert "3 ok, 0 repaired, 0 degraded, 1 unrecoverable" in capsys.readouterr().out


def test_scrub_adds_replicas_on_a_new_drive(
    tmp_path: Path, layout: tuple[list[str], dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    args, env = layout
    env = {**env, "S3SERVER_REPLICAS": "2"}
    ids, _ = _write_blobs(env, [os.urandom(5000) for _ in range(10)])
    # Raising the replica count: scrub copies each blob to its next drive in rendezvous order.
    assert main(["scrub", *args, "--replicas", "3"]) == 0
    assert "10 repaired" in capsys.readouterr().out
    for blob_id in ids:
        assert sum((tmp_path / f"drive{i}").rglob(blob_id).__next__() is not None for i in range(3)) == 3
    assert main(["scrub", *args, "--replicas", "3"]) == 0
    assert "10 ok" in capsys.readouterr().out


def test_scrub_of_an_empty_store(
    layout: tuple[list[str], dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    args, _ = layout
    assert main(["scrub", *args]) == 0
    assert "scrub: 0 blobs checked" in capsys.readouterr().out
