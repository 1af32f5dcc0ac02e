"""Statistics for administrators: `GET /_admin/stats`, from the counters the metadata store maintains
as objects change (one query, never a scan of the objects).

    {"buckets": 3, "objects": 1204, "bytes": 73400320, "versions": 12, "version_bytes": 81920,
     "per_bucket": [{"name": "photos", "owner": "alice", "objects": 1200, "bytes": 73400000,
                     "versions": 12, "version_bytes": 81920}, …],
     "top_buckets": [… the 10 buckets with the most objects, most first …]}

`objects` and `bytes` count current versions only (what a listing shows); `versions` counts noncurrent
versions and delete markers, and `version_bytes` the bytes the noncurrent versions still occupy.
"""

from __future__ import annotations

from typing import Any

from s3server.ops.admin import AdminApi, AdminRequest, Route

TOP = 10


async def stats(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    counters = await api.services.meta.all_bucket_stats()
    per_bucket = [
        {
            "name": c.name,
            "owner": c.owner,
            "objects": c.objects,
            "bytes": c.bytes,
            "versions": c.versions,
            "version_bytes": c.version_bytes,
        }
        for c in counters
    ]
    top = sorted(per_bucket, key=lambda b: (-b["objects"], b["name"]))[:TOP]
    return 200, {
        "buckets": len(per_bucket),
        "objects": sum(c.objects for c in counters),
        "bytes": sum(c.bytes for c in counters),
        "versions": sum(c.versions for c in counters),
        "version_bytes": sum(c.version_bytes for c in counters),
        "per_bucket": per_bucket,
        "top_buckets": top,
    }


ROUTES: tuple[Route, ...] = (Route("GET", "/_admin/stats", stats),)
