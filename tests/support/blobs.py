"""What a live server keeps on disk: the blob files of its storage (to prove nothing is left behind)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from tests.support.server import RunningServer

_BLOB_ID = re.compile(r"^[0-9a-f]{32}$")


def stored_blobs(server: RunningServer) -> set[str]:
    """Ids of the blobs with a committed replica file (under some `blobs/` directory of the data dir),
    plus `tmp:<name>` for any file still in a `tmp/` directory of the storage."""
    found: set[str] = set()
    for path in server.data_dir.rglob("*"):
        if not path.is_file():
            continue
        parents = {p.name for p in path.parents}
        if "blobs" in parents and _BLOB_ID.match(path.name):
            found.add(path.name)
        elif path.parent.name == "tmp" and "storage" in parents:
            found.add(f"tmp:{path.name}")
    return found


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `check` until it holds (for work a server does in the background, like the reaper)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
