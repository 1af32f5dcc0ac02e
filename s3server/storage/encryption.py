"""Server-side encryption of blobs: AES-256-GCM over fixed 64 KiB plaintext blocks.

Where it sits. The cipher wraps the blob write and read paths, below the S3 handlers and above the
blob store: the store keeps, replicates, checksums (bitrot) and repairs ciphertext exactly as it
keeps any blob and never sees a key. The S3 layer (`s3.sse`) picks the mode from the request's
headers or the bucket's default and hands the saga a data key; the keys that wrap data keys live in
`identity.keys` (a master key derived from the server identity key, and the KeyService behind
SSE-KMS).

Keys. Every object, and every multipart upload, gets a random 256-bit data key. Its metadata row
(the `encryption` record of objects, object_versions and uploads) keeps the data key wrapped with
AES-GCM under a key-encryption key chosen by the mode:
  SSE-S3   a master key derived (HKDF) from the server identity key: no second root secret;
  SSE-KMS  a key of the KeyService (built in: keys in the metadata database, wrapped under the
           master key), the request's encryption context bound as associated data;
  SSE-C    the customer's key itself, never stored: the row keeps only a salt and an HMAC of the
           key, so a wrong key is told apart (403) before anything is decrypted.
Each blob is sealed under its own blob key, HKDF(data key, "s3server sse block v1 " ‖ blob id), so
the parts of one upload (one data key, many blobs) never share a (key, nonce) pair.

Blocks. Plaintext is cut into 64 KiB blocks; block i is stored at offset i * (64 KiB + 16) as its
AES-GCM ciphertext and 16-byte tag. The 96-bit nonce is the block number (64 bits, big-endian), a
final-block flag byte and three zero bytes; the same bytes are the associated data. Only the last
block is sealed final and an empty blob is one final empty block, so a block moved, dropped, or a
blob cut short at a block boundary fails to open: truncation is caught, not only bit flips.

Sizes. Metadata keeps plaintext sizes (ObjectRecord.size and Segment.size: Content-Length,
listings, GetObjectAttributes' ObjectSize); a blob holds stored_size(n) = n + 16 * blocks(n) bytes.

Ranges. Plaintext [start, end) needs blocks start // 64 KiB … (end - 1) // 64 KiB; only their
ciphertext is read and opened, then trimmed to the range.

Memory. A writer holds at most one block beyond the piece it was handed; a reader one storage
piece plus one block. Sealing runs where the saga already writes (its worker thread for large
bodies); opening runs as the blocks stream out.

ETags. SSE-S3 keeps the MD5 of the plaintext, as AWS does; SSE-C and SSE-KMS get an opaque MD5 of
the data key and the plaintext MD5 (stable, but not the plaintext's MD5), as AWS's are not.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s3server.storage.base import BlobStore, BlobUnreadable, BlobWriter

__all__ = [
    "BLOCK",
    "TAG",
    "BlobCipher",
    "EncryptingWriter",
    "blocks",
    "opaque_etag",
    "read_plain",
    "read_plain_small",
    "stored_size",
]

BLOCK = 64 * 1024
TAG = 16
_STRIDE = BLOCK + TAG
_INFO = b"s3server sse block v1 "


def blocks(size: int) -> int:
    """How many blocks a plaintext of `size` bytes is sealed in (an empty one is one empty block)."""
    return max(1, -(-size // BLOCK))


def stored_size(size: int) -> int:
    """The blob's size for a plaintext of `size` bytes."""
    return size + TAG * blocks(size)


def opaque_etag(data_key: bytes, md5_hex: str) -> str:
    """The ETag of an SSE-C or SSE-KMS object: stable, yet not the plaintext's MD5."""
    return hashlib.md5(data_key + bytes.fromhex(md5_hex), usedforsecurity=False).hexdigest()


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(8, "big") + (b"\x01" if final else b"\x00") + b"\x00\x00\x00"


class BlobCipher:
    """Seals and opens the blocks of one blob under its blob key."""

    __slots__ = ("_aead", "blob_id")

    def __init__(self, data_key: bytes, blob_id: str) -> None:
        blob_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + blob_id.encode()
        ).derive(data_key)
        self._aead = AESGCM(blob_key)
        self.blob_id = blob_id

    def seal(self, index: int, data: bytes | bytearray | memoryview, final: bool) -> bytes:
        nonce = _nonce(index, final)
        return self._aead.encrypt(nonce, data, nonce)

    def open(self, index: int, data: bytes | bytearray | memoryview, final: bool) -> bytes:
        nonce = _nonce(index, final)
        try:
            return self._aead.decrypt(nonce, data, nonce)
        except InvalidTag:
            raise BlobUnreadable(f"blob {self.blob_id}: block {index} does not authenticate") from None

    def open_into(
        self, index: int, data: bytes | bytearray | memoryview, final: bool, out: bytearray | memoryview
    ) -> None:
        """open() into `out` (exactly len(data) - TAG bytes). After a failure `out` holds
        unauthenticated bytes: the caller drops it, never sends it."""
        nonce = _nonce(index, final)
        try:
            self._aead.decrypt_into(nonce, data, nonce, out)
        except InvalidTag:
            raise BlobUnreadable(f"blob {self.blob_id}: block {index} does not authenticate") from None


