"""The console's aiohttp application: static pages, sessions, CSRF, and the JSON API under /api/.

    request ─▶ headers (CSP, no-store) ─▶ session (cookie → server-side session) ─▶ guard
               (CSRF token and same origin on every change; sign-in required) ─▶ handler ─▶ JSON

Handlers live in `ui.api_buckets`, `ui.api_versions`, `ui.api_lifecycle`, `ui.api_admin` and
`ui.api_ops` (their routes collected in `ui.routes`); each takes the request and the signed-in session
and returns JSON, raising `ApiError` for anything a person should read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ui.client import Endpoint, EndpointUnreachable, S3CallError, find_text
from ui.messages import ApiError, api_error
from ui.sessions import COOKIE, Session, SessionStore
from ui.signing import Keys

log = logging.getLogger("s3server.console")

STATIC = Path(__file__).parent / "static"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/api/session", "/api/login"})  # answered without signing in
FAILED_LOGIN_DELAY = 0.5  # seconds: slows password guessing without bothering people

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {connect}; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass
class ConsoleConfig:
    """Where the console finds S3, and how presigned links should address it."""

    endpoint: Endpoint
    public_endpoint: str = ""  # scheme://host:port for presigned links; empty: see link_base
    same_host_port: int | None = None  # in `serve`: links use the browser's host name and this port


CONFIG_KEY = web.AppKey("console_config", ConsoleConfig)
SESSIONS_KEY = web.AppKey("console_sessions", SessionStore)

Handler = Callable[[web.Request, Session], Awaitable[Any]]
Route = tuple[str, str, Handler]  # method, path, handler


def config(request: web.Request) -> ConsoleConfig:
    return request.app[CONFIG_KEY]


def endpoint(request: web.Request) -> Endpoint:
    return request.app[CONFIG_KEY].endpoint


def keys_of(session: Session) -> Keys:
    if session.keys is None:  # the guard lets only signed-in sessions reach handlers
        raise ApiError(401, "Your session has ended. Sign in again.")
    return session.keys


def link_base(request: web.Request) -> str | None:
    """scheme://host:port that the person's own clients use to reach S3, for presigned links."""
    cfg = config(request)
    if cfg.public_endpoint:
        return cfg.public_endpoint.rstrip("/")
    if cfg.same_host_port is not None:
        host = request.url.raw_host or "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{cfg.endpoint.scheme}://{host}:{cfg.same_host_port}"
    return None


def content_security_policy(request: web.Request) -> str:
    """The page may connect to itself, and to S3 where browsers reach it (for browser uploads)."""
    base = link_base(request)
    return CSP.format(connect="'self'" + (f" {base}" if base else ""))


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or an ApiError in words."""
    try:
        value = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not JSON.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return value


def text_field(body: dict[str, Any], name: str, label: str, *, required: bool = True) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, f"{label} must be text.")
    value = value.strip()
    if required and not value:
        raise ApiError(400, f"{label} is required.")
    return value


def _error_response(status: int, message: str, code: str = "") -> web.Response:
    return web.json_response({"error": {"message": message, "code": code}}, status=status)


@web.middleware
async def headers_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Security headers on everything; API answers are never cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    elif request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-cache")  # revalidated: an upgrade shows at once
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _same_origin(request: web.Request) -> bool:
    """An Origin (or, without one, a Referer) must name this console itself."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True  # not a browser, or a browser that sends neither: the CSRF token still decides
    own = f"{request.scheme}://{request.host}"
    return origin == own or origin.startswith(own + "/")


@web.middleware
async def api_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Session, CSRF and sign-in checks for /api/; every failure answers JSON with a sentence."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    sessions = request.app[SESSIONS_KEY]
    session = sessions.get(request.cookies.get(COOKIE))
    request["session"] = session
    try:
        if request.method not in SAFE_METHODS:
            if not _same_origin(request):
                raise ApiError(403, "The request came from another site and was refused.")
            if session is None or not session.csrf_matches(request.headers.get(CSRF_HEADER)):
                raise ApiError(
                    403, "The page is out of date (its security token expired). Reload it and try again."
                )
        if request.path not in OPEN_PATHS and (session is None or not session.signed_in):
            raise ApiError(401, "Your session has ended. Sign in again.")
        return await handler(request)
    except ApiError as err:
        return _error_response(err.status, err.message, err.code)
    except S3CallError as err:
        wrapped = api_error(err)
        return _error_response(wrapped.status, wrapped.message, wrapped.code)
    except EndpointUnreachable as exc:
        log.warning("console: S3 endpoint unreachable: %s", exc)
        return _error_response(
            502, f"The S3 endpoint ({endpoint(request).base}) is not answering. Is the server running?"
        )


