"""What the admin commands that work on the metadata database itself share (`admin nodes`,
`admin kms`): opening the store for one action, and the exit status of each kind of failure
(0 done, 1 refused or the database unreachable, 2 a usage error)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from s3server.config import Settings
from s3server.metadata.backends import metadata_stores
from s3server.metadata.base import MetadataStore
from s3server.metadata.errors import MetadataError

__all__ = ["run_on_store"]


async def _on_store(settings: Settings, action: Callable[[MetadataStore], Awaitable[int]]) -> int:
    if settings.metadata.strip() in ("", "sqlite"):
        settings.data_path.mkdir(parents=True, exist_ok=True)
    store = metadata_stores(settings).meta
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


def run_on_store(
    settings: Settings,
    action: Callable[[MetadataStore], Awaitable[int]],
    refusals: tuple[type[Exception], ...] = (),
) -> int:
    """Run `action` on the opened metadata store. A ValueError (a malformed argument or
    --metadata) exits 2; a MetadataError or one of `refusals` exits 1, its message printed."""
    try:
        return asyncio.run(_on_store(settings, action))
    except ValueError as exc:
        print(f"s3server: {exc}", file=sys.stderr)
        return 2
    except (MetadataError, *refusals) as exc:
        print(f"s3server: {exc}", file=sys.stderr)
        return 1