class EncryptingWriter:
    """A BlobWriter that seals what it is given into blocks before the wrapped writer stores them.

    `size` is the plaintext size (what the object's record keeps); the blob holds stored_size(size).
    """

    def __init__(self, inner: BlobWriter, data_key: bytes) -> None:
        self._inner = inner
        self._cipher = BlobCipher(data_key, inner.blob_id)
        self._buf = bytearray()
        self._index = 0
        self._sealed = False
        self.blob_id = inner.blob_id
        self.size = 0

    def _seal_blocks(self, data: bytes | bytearray | memoryview, count: int, last_final: bool) -> bytearray:
        out = bytearray()
        view = memoryview(data)
        for i in range(count):
            final = last_final and i == count - 1
            out += self._cipher.seal(self._index, view[i * BLOCK : (i + 1) * BLOCK], final)
            self._index += 1
        view.release()
        return out

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        self._buf += data
        if len(self._buf) <= BLOCK:
            return
        # Keep the last block back, full or not: only seal() knows it is the final one.
        count = (len(self._buf) - 1) // BLOCK
        out = self._seal_blocks(self._buf, count, last_final=False)
        del self._buf[: count * BLOCK]
        self._inner.write(out)

    def write_whole(self, data: bytes | bytearray | memoryview) -> None:
        self.size = len(data)
        self._inner.write_whole(self._seal_blocks(data, blocks(len(data)), last_final=True))
        self._sealed = True

    def seal(self) -> None:
        if not self._sealed:
            self._inner.write(self._seal_blocks(self._buf, 1, last_final=True))
            self._buf = bytearray()
            self._sealed = True
        self._inner.seal()

    async def commit(self, md5_hex: str | None = None) -> None:
        # The caller's MD5 is of the plaintext; the index describes the stored (cipher) bytes.
        await self._inner.commit(None)

    def abort(self) -> None:
        self._inner.abort()


def _span(size: int, offset: int, length: int) -> tuple[int, int, int]:
    """(first block, stored offset, stored length) of the blocks holding plaintext [offset, +length)."""
    first = offset // BLOCK
    last = (offset + length - 1) // BLOCK
    start = first * _STRIDE
    return first, start, min(stored_size(size), (last + 1) * _STRIDE) - start


def _stored_len(size: int, index: int) -> int:
    return min(BLOCK, size - index * BLOCK) + TAG


class _Opener:
    """Turns the consecutive storage pieces of one read into plaintext: called once per piece, in
    order (on the store's worker thread, beside the disk read), it opens every block the piece
    completes. Blocks are opened straight from the piece into one output buffer; only a block cut
    by a piece boundary is copied, once, to join its halves."""

    __slots__ = ("_cipher", "_cut", "_last", "_size", "index")

    def __init__(self, cipher: BlobCipher, size: int, index: int) -> None:
        self._cipher = cipher
        self._size = size
        self._last = blocks(size) - 1
        self._cut = bytearray()  # the head of a block the previous piece ended inside
        self.index = index

    @property
    def pending(self) -> bool:
        return bool(self._cut)

    def __call__(self, view: memoryview) -> bytearray:
        size, index = self._size, self.index
        sealed: list[bytearray | memoryview] = []
        pos = 0
        if self._cut:
            pos = _stored_len(size, index) - len(self._cut)
            self._cut += view[:pos]
            if len(self._cut) < _stored_len(size, index):
                return bytearray()
            sealed.append(self._cut)
            self._cut = bytearray()
        while pos < len(view):
            need = _stored_len(size, index + len(sealed))
            if len(view) - pos < need:
                self._cut = bytearray(view[pos:])
                break
            sealed.append(view[pos : pos + need])
            pos += need
        out = bytearray(sum(len(s) for s in sealed) - TAG * len(sealed))
        with memoryview(out) as into:
            at = 0
            for block in sealed:
                n = len(block) - TAG
                self._cipher.open_into(index, block, index == self._last, into[at : at + n])
                at += n
                index += 1
        self.index = index
        return out


async def read_plain(
    blobs: BlobStore, data_key: bytes, blob_id: str, size: int, offset: int, length: int
) -> AsyncIterator[bytes]:
    """Stream plaintext [offset, offset+length) of an encrypted blob whose plaintext is `size` bytes.

    The store opens each piece where it read it (its worker thread, which the cipher runs on
    without the GIL), while the event loop sends the piece before: one plaintext piece per storage
    piece, a megabyte, not a 64 KiB block.
    """
    if length <= 0:
        return
    index, start, stored = _span(size, offset, length)
    skip, remaining = offset - index * BLOCK, length
    opener = _Opener(BlobCipher(data_key, blob_id), size, index)
    async for out in blobs.read(blob_id, start, stored, then=opener):
        if not out:
            continue
        if skip or len(out) - skip > remaining:
            with memoryview(out) as view:
                plain = bytes(view[skip : skip + remaining])
            skip = 0
            remaining -= len(plain)
            yield plain
        else:
            remaining -= len(out)
            yield out
    if remaining > 0 or opener.pending:
        raise BlobUnreadable(f"blob {blob_id}: shorter than its record")


async def read_plain_small(
    blobs: BlobStore, data_key: bytes, blob_id: str, size: int, offset: int, length: int
) -> bytes:
    """read_plain in one storage call, for short ranges."""
    if length <= 0:
        return b""
    index, start, stored = _span(size, offset, length)
    opener = _Opener(BlobCipher(data_key, blob_id), size, index)
    out = opener(memoryview(await blobs.read_small(blob_id, start, stored)))
    if opener.pending:
        raise BlobUnreadable(f"blob {blob_id}: shorter than its record")
    skip = offset - index * BLOCK
    return bytes(out[skip : skip + length])
