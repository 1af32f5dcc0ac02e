"""The JSON admin API under /_admin/ (not a valid bucket name, so it cannot shadow S3 paths).

Requests are SigV4-signed like S3 requests (service "s3", any region) by an admin credential; the
gateway hands every path-style /_admin/ request here before its S3 router. Routing is one table of
(method, path pattern) → handler; a pattern segment "{name}" captures that segment. A route marked
public (the health checks) needs no signature. Handlers take an
`AdminRequest` and return (status, JSON value); errors are `AdminError`s, rendered as
{"error": {"code": …, "message": …}} with their HTTP status. Over the --rate-limit a signed caller
gets 429.

    GET    /_admin/storage         drives, replica count, blob totals
    POST   /_admin/reaper          run a blob reaper pass now ({"walk": true} also walks the drives)
    POST   /_admin/scrub           with storage nodes: restore every blob's replica count now
                                   ({"verify": true}: nodes check every block first)
    GET    /_admin/faults          the standing faults            ┐ 404 unless the server runs
    POST   /_admin/faults          add a fault / corrupt replicas │ with --enable-fault-injection
    DELETE /_admin/faults          clear faults (?target=…)       ┘

The rest of the table lives beside what it serves and is joined in `s3server.ops.routes`: users and
access keys (`users.py`), health (`health.py`) and statistics (`stats.py`). `/_admin/metrics` is
answered by the gateway itself (it is Prometheus text, not JSON).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from s3server.faults import METADATA_MODES, DriveFault, Faults, corrupt_file
from s3server.gateway.accesslog import logfmt
from s3server.gateway.auth import authenticate
from s3server.gateway.body import PlainBody, signed_payload_sha256
from s3server.gateway.ids import new_request_id
from s3server.gateway.ratelimit import RateLimiter, SharedRateLimiter
from s3server.gateway.request import RequestView
from s3server.identity.model import (
    AccessKeyExists,
    Credential,
    IdentityError,
    InvalidIdentityName,
    NoSuchAccessKey,
    NoSuchUser,
    ProtectedUser,
    UserExists,
)
from s3server.metadata.base import MetadataError
from s3server.node.cluster import storage_report
from s3server.node.remote import RemoteBlobStore
from s3server.reaper import BlobReaper
from s3server.s3.context import Services
from s3server.s3.errors import S3Error
from s3server.storage.base import BlobNotFound, StorageError
from s3server.storage.replicated import ReplicatedBlobStore

log = logging.getLogger("s3server.admin")
access_log = logging.getLogger("s3server.access")

ADMIN_PREFIX = "/_admin/"
MAX_BODY = 64 * 1024


def wants_admin(raw_path: str, host: str, domain: str) -> bool:
    """A path-style request under /_admin/ (with --domain, BUCKET.DOMAIN/_admin/… is an S3 key)."""
    if not raw_path.startswith(ADMIN_PREFIX):
        return False
    if domain:
        host_name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
        if host_name.endswith("." + domain):
            return False
    return True


def _identity_status(exc: IdentityError) -> tuple[int, str]:
    """HTTP status and code for an identity store refusal."""
    if isinstance(exc, (NoSuchUser, NoSuchAccessKey)):
        return 404, "NotFound"
    if isinstance(exc, (UserExists, AccessKeyExists, ProtectedUser)):
        return 409, "Conflict"
    if isinstance(exc, InvalidIdentityName):
        return 400, "InvalidRequest"
    return 400, type(exc).__name__


def _error_code(value: Any) -> str:
    """The code of an error answer, for the access log ("-" for any other answer)."""
    error = value.get("error") if isinstance(value, dict) else None
    return str(error.get("code", "-")) if isinstance(error, dict) else "-"


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _not_found(message: str = "No such admin resource") -> AdminError:
    return AdminError(404, "NotFound", message)


def _bad(message: str) -> AdminError:
    return AdminError(400, "InvalidRequest", message)


@dataclass
class AdminRequest:
    method: str
    path: str
    params: dict[str, str]  # captured {name} segments
    query: Mapping[str, str]
    body: dict[str, Any]
    principal: Credential | None  # None on public routes


Handler = Callable[["AdminApi", AdminRequest], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    public: bool = False  # answered without a signature (health checks)
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.pattern.strip("/").split("/")))

    def match(self, parts: tuple[str, ...]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want.startswith("{") and want.endswith("}"):
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


# -- handlers


def _faults(api: AdminApi) -> Faults:
    if api.faults is None:
        raise _not_found("Fault injection is disabled (start the server with --enable-fault-injection)")
    return api.faults


async def get_faults(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    return 200, _faults(api).describe()


async def clear_faults(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    faults = _faults(api)
    target = req.query.get("target")
    if target is None:
        faults.clear()
    elif target == "metadata":
        faults.metadata = None
    elif target == "drive":
        faults.drives.clear()
    else:
        raise _bad("target must be metadata or drive")
    return 200, faults.describe()


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _bad(f"{name} must be true or false")
    return value


async def add_fault(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    faults = _faults(api)
    body = req.body
    target = body.get("target")
    if target in ("drive", "replica") and api.cluster is not None:
        raise _not_found("This gateway has no drives of its own: its replicas are on storage nodes")
    if target == "metadata":
        mode = body.get("mode", "writes")
        if mode not in METADATA_MODES:
            raise _bad(f"mode must be one of {', '.join(METADATA_MODES)}")
        faults.metadata = mode
        log.warning("fault injected: metadata %s fail", mode)
        return 200, faults.describe()
    if target == "drive":
        drive = _drive(api, body.get("drive"))
        fault = DriveFault(reads=_flag(body, "reads", True), writes=_flag(body, "writes", True))
        if fault.reads or fault.writes:
            faults.drives[drive.drive_id] = fault
        else:
            faults.drives.pop(drive.drive_id, None)
        log.warning("fault injected: %s fails (reads %s, writes %s)", drive, fault.reads, fault.writes)
        return 200, faults.describe()
    if target == "replica":
        corrupted = await _corrupt(api, body)
        return 200, {"corrupted": corrupted, **faults.describe()}
    raise _bad("target must be metadata, drive or replica")


def _drive(api: AdminApi, key: Any) -> Any:
    if not isinstance(key, int | str) or isinstance(key, bool):
        raise _bad("drive must be a drive's position (0, 1, …), id or path")
    try:
        return api.store.drive(key)
    except KeyError:
        raise _not_found(f"No drive {key!r}") from None


async def _corrupt(api: AdminApi, body: dict[str, Any]) -> list[dict[str, Any]]:
    store = api.store
    if "blob_id" in body:
        blob_ids = [str(body["blob_id"])]
    else:
        bucket, key = body.get("bucket"), body.get("key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise _bad("replica faults need bucket and key (or blob_id)")
        record = await api.services.meta.get_object(bucket, key)
        if record is None:
            raise _not_found(f"No object {bucket}/{key}")
        blob_ids = [seg.blob_id for seg in record.segments]
    which = body.get("replica", 0)
    offset = body.get("offset")
    if offset is not None and (not isinstance(offset, int) or isinstance(offset, bool)):
        raise _bad("offset must be an integer")
    done: list[dict[str, Any]] = []
    for blob_id in blob_ids:
        try:
            info = await store.info(blob_id)
        except BlobNotFound:
            raise _not_found(f"No blob {blob_id}") from None
        if which == "all":
            positions = list(range(len(info.replicas)))
        elif isinstance(which, int) and not isinstance(which, bool) and 0 <= which < len(info.replicas):
            positions = [which]
        else:
            raise _bad(f'replica must be "all" or a position below {len(info.replicas)}')
        for pos in positions:
            drive = store.by_id.get(info.replicas[pos])
            if drive is None:
                continue
            path = drive.path_of(blob_id)
            try:
                where = await store.run(corrupt_file, path, offset)
            except OSError as exc:
                raise AdminError(409, "Conflict", f"cannot corrupt {path}: {exc}") from exc
            log.warning("fault injected: corrupted byte %d of blob %s on %s", where, blob_id, drive)
            done.append({"blob_id": blob_id, "drive": drive.drive_id, "path": path, "offset": where})
    return done


async def get_storage(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    if api.cluster is not None:
        return 200, await storage_report(api.cluster)
    store = api.store
    count, size = await store.index.totals()
    return 200, {
        "replicas": store.replicas,
        "drives": [
            {"id": d.drive_id, "path": str(d.path), "online": await store.run(lambda d=d: d.online)}
            for d in store.drives
        ],
        "blobs": count,
        "bytes": size,
    }


async def run_reaper(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    if api.reaper is None:
        raise _not_found("The blob reaper is not running")
    walk = _flag(req.body, "walk", False)
    report = await api.reaper.reap_once(walk=walk or None)
    return 200, report.as_dict()


async def run_scrub(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    """A replica repair pass across the storage nodes now ({"verify": true}: every node first
    checks every replica against its checksums)."""
    repair = api.extras.get("repair")
    if repair is None:
        raise _not_found("No storage nodes: run `s3server scrub` on the server's drives instead")
    report = await repair.reap_once(verify=_flag(req.body, "verify", False))
    return 200, report.as_dict()


ROUTES: tuple[Route, ...] = (
    Route("GET", "/_admin/storage", get_storage),
    Route("POST", "/_admin/reaper", run_reaper),
    Route("POST", "/_admin/scrub", run_scrub),
    Route("GET", "/_admin/faults", get_faults),
    Route("POST", "/_admin/faults", add_fault),
    Route("DELETE", "/_admin/faults", clear_faults),
)


class AdminApi:
    """Authenticates, routes and renders admin requests."""

    def __init__(
        self,
        services: Services,
        *,
        faults: Faults | None = None,
        reaper: BlobReaper | None = None,
        routes: tuple[Route, ...] = ROUTES,
        limiter: RateLimiter | SharedRateLimiter | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(services.blobs, ReplicatedBlobStore | RemoteBlobStore):
            raise TypeError("the admin API needs the replicated or the storage nodes' blob store")
        self.services = services
        self.store: ReplicatedBlobStore = services.blobs  # type: ignore[assignment]
        self.cluster = services.blobs if isinstance(services.blobs, RemoteBlobStore) else None
        self.faults = faults
        self.reaper = reaper
        self.routes = routes
        self.limiter = limiter
        # What handlers in other modules need from the running server (health: the gateway).
        self.extras: Mapping[str, Any] = extras or {}

    def wants(self, raw_path: str, host: str, domain: str) -> bool:
        """Whether a request is this API's (see `wants_admin`); the gateway asks before routing."""
        return wants_admin(raw_path, host, domain)

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        request_id = new_request_id()
        user = "-"
        name = "-"
        try:
            route, params = self._route(request)
            name = route.handler.__name__
            principal: Credential | None = None
            payload_hash: str | None = None
            if not route.public:
                principal, payload_hash = await self._authenticate(request)
                user = principal.user
            body = await self._body(request, payload_hash) if payload_hash is not None else {}
            status, value = await route.handler(
                self,
                AdminRequest(request.method, request.path, params, request.query, body, principal),
            )
        except AdminError as err:
            status, value = err.status, {"error": {"code": err.code, "message": err.message}}
        except (MetadataError, StorageError) as exc:
            log.error("admin request %s: %s", request_id, exc)
            status, value = 503, {"error": {"code": "ServiceUnavailable", "message": str(exc)}}
        except IdentityError as exc:
            status, code = _identity_status(exc)
            value = {"error": {"code": code, "message": str(exc)}}
        except Exception:
            log.exception("admin request %s failed", request_id)
            status, value = 500, {"error": {"code": "InternalError", "message": "internal error"}}
        access_log.info(
            "%s",
            logfmt(
                {
                    "request_id": request_id,
                    "remote": request.remote or "-",
                    "principal": user,
                    "method": request.method,
                    "operation": f"Admin:{name}",
                    "path": request.path,
                    "status": status,
                    "error": _error_code(value),
                    "duration_ms": f"{(time.perf_counter() - started) * 1000:.1f}",
                }
            ),
        )
        return web.json_response(value, status=status, headers={"x-amz-request-id": request_id})

    def _route(self, request: web.Request) -> tuple[Route, dict[str, str]]:
        parts = tuple(request.path.strip("/").split("/"))
        allowed = False
        for route in self.routes:
            params = route.match(parts)
            if params is None:
                continue
            if route.method == request.method:
                return route, params
            allowed = True
        if allowed:
            raise AdminError(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}")
        raise _not_found()

    async def _authenticate(self, request: web.Request) -> tuple[Credential, str]:
        raw_path, _, raw_query = request.raw_path.partition("?")
        view = RequestView(
            method=request.method, raw_path=raw_path, raw_query=raw_query, headers=request.headers
        )
        try:
            auth = await authenticate(view, self.services.identity.lookup)
        except S3Error as err:
            await self._limit(f"ip:{request.remote}")
            raise AdminError(403, err.code, err.message) from err
        await self._limit(f"key:{auth.credential.access_key}" if auth is not None else f"ip:{request.remote}")
        if auth is None or auth.version != 4:
            raise AdminError(403, "AccessDenied", "Admin requests must be signed with SigV4")
        if not auth.credential.is_admin:
            raise AdminError(403, "AccessDenied", "Admin requests need an admin credential")
        return auth.credential, auth.payload_hash

    async def _limit(self, caller: str) -> None:
        """The JSON API answers 429 over the rate limit (the S3 API's 503 SlowDown is for SDKs)."""
        if self.limiter is not None and not await self.limiter.acquire(caller):
            raise AdminError(429, "TooManyRequests", "Rate limit exceeded, slow down")

    async def _body(self, request: web.Request, payload_hash: str) -> dict[str, Any]:
        if not request.body_exists:
            return {}
        try:
            raw = await PlainBody(request, signed_payload_sha256(payload_hash)).read(MAX_BODY)
        except S3Error as err:
            raise AdminError(400, err.code, err.message) from err
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise _bad(f"the body is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise _bad("the body must be a JSON object")
        return value
