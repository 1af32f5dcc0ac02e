"""The lifecycle pass on demand: `POST /_admin/lifecycle` ({"bucket": NAME} for one bucket).

Runs a pass in the process that answers (after any pass another process is running: the metadata
lease allows one at a time) and returns its report, naming what it removed:

    {"expired": 3, "expired_bytes": 3072, "noncurrent_removed": 0, …, "seconds": 0.02,
     "removed": [{"bucket": "logs", "key": "2024/01/a.log", "version_id": null,
                  "action": "Expiration", "rule": "old-logs", "size": 1024}, …]}
"""

from __future__ import annotations

from typing import Any

from s3server.lifecycle import LeaseBusy, LifecycleWorker
from s3server.ops.admin import AdminApi, AdminError, AdminRequest, Route


async def run_lifecycle(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    worker: LifecycleWorker | None = api.extras.get("lifecycle")
    if worker is None:
        raise AdminError(404, "NotFound", "The lifecycle worker is not running")
    bucket = req.body.get("bucket")
    if bucket is not None and (not isinstance(bucket, str) or not bucket):
        raise AdminError(400, "InvalidRequest", "bucket must be a bucket name")
    if bucket is not None and await api.services.meta.get_bucket(bucket) is None:
        raise AdminError(404, "NotFound", f"No bucket {bucket}")
    try:
        report = await worker.run_now(bucket)
    except LeaseBusy as exc:
        raise AdminError(409, "Conflict", str(exc)) from exc
    return 200, report.as_dict()


ROUTES: tuple[Route, ...] = (Route("POST", "/_admin/lifecycle", run_lifecycle),)
