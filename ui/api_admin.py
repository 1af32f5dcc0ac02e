"""Users and access keys, through the server's JSON admin API (admins only).

    GET /_admin/users, POST /_admin/users {"name", "admin"}, DELETE /_admin/users/{name},
    POST /_admin/users/{name}/keys, POST /_admin/keys/{key}/activate|deactivate, DELETE /_admin/keys/{key}

A new secret is returned once, in the answer that created it; the console keeps no copy.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ui.app import endpoint, keys_of, read_json, text_field
from ui.client import S3CallError
from ui.messages import ApiError
from ui.sessions import Session

USERS = "/_admin/users"
KEYS = "/_admin/keys"


def _admin(session: Session) -> None:
    if not session.is_admin:
        raise ApiError(403, "Managing users needs an admin access key.")


def _segment(text: str) -> str:
    return quote(text, safe="")


def normalize_key(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {"access_key": str(raw), "active": True, "created": ""}
    return {
        "access_key": str(raw.get("access_key_id") or raw.get("access_key") or ""),
        "user": str(raw.get("user") or raw.get("user_name") or ""),
        "active": bool(raw.get("active", raw.get("status", "Active") in ("Active", "active", True))),
        "created": str(raw.get("created") or raw.get("create_date") or ""),
    }


def normalize_user(raw: Any) -> dict[str, Any]:
    keys = raw.get("access_keys", raw.get("keys"))
    return {
        "name": str(raw.get("name") or raw.get("user_name") or raw.get("user") or ""),
        "is_admin": bool(raw.get("is_admin", raw.get("admin", False))),
        "created": str(raw.get("created") or raw.get("create_date") or ""),
        "keys": [normalize_key(k) for k in keys] if isinstance(keys, list) else None,
    }


def _items(value: Any, name: str) -> list[Any]:
    if isinstance(value, dict):
        value = value.get(name, [])
    return value if isinstance(value, list) else []


def new_secret(value: Any) -> dict[str, str]:
    """The access key and secret from an answer that created them."""
    found = value if isinstance(value, dict) else {}
    nested = found.get("access_key") if isinstance(found.get("access_key"), dict) else found.get("key")
    if isinstance(nested, dict):
        found = {**found, **nested}
    access_key = found.get("access_key_id") or found.get("access_key")
    secret = found.get("secret_access_key") or found.get("secret_key")
    if not isinstance(access_key, str) or not isinstance(secret, str):
        raise ApiError(502, "The server created the key but did not return its secret.")
    return {"access_key": access_key, "secret_key": secret}


async def list_users(request: Any, session: Session) -> Any:
    _admin(session)
    ep, keys = endpoint(request), keys_of(session)
    try:
        answer = await ep.admin(keys, "GET", USERS)
    except S3CallError as err:
        if err.status == 404:
            raise ApiError(501, "This server's admin API has no user management (/_admin/users).") from None
        raise
    users = [normalize_user(u) for u in _items(answer, "users") if isinstance(u, dict)]
    if any(u["keys"] is None for u in users):
        all_keys = [normalize_key(k) for k in _items(await ep.admin(keys, "GET", KEYS), "access_keys")]
        for user in users:
            if user["keys"] is None:
                user["keys"] = [k for k in all_keys if k["user"] == user["name"]]
    users.sort(key=lambda u: u["name"])
    return {"users": users}


async def create_user(request: Any, session: Session) -> Any:
    _admin(session)
    body = await read_json(request)
    name = text_field(body, "name", "The user name")
    is_admin = body.get("is_admin") is True
    created = await endpoint(request).admin(
        keys_of(session), "POST", USERS, {"name": name, "admin": is_admin}
    )
    return {"user": name, "is_admin": is_admin, **new_secret(created)}


async def delete_user(request: Any, session: Session) -> Any:
    _admin(session)
    name = request.match_info["name"]
    if session.user == name:
        raise ApiError(409, "You cannot delete the user you are signed in as.")
    await endpoint(request).admin(keys_of(session), "DELETE", f"{USERS}/{_segment(name)}")
    return {"deleted": name}


async def create_key(request: Any, session: Session) -> Any:
    _admin(session)
    name = request.match_info["name"]
    created = await endpoint(request).admin(keys_of(session), "POST", f"{USERS}/{_segment(name)}/keys", {})
    return {"user": name, **new_secret(created)}


async def set_key_active(request: Any, session: Session) -> Any:
    _admin(session)
    access_key = request.match_info["access_key"]
    body = await read_json(request)
    active = body.get("active")
    if not isinstance(active, bool):
        raise ApiError(400, "Say whether the key should be active (true or false).")
    if not active and keys_of(session).access_key == access_key:
        raise ApiError(409, "You cannot disable the key you are signed in with.")
    action = "activate" if active else "deactivate"
    await endpoint(request).admin(keys_of(session), "POST", f"{KEYS}/{_segment(access_key)}/{action}")
    return {"access_key": access_key, "active": active}


async def delete_key(request: Any, session: Session) -> Any:
    _admin(session)
    access_key = request.match_info["access_key"]
    if keys_of(session).access_key == access_key:
        raise ApiError(409, "You cannot delete the key you are signed in with.")
    try:
        await endpoint(request).admin(keys_of(session), "DELETE", f"{KEYS}/{_segment(access_key)}")
    except S3CallError as err:
        if err.status != 404:
            raise
        raise ApiError(404, "That access key no longer exists.", err.code) from None
    return {"deleted": access_key}


ROUTES = (
    ("GET", "/api/admin/users", list_users),
    ("POST", "/api/admin/users", create_user),
    ("DELETE", "/api/admin/users/{name}", delete_user),
    ("POST", "/api/admin/users/{name}/keys", create_key),
    ("POST", "/api/admin/keys/{access_key}", set_key_active),
    ("DELETE", "/api/admin/keys/{access_key}", delete_key),
)