def _set_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(
        COOKIE, session.sid, httponly=True, samesite="Strict", secure=request.secure, path="/"
    )


def session_view(session: Session) -> dict[str, Any]:
    return {
        "signed_in": session.signed_in,
        "user": session.user,
        "access_key": session.keys.access_key if session.keys else "",
        "is_admin": session.is_admin,
        "csrf": session.csrf,
    }


async def get_session(request: web.Request) -> web.StreamResponse:
    """The current session (an anonymous one is started, so sign-in has a CSRF token too)."""
    session: Session | None = request["session"]
    if session is None:
        session = request.app[SESSIONS_KEY].create()
        response = web.json_response(session_view(session))
        _set_cookie(request, response, session)
        return response
    return web.json_response(session_view(session))


async def probe_admin(ep: Endpoint, keys: Keys) -> bool:
    """Whether the keys may use the admin API (it answers 403 to everyone else)."""
    try:
        await ep.admin(keys, "GET", "/_admin/storage")
    except S3CallError as err:
        if err.status in (429, 503):  # throttled or unavailable: no answer either way yet
            raise ApiError(503, "The server is busy right now. Try signing in again in a moment.") from err
        return False
    return True


async def login(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    access_key = text_field(body, "access_key", "The access key")
    secret = body.get("secret_key", "")
    if not isinstance(secret, str) or not secret:
        raise ApiError(400, "The secret key is required.")
    keys = Keys(access_key, secret)
    ep = endpoint(request)
    try:
        reply = await ep.call(keys, "GET", "/")
    except S3CallError as err:
        if err.code in (
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "InvalidClientTokenId",
        ):
            await asyncio.sleep(FAILED_LOGIN_DELAY)
            raise ApiError(
                401, "Sign-in failed: the access key or the secret key is wrong.", err.code
            ) from None
        raise
    root = reply.xml()
    user = find_text(root, "Owner/DisplayName") or find_text(root, "Owner/ID") or access_key
    is_admin = await probe_admin(ep, keys)
    sessions = request.app[SESSIONS_KEY]
    old: Session | None = request["session"]
    if old is not None:
        sessions.drop(old.sid)
    session = sessions.create(keys, user=user, is_admin=is_admin)
    log.info("console: %s signed in (access key %s, admin %s)", user, access_key, is_admin)
    response = web.json_response(session_view(session))
    _set_cookie(request, response, session)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    session: Session | None = request["session"]
    if session is not None:
        request.app[SESSIONS_KEY].drop(session.sid)
    response = web.json_response({"signed_in": False})
    response.del_cookie(COOKIE, path="/")
    return response


def with_session(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Adapt `handler(request, session) -> JSON value or response` to an aiohttp handler."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        result = await handler(request, request["session"])
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result, dumps=lambda v: json.dumps(v, default=str))

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def not_found(request: web.Request) -> web.StreamResponse:
    return _error_response(404, "There is no such console API.")


def build_console(
    cfg: ConsoleConfig, routes: Iterable[Route], *, sessions: SessionStore | None = None
) -> web.Application:
    """The console application for one S3 endpoint, serving `routes` (`ui.routes.ROUTES`)."""
    app = web.Application(middlewares=[headers_middleware, api_middleware], client_max_size=1024**2)
    app[CONFIG_KEY] = cfg
    app[SESSIONS_KEY] = sessions or SessionStore()
    app.router.add_get("/", index)
    app.router.add_get("/api/session", get_session)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    for method, path, handler in routes:
        app.router.add_route(method, path, with_session(handler))
    app.router.add_route("*", "/api/{tail:.*}", not_found)
    app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)

    async def close_endpoint(app: web.Application) -> None:
        await cfg.endpoint.close()

    app.on_cleanup.append(close_endpoint)
    return app
