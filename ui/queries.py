"""The console's queries that more than one page's API uses: every bucket, a bucket counted by
listing, and the server's statistics."""

from __future__ import annotations

from typing import Any

from ui.client import Endpoint, S3CallError, find_all, find_text
from ui.signing import Keys

__all__ = ["USAGE_PAGES", "all_buckets", "count_by_listing", "fetch_stats", "normalize_stats"]

USAGE_PAGES = 10  # counting a bucket by listing stops after this many pages of 1000 keys


async def all_buckets(ep: Endpoint, keys: Keys) -> list[dict[str, Any]]:
    buckets: list[dict[str, Any]] = []
    token = ""
    while True:
        params = [("max-buckets", "1000")] + ([("continuation-token", token)] if token else [])
        root = (await ep.call(keys, "GET", "/", params=params)).xml()
        for node in root.iterfind("{*}Buckets/{*}Bucket"):
            buckets.append({"name": find_text(node, "Name"), "created": find_text(node, "CreationDate")})
        token = find_text(root, "ContinuationToken")
        if not token:
            return buckets


async def count_by_listing(ep: Endpoint, keys: Keys, bucket: str, pages: int = USAGE_PAGES) -> dict[str, Any]:
    """Objects and bytes of a bucket from at most `pages` listing pages (exact False if it stopped)."""
    objects = size = 0
    token = ""
    for _ in range(pages):
        params = [("list-type", "2"), ("max-keys", "1000")]
        if token:
            params.append(("continuation-token", token))
        root = (await ep.call(keys, "GET", Endpoint.path(bucket), params=params)).xml()
        for node in find_all(root, "Contents"):
            objects += 1
            size += int(find_text(node, "Size", "0") or 0)
        token = find_text(root, "NextContinuationToken")
        if find_text(root, "IsTruncated") != "true" or not token:
            return {"objects": objects, "bytes": size, "exact": True}
    return {"objects": objects, "bytes": size, "exact": False}


def _number(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


COUNTERS = ("objects", "bytes", "versions", "version_bytes")


def normalize_stats(value: Any) -> dict[str, Any] | None:
    """/_admin/stats → {objects, bytes, versions, version_bytes, bucket_count,
    buckets: {name: {objects, bytes, versions, version_bytes}}, top: [...]}; a server without version
    counters reports none."""
    if not isinstance(value, dict):
        return None
    raw = value.get("per_bucket", value.get("buckets"))
    buckets: dict[str, dict[str, int]] = {}
    items: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = [(str(b.get("name") or b.get("bucket") or ""), b) for b in raw if isinstance(b, dict)]
    for name, usage in items:
        if name and isinstance(usage, dict):
            buckets[name] = {counter: _number(usage.get(counter)) for counter in COUNTERS}
    objects = value.get("objects", value.get("total_objects"))
    size = value.get("bytes", value.get("total_bytes"))
    totals = {
        counter: _number(value[counter]) if counter in value else sum(b[counter] for b in buckets.values())
        for counter in ("versions", "version_bytes")
    }
    count = value.get(
        "bucket_count", value["buckets"] if isinstance(value.get("buckets"), int) else len(buckets)
    )
    top = sorted(buckets.items(), key=lambda item: (-item[1]["objects"], item[0]))[:10]
    return {
        "objects": _number(objects) if objects is not None else sum(b["objects"] for b in buckets.values()),
        "bytes": _number(size) if size is not None else sum(b["bytes"] for b in buckets.values()),
        **totals,
        "bucket_count": _number(count),
        "buckets": buckets,
        "top": [{"name": name, **usage} for name, usage in top],
    }


async def fetch_stats(ep: Endpoint, keys: Keys) -> dict[str, Any] | None:
    """The server's statistics, or None when it has none for us (no endpoint, not an admin)."""
    try:
        return normalize_stats(await ep.admin(keys, "GET", "/_admin/stats"))
    except S3CallError:
        return None
