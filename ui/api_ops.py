"""Operations: component health with latency, statistics, and the demos (rate limit, rollback).

Health and statistics come from the admin API (/_admin/health, unauthenticated; /_admin/stats, for
admins). Others see statistics of their own buckets, counted by listing (bounded), and the answer
says which it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from ui.app import endpoint, keys_of, read_json, text_field
from ui.client import Endpoint, EndpointUnreachable, S3CallError
from ui.messages import ApiError
from ui.queries import all_buckets, count_by_listing, fetch_stats
from ui.sessions import Session

BURST_MAX = 1000
BURST_CONCURRENCY = 50
STATS_LISTING_PAGES = 5
DEMO_OBJECT_BYTES = 256 * 1024


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


# -- statistics


async def stats(request: Any, session: Session) -> Any:
    ep, keys = endpoint(request), keys_of(session)
    found = await fetch_stats(ep, keys) if session.is_admin else None
    if found is not None:
        return {**found, "source": "statistics", "exact": True}
    names = [b["name"] for b in await all_buckets(ep, keys)]
    limit = asyncio.Semaphore(4)

    async def count(name: str) -> dict[str, Any]:
        async with limit:
            return {"name": name, **await count_by_listing(ep, keys, name, STATS_LISTING_PAGES)}

    counted = await asyncio.gather(*(count(n) for n in names))
    top = sorted(counted, key=lambda b: (-b["objects"], b["name"]))[:10]
    return {
        "objects": sum(b["objects"] for b in counted),
        "bytes": sum(b["bytes"] for b in counted),
        "versions": None,  # only the server's statistics count versions
        "version_bytes": None,
        "bucket_count": len(names),
        "buckets": {b["name"]: {"objects": b["objects"], "bytes": b["bytes"]} for b in counted},
        "top": [{"name": b["name"], "objects": b["objects"], "bytes": b["bytes"]} for b in top],
        "source": "listing",
        "exact": all(b["exact"] for b in counted),
    }


# -- health


def _size(n: int) -> str:
    value, unit = float(n), 0
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.0f} {units[unit]}" if unit == 0 else f"{value:.1f} {units[unit]}"


_SHOWN_AS_IS = {
    "name",
    "component",
    "status",
    "ok",
    "healthy",
    "latency_ms",
    "latency",
    "kind",
    "free_bytes",
    "total_bytes",
    "detail",
    "error",
}


def _detail(item: dict[str, Any]) -> str:
    """One line about a component: its error, else its free space and other facts."""
    if item.get("error") or item.get("detail"):
        return str(item.get("error") or item.get("detail"))
    parts = []
    if isinstance(item.get("free_bytes"), int) and isinstance(item.get("total_bytes"), int):
        parts.append(f"{_size(item['free_bytes'])} free of {_size(item['total_bytes'])}")
    parts += [
        f"{k.replace('_', ' ')} {v}"
        for k, v in item.items()
        if k not in _SHOWN_AS_IS and not isinstance(v, dict | list)
    ]
    return ", ".join(parts)


def normalize_health(value: Any) -> list[dict[str, Any]]:
    """/_admin/health's components as [{name, status, latency_ms, detail}]."""
    if not isinstance(value, dict):
        return []
    raw = value.get("components", value.get("checks", []))
    items: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = [(str(c.get("name") or c.get("component") or ""), c) for c in raw if isinstance(c, dict)]
    out = []
    for name, item in items:
        if not isinstance(item, dict):
            continue
        status = item.get("status", "ok" if item.get("ok", item.get("healthy")) else "down")
        latency = item.get("latency_ms")
        if latency is None and isinstance(item.get("latency"), int | float):
            latency = item["latency"] * 1000
        out.append({"name": name, "status": str(status), "latency_ms": latency, "detail": _detail(item)})
    return out


async def _timed(call: Any) -> tuple[float, Any, Exception | None]:
    started = time.perf_counter()
    try:
        result = await call
    except (S3CallError, EndpointUnreachable) as exc:
        return time.perf_counter() - started, None, exc
    return time.perf_counter() - started, result, None


async def health(request: Any, session: Session) -> Any:
    """Every component's status and latency, plus the console's own round trip to the S3 API."""
    ep = endpoint(request)
    took, value, error = await _timed(ep.call(None, "GET", "/_admin/health", ok=(200, 503)))
    round_trip = {
        "name": "console → S3 API",
        "status": "ok" if error is None or isinstance(error, S3CallError) else "down",
        "latency_ms": _ms(took),
        "detail": ep.base,
    }
    if error is None:
        try:
            document = json.loads(value.body)
        except ValueError:
            document = {}
        components = normalize_health(document)
        overall = str(document.get("status", "ok" if value.status == 200 else "down"))
        return {
            "status": overall,
            "source": "health",
            "components": [round_trip, *components],
            "checked_at": time.time(),
        }
    if isinstance(error, EndpointUnreachable):
        return {
            "status": "down",
            "source": "console",
            "components": [{**round_trip, "detail": str(error)}],
            "checked_at": time.time(),
        }
    # An older server without /_admin/health: only the round trip is known.
    return {
        "status": "unknown",
        "source": "console",
        "components": [{**round_trip, "detail": f"{round_trip['detail']} (no /_admin/health: {error})"}],
        "checked_at": time.time(),
    }


# -- features and demos


