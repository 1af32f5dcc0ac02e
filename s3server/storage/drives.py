"""Drives: directories that hold replica files, each known by a stable id, and rendezvous placement.

A drive's layout: `drive-id` (its id, written once), `blobs/ab/cd/<blob id>` for committed replicas
(each exactly the blob's bytes, so `cp` recovers data) and `tmp/` for files being written. Placement
ranks drives by a hash of (drive id, blob id), highest first (rendezvous hashing): adding or losing a
drive only moves the blobs that ranked it among their first N, and the same function can later place
across storage nodes.

The I/O methods of `Drive` are the only place replica files are touched, so fault injection can
override them in a subclass without costing the normal path anything.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import xxhash

from s3server.storage.groupsync import GroupSync, flushers_for

T = TypeVar("T")

DRIVE_ID_FILE = "drive-id"
BLOBS_DIR = "blobs"
TMP_DIR = "tmp"
ONLINE_CHECK_SECONDS = 1.0


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_blob_id(name: str) -> bool:
    """Blob ids are 32 lower-case hex digits (a UUID4 without dashes)."""
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)


class Drive:
    """One directory of replicas. Thread-safe: every method is a few system calls."""

    def __init__(self, drive_id: str, path: Path, *, fsync: bool = True) -> None:
        self.drive_id = drive_id
        self.path = Path(path)
        self.fsync = fsync
        self.blobs_dir = str(self.path / BLOBS_DIR)
        self.tmp_dir = str(self.path / TMP_DIR)
        self.marker = str(self.path / DRIVE_ID_FILE)
        self._known_dirs: set[str] = set()
        self.flusher: GroupSync | None = None  # shared by the drives of one file system (open_drives)
        self._online = False
        self._online_checked = -ONLINE_CHECK_SECONDS

    def __repr__(self) -> str:
        return f"Drive({self.drive_id[:8]}, {str(self.path)!r})"

    # -- layout

    def path_of(self, blob_id: str) -> str:
        return os.path.join(self.blobs_dir, blob_id[0:2], blob_id[2:4], blob_id)

    def new_tmp_path(self, blob_id: str) -> str:
        return os.path.join(self.tmp_dir, f"{blob_id}.{secrets.token_hex(4)}")

    @property
    def online(self) -> bool:
        """The drive is mounted and initialised (its id file is there); a removed or unmounted
        directory is not written to until it is initialised again. Checked at most once a second,
        so placement costs no system call per write."""
        now = time.monotonic()
        if now - self._online_checked > ONLINE_CHECK_SECONDS:
            self._online = os.path.exists(self.marker)
            self._online_checked = now
        return self._online

    def _ensure_dir(self, path: str, durable: bool = True) -> None:
        """Create a directory (and missing parents), once per process; `durable=False` leaves the
        new entries to the next group flush."""
        if path in self._known_dirs:
            return
        if not os.path.isdir(path):
            parent = os.path.dirname(path)
            self._ensure_dir(parent, durable)
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
            if self.fsync and durable:
                fsync_dir(parent)
        self._known_dirs.add(path)

    # -- I/O (overridden by fault injection)

    def create(self, path: str) -> int:
        """Open a new file for writing (a temporary file, or a small blob's final place)."""
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:
            parent = os.path.dirname(path)
            self._known_dirs.discard(parent)
            self._ensure_dir(parent, durable=False)
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def final_path(self, blob_id: str) -> str:
        """The blob's place, its directory created if needed (durable at the next flush)."""
        path = self.path_of(blob_id)
        self._ensure_dir(os.path.dirname(path), durable=False)
        return path

    def write(self, fd: int, data: memoryview) -> None:
        while data:
            written = os.write(fd, data)
            data = data[written:]

    def sync(self, fd: int) -> None:
        """fsync one file now (repairs and probes; new blobs use seal() and a group flush)."""
        if self.fsync:
            os.fsync(fd)

    def seal(self, fd: int) -> None:
        """Finish writing a new blob's temporary file; its bytes become durable at the next flush()."""
        os.close(fd)

    def publish(self, tmp: str, blob_id: str, durable: bool = True) -> str:
        """Move a finished temporary file to the blob's place. With `durable` the file must have been
        synced and the move is fsync'd before returning; without, both wait for the next flush()."""
        final = self.path_of(blob_id)
        parent = os.path.dirname(final)
        self._ensure_dir(parent, durable)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            if not os.path.exists(tmp):
                raise
            self._known_dirs.clear()  # the tree was removed under us; build it again
            self._ensure_dir(parent, durable)
            os.replace(tmp, final)
        if self.fsync and durable:
            fsync_dir(parent)
        return final

    async def flush(self) -> None:
        """Make every file and directory entry written on this drive so far durable (group commit)."""
        if self.fsync and self.flusher is not None:
            await self.flusher.flush()

    def open_read(self, blob_id: str) -> int:
        return os.open(self.path_of(blob_id), os.O_RDONLY)

    def pread(self, fd: int, length: int, offset: int) -> bytes:
        return os.pread(fd, length, offset)

    def pread_into(self, fd: int, buf: memoryview, offset: int) -> int:
        """pread into the caller's buffer: a reader that consumes each block at once reuses one."""
        return os.preadv(fd, [buf], offset)

    def unlink(self, blob_id: str) -> None:
        """Remove the replica; a missing one is not an error."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_of(blob_id))

    # -- set-up

    def prepare_top_dirs(self) -> None:
        """Create the 256 first-level directories up front (durably), so a write into a new
        second-level directory pays one directory fsync, not two."""
        made = False
        for n in range(256):
            path = os.path.join(self.blobs_dir, f"{n:02x}")
            if not os.path.isdir(path):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path)
                made = True
            self._known_dirs.add(path)
        self._known_dirs.add(self.blobs_dir)
        if made and self.fsync:
            fsync_dir(self.blobs_dir)

    def read_id(self) -> str | None:
        try:
            text = Path(self.marker).read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def initialise(self, drive_id: str) -> None:
        """Create the layout and write the id file (atomically, durably)."""
        os.makedirs(self.path, exist_ok=True)
        for sub in (self.blobs_dir, self.tmp_dir):
            os.makedirs(sub, exist_ok=True)
        tmp = os.path.join(self.tmp_dir, f"drive-id.{secrets.token_hex(4)}")
        with open(tmp, "w") as fh:
            fh.write(drive_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() fails if another process initialised the drive meanwhile: its id wins.
            os.link(tmp, self.marker)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        fsync_dir(str(self.path))
        self.drive_id = self.read_id() or drive_id
        self._known_dirs.clear()
        self._online_checked = -ONLINE_CHECK_SECONDS


def open_drives(
    paths: Sequence[Path], known: dict[str, str], *, fsync: bool = True, factory: type[Drive] = Drive
) -> list[Drive]:
    """Drives for the configured paths, initialising new or emptied ones.

    `known` maps a drive path to the id the storage index remembers for it, so a drive whose
    directory was lost (a replaced disk) comes back under its old id and scrub can refill it.
    """
    drives: list[Drive] = []
    seen: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw).absolute()
        drive = factory("", path, fsync=fsync)
        drive_id = drive.read_id()
        if drive_id is None:
            drive.initialise(known.get(str(path)) or uuid.uuid4().hex)
        else:
            drive.drive_id = drive_id
            os.makedirs(drive.blobs_dir, exist_ok=True)
            os.makedirs(drive.tmp_dir, exist_ok=True)
        drive.prepare_top_dirs()
        if drive.drive_id in seen:
            raise ValueError(
                f"drives {seen[drive.drive_id]} and {path} have the same id (one copied from the other?)"
            )
        seen[drive.drive_id] = path
        drives.append(drive)
    flushers = flushers_for([str(d.path) for d in drives])
    for drive in drives:
        drive.flusher = flushers[str(drive.path)]
    return drives


def rank(blob_id: str, drives: Iterable[Drive]) -> list[Drive]:
    """Every drive, in the blob's rendezvous order (highest score first)."""
    return rendezvous(blob_id, drives, lambda d: d.drive_id)


def rendezvous(blob_id: str, items: Iterable[T], name: Callable[[T], str]) -> list[T]:
    """Items (drives, or storage nodes) in the blob's rendezvous order, by a hash of (name, blob id)."""
    key = blob_id.encode()
    return sorted(items, key=lambda i: xxhash.xxh3_64_intdigest(name(i).encode() + b"/" + key), reverse=True)
