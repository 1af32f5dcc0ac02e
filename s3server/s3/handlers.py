"""Operation name → handler, gathered from each operation family's module."""

from __future__ import annotations

from s3server.s3 import attributes, buckets, listing, objects
from s3server.s3.context import Handler

HANDLERS: dict[str, Handler] = {
    **buckets.HANDLERS,
    **objects.HANDLERS,
    **listing.HANDLERS,
    **attributes.HANDLERS,
}