async def features(request: Any, session: Session) -> Any:
    """What the operations page can offer this person on this server."""
    fault_injection = False
    if session.is_admin:
        try:
            await endpoint(request).admin(keys_of(session), "GET", "/_admin/faults")
            fault_injection = True
        except S3CallError:
            pass
    return {"is_admin": session.is_admin, "fault_injection": fault_injection}


async def burst(request: Any, session: Session) -> Any:
    """Fire `count` requests at once and count how many the rate limiter throttled.

    Anonymous requests (the default) are limited per client address, so the person's own key keeps
    its allowance; `signed` ones spend it.
    """
    body = await read_json(request)
    try:
        count = int(body.get("count", 150))
    except (TypeError, ValueError):
        raise ApiError(400, "The number of requests must be a number.") from None
    if not 1 <= count <= BURST_MAX:
        raise ApiError(400, f"Fire between 1 and {BURST_MAX} requests.")
    signed = body.get("signed") is True
    ep, keys = endpoint(request), keys_of(session)
    limit = asyncio.Semaphore(BURST_CONCURRENCY)
    statuses: dict[int, int] = {}
    codes: dict[str, int] = {}

    async def one() -> None:
        async with limit:
            try:
                await ep.call(keys if signed else None, "GET", "/", params=[("max-buckets", "1")])
                status, code = 200, "OK"
            except S3CallError as err:
                status, code = err.status, err.code
            except EndpointUnreachable:
                status, code = 0, "Unreachable"
            statuses[status] = statuses.get(status, 0) + 1
            codes[code] = codes.get(code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    throttled = codes.get("SlowDown", 0) + statuses.get(429, 0)
    return {
        "sent": count,
        "throttled": throttled,
        "answered": count - throttled,
        "by_code": codes,
        "signed": signed,
        "elapsed_ms": _ms(time.perf_counter() - started),
    }


def _admin_only(session: Session) -> None:
    if not session.is_admin:
        raise ApiError(403, "This needs an admin access key.")


async def rollback(request: Any, session: Session) -> Any:
    """Make metadata writes fail, upload, and show the 503 and that no bytes were left behind.

    Every call goes over one connection, so with several worker processes the fault, the upload and
    the checks all reach the same process. The fault is cleared whatever happens.
    """
    _admin_only(session)
    body = await read_json(request)
    bucket = text_field(body, "bucket", "The bucket")
    ep, keys = endpoint(request), keys_of(session)
    key = f"console-rollback-demo/{int(time.time() * 1000)}.bin"
    path = Endpoint.path(bucket, key)
    steps: list[dict[str, Any]] = []
    async with ep.pinned() as client:
        try:
            before = await ep.admin(keys, "GET", "/_admin/storage", client=client)
        except S3CallError as err:
            if err.status == 404:
                raise ApiError(
                    404, "This server has no storage statistics, so the demo cannot count blobs."
                ) from None
            raise
        steps.append(
            {
                "step": "Counted the blobs on the drives",
                "ok": True,
                "detail": f"{before['blobs']} blobs, {before['bytes']} bytes",
            }
        )
        try:
            await ep.admin(
                keys, "POST", "/_admin/faults", {"target": "metadata", "mode": "writes"}, client=client
            )
        except S3CallError as err:
            if err.status == 404:
                raise ApiError(
                    409,
                    "Fault injection is off on this server (start it with "
                    "--enable-fault-injection to run this demo).",
                ) from None
            raise
        steps.append({"step": "Made metadata writes fail", "ok": True, "detail": "fault: metadata writes"})
        status, code = 0, ""
        try:
            payload = os.urandom(DEMO_OBJECT_BYTES)
            try:
                await ep.call(
                    keys,
                    "PUT",
                    path,
                    headers={"content-length": str(len(payload))},
                    body=payload,
                    client=client,
                )
                status, code = 200, "OK"
            except S3CallError as err:
                status, code = err.status, err.code
            steps.append(
                {
                    "step": f"Uploaded {len(payload)} bytes to {bucket}/{key}",
                    "ok": status == 503,
                    "detail": f"the server answered {status} {code}",
                }
            )
        finally:
            await ep.admin(keys, "DELETE", "/_admin/faults", params=[("target", "metadata")], client=client)
        steps.append({"step": "Cleared the fault", "ok": True, "detail": "metadata writes work again"})
        after = await ep.admin(keys, "GET", "/_admin/storage", client=client)
        left = after["blobs"] - before["blobs"]
        left_bytes = after["bytes"] - before["bytes"]
        steps.append(
            {
                "step": "Counted the blobs again",
                "ok": left == 0 and left_bytes == 0,
                "detail": f"{after['blobs']} blobs, {after['bytes']} bytes: "
                f"{left} blobs and {left_bytes} bytes left behind",
            }
        )
        try:
            await ep.call(keys, "HEAD", path, client=client)
            exists = True
        except S3CallError:
            exists = False
        steps.append(
            {
                "step": "Looked for the object",
                "ok": not exists,
                "detail": "it exists" if exists else "not found, as it should be",
            }
        )
        if status == 200:
            await ep.call(keys, "DELETE", path, client=client)
    return {
        "status": status,
        "code": code,
        "left_behind_blobs": left,
        "left_behind_bytes": left_bytes,
        "object_exists": exists,
        "passed": all(s["ok"] for s in steps),
        "steps": steps,
    }


ROUTES = (
    ("GET", "/api/ops/health", health),
    ("GET", "/api/ops/stats", stats),
    ("GET", "/api/ops/features", features),
    ("POST", "/api/demo/burst", burst),
    ("POST", "/api/demo/rollback", rollback),
)
