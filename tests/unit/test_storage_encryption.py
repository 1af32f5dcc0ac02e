"""The blob cipher: AES-GCM blocks over a real replicated store; sizes, ranges, tampering, truncation."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from s3server.storage.base import BlobUnreadable
from s3server.storage.encryption import (
    BLOCK,
    TAG,
    BlobCipher,
    EncryptingWriter,
    blocks,
    opaque_etag,
    read_plain,
    read_plain_small,
    stored_size,
)
from s3server.storage.replicated import ReplicatedBlobStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ReplicatedBlobStore]:
    blobs = ReplicatedBlobStore(tmp_path / "index.db", [tmp_path / f"drive{i}" for i in range(2)], 2)
    await blobs.open()
    yield blobs
    await blobs.close()


async def put(store: ReplicatedBlobStore, key: bytes, data: bytes, piece: int) -> EncryptingWriter:
    writer = EncryptingWriter(store.new_writer(), key)

    def run() -> None:
        if piece == 0:
            writer.write_whole(data)
        else:
            for i in range(0, len(data), piece):
                writer.write(data[i : i + piece])
        writer.seal()

    await asyncio.to_thread(run)
    await writer.commit("ignored")
    return writer


async def plain(
    store: ReplicatedBlobStore, key: bytes, blob_id: str, size: int, offset: int, length: int
) -> bytes:
    return b"".join([p async for p in read_plain(store, key, blob_id, size, offset, length)])


def replica_files(store: ReplicatedBlobStore, blob_id: str) -> list[Path]:
    return [Path(d.path_of(blob_id)) for d in store.drives if os.path.exists(d.path_of(blob_id))]


def test_sizes() -> None:
    assert [blocks(n) for n in (0, 1, BLOCK, BLOCK + 1)] == [1, 1, 1, 2]
    assert stored_size(0) == TAG
    assert stored_size(BLOCK) == BLOCK + TAG
    assert stored_size(2 * BLOCK + 5) == 2 * BLOCK + 5 + 3 * TAG


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 5 * BLOCK + 777])
@pytest.mark.parametrize("piece", [0, 1000, BLOCK, 3 * BLOCK + 1], ids=["whole", "small", "block", "big"])
async def test_round_trip_and_ciphertext_on_disk(store: ReplicatedBlobStore, size: int, piece: int) -> None:
    key = secrets.token_bytes(32)
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    writer = await put(store, key, data, piece)
    assert writer.size == size
    info = await store.info(writer.blob_id)
    assert info.size == stored_size(size)
    assert await plain(store, key, writer.blob_id, size, 0, size) == data
    if size >= 64:
        for path in replica_files(store, writer.blob_id):
            assert data[:64] not in path.read_bytes()


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, 1), (BLOCK - 1, 2), (BLOCK, BLOCK), (10, 3 * BLOCK), (3 * BLOCK + 100, 677), (0, 4 * BLOCK + 777)],
)
async def test_ranges_read_only_what_they_need(store: ReplicatedBlobStore, offset: int, length: int) -> None:
    key = secrets.token_bytes(32)
    data = os.urandom(4 * BLOCK + 777)
    writer = await put(store, key, data, BLOCK + 3)
    want = data[offset : offset + length]
    assert await plain(store, key, writer.blob_id, len(data), offset, length) == want
    assert await read_plain_small(store, key, writer.blob_id, len(data), offset, length) == want


async def test_wrong_key_and_tampering_never_yield_bytes(store: ReplicatedBlobStore) -> None:
    key = secrets.token_bytes(32)
    data = os.urandom(2 * BLOCK + 10)
    writer = await put(store, key, data, 0)
    with pytest.raises(BlobUnreadable):
        await plain(store, secrets.token_bytes(32), writer.blob_id, len(data), 0, len(data))
    # Claiming fewer bytes than stored makes a non-final block look final: it does not open.
    with pytest.raises(BlobUnreadable):
        await plain(store, key, writer.blob_id, 2 * BLOCK, 0, 2 * BLOCK)


def test_blocks_are_bound_to_position_finality_and_blob() -> None:
    key = secrets.token_bytes(32)
    cipher = BlobCipher(key, "a" * 32)
    sealed = cipher.seal(3, b"hello", final=False)
    assert cipher.open(3, sealed, final=False) == b"hello"
    for index, final, other in ((4, False, cipher), (3, True, cipher), (3, False, BlobCipher(key, "b" * 32))):
        with pytest.raises(BlobUnreadable):
            other.open(index, sealed, final)


def test_opaque_etag_is_not_the_plaintext_md5() -> None:
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    key = secrets.token_bytes(32)
    assert opaque_etag(key, md5) == opaque_etag(key, md5) != md5
    assert len(opaque_etag(key, md5)) == 32


# -- objects over several storage blocks: a cipher block cut by the 1 MiB storage piece boundary

MiB = 1024 * 1024
LARGE = 3 * MiB + 12345


@pytest.fixture
async def large(store: ReplicatedBlobStore) -> tuple[bytes, bytes, str]:
    key = secrets.token_bytes(32)
    data = os.urandom(LARGE)
    writer = await put(store, key, data, MiB)
    return key, data, writer.blob_id


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, LARGE),
        (16 * BLOCK - 7, 20),  # the block cut by the first storage boundary, and the one after it
        (15 * BLOCK, 2 * BLOCK),
        (BLOCK + 1, 2 * MiB),
        (MiB - 1, MiB + 2),
        (LARGE - 1, 1),
        (3 * MiB, 12345),
    ],
)
async def test_large_ranges_across_storage_pieces(
    store: ReplicatedBlobStore, large: tuple[bytes, bytes, str], offset: int, length: int
) -> None:
    key, data, blob_id = large
    pieces = [p async for p in read_plain(store, key, blob_id, LARGE, offset, length)]
    assert b"".join(pieces) == data[offset : offset + length]
    # Pieces follow the storage blocks (a megabyte each), not the 64 KiB cipher blocks.
    assert len(pieces) <= -(-stored_size(LARGE) // MiB)


async def test_a_tampered_block_past_the_first_piece_fails_over_or_fails(
    store: ReplicatedBlobStore, large: tuple[bytes, bytes, str]
) -> None:
    key, data, blob_id = large
    files = replica_files(store, blob_id)
    assert len(files) == 2
    spot = MiB + 5  # inside the cipher block cut by the first storage boundary
    with open(files[0], "r+b") as fh:
        fh.seek(spot)
        byte = fh.read(1)
        fh.seek(spot)
        fh.write(bytes([byte[0] ^ 1]))
    assert await plain(store, key, blob_id, LARGE, 0, LARGE) == data  # the other replica serves
    with open(files[1], "r+b") as fh:
        fh.seek(spot)
        fh.write(bytes([byte[0] ^ 1]))
    got = bytearray()
    with pytest.raises(BlobUnreadable):
        async for piece in read_plain(store, key, blob_id, LARGE, 0, LARGE):
            got += piece
    assert len(got) < MiB and bytes(got) == data[: len(got)]  # nothing after the damage, nothing wrong


async def test_an_abandoned_read_closes_its_files(
    store: ReplicatedBlobStore, large: tuple[bytes, bytes, str]
) -> None:
    key, _, blob_id = large
    before = len(os.listdir("/proc/self/fd"))
    for opened in (read_plain(store, key, blob_id, LARGE, 0, LARGE), store.read(blob_id, 0, LARGE)):
        stream = aiter(opened)
        assert len(await anext(stream)) > 0
        await stream.aclose()  # type: ignore[attr-defined]
    await asyncio.sleep(0.2)  # a fetch still running when the stream was closed closes them as it ends
    assert len(os.listdir("/proc/self/fd")) == before
