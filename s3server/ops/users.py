"""Users and access keys through the JSON admin API (what `s3server admin user|key …` calls).

    GET    /_admin/users                      every user with their keys (never a secret)
    POST   /_admin/users                      {"name", "admin"?, "email"?, "access_key_id"?,
                                              "secret_access_key"?}: the user and a first key; the
                                              secret is in this answer only
    PUT    /_admin/users/{name}/email         {"email": "…" | null}: the address ACL grants by e-mail
                                              (emailAddress=) name this user by
    GET    /_admin/users/{name}               one user with their keys
    DELETE /_admin/users/{name}               the user and their keys (409 while they own buckets)
    GET    /_admin/users/{name}/keys          one user's keys
    POST   /_admin/users/{name}/keys          {"access_key_id"?, "secret_access_key"?}: a new key
    GET    /_admin/keys                       every key (?user=NAME: one user's)
    DELETE /_admin/keys/{access_key_id}       remove a key
    POST   /_admin/keys/{access_key_id}/activate | /deactivate

Giving both halves of a pair imports it (moving from another store, suites with fixed keys); giving
neither generates both; giving one half is refused. Root's key is the one S3SERVER_ROOT_USER /
S3SERVER_ROOT_PASSWORD name and is reinstalled at every start, so it is not managed here.
"""

from __future__ import annotations

from typing import Any

from s3server.identity.model import ROOT_USER, Credential, User
from s3server.ops.admin import AdminApi, AdminError, AdminRequest, Route


def _bad(message: str) -> AdminError:
    return AdminError(400, "InvalidRequest", message)


def key_json(credential: Credential, *, secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "access_key_id": credential.access_key,
        "user": credential.user,
        "active": credential.active,
    }
    if secret:
        out["secret_access_key"] = credential.secret_key
    return out


def user_json(user: User, keys: list[Credential]) -> dict[str, Any]:
    return {
        "name": user.name,
        "admin": user.is_admin,
        "created": user.created.isoformat(),
        "email": user.email,
        "access_keys": [key_json(k) for k in keys if k.user == user.name],
    }


def _pair(body: dict[str, Any]) -> tuple[str | None, str | None]:
    access_key = body.get("access_key_id")
    secret_key = body.get("secret_access_key")
    for name, value in (("access_key_id", access_key), ("secret_access_key", secret_key)):
        if value is not None and not isinstance(value, str):
            raise _bad(f"{name} must be a string")
    if (access_key is None) != (secret_key is None):
        raise _bad("give both access_key_id and secret_access_key to import a key pair, or neither")
    return access_key, secret_key


def _not_root(user: str, what: str) -> None:
    if user == ROOT_USER:
        raise AdminError(
            409,
            "Conflict",
            f"{what}: root's key comes from S3SERVER_ROOT_USER / S3SERVER_ROOT_PASSWORD and is "
            "reinstalled at every start",
        )


async def _user_named(api: AdminApi, name: str) -> User:
    user = await api.services.identity.get_user(name)
    if user is None:
        raise AdminError(404, "NotFound", f"no user {name!r}")
    return user


async def list_users(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    identity = api.services.identity
    users = await identity.list_users()
    keys = await identity.list_access_keys()
    return 200, {"users": [user_json(u, keys) for u in users]}


async def create_user(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    name = req.body.get("name")
    if not isinstance(name, str):
        raise _bad("name (a string) is required")
    admin = req.body.get("admin", False)
    if not isinstance(admin, bool):
        raise _bad("admin must be true or false")
    email = _email(req.body)
    access_key, secret_key = _pair(req.body)
    identity = api.services.identity
    user = await identity.create_user(name, is_admin=admin, email=email)
    try:
        credential = await identity.create_access_key(name, access_key, secret_key)
    except BaseException:
        await identity.delete_user(name)  # no user without the key the caller asked for
        raise
    return 201, {
        "user": user_json(user, [credential]),
        "access_key_id": credential.access_key,
        "secret_access_key": credential.secret_key,
    }


def _email(body: dict[str, Any]) -> str | None:
    email = body.get("email")
    if email is not None and not isinstance(email, str):
        raise _bad("email must be a string or null")
    return email


async def set_user_email(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    if "email" not in req.body:
        raise _bad("email (a string, or null to remove it) is required")
    identity = api.services.identity
    user = await identity.set_user_email(req.params["name"], _email(req.body))
    return 200, user_json(user, await identity.list_access_keys(user.name))


async def get_user(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    user = await _user_named(api, req.params["name"])
    keys = await api.services.identity.list_access_keys(user.name)
    return 200, user_json(user, keys)


async def delete_user(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    name = req.params["name"]
    await _user_named(api, name)
    owned = await api.services.meta.list_buckets(name)
    if owned:
        listed = ", ".join(b.name for b in owned[:10]) + (", …" if len(owned) > 10 else "")
        raise AdminError(
            409, "Conflict", f"user {name!r} owns {len(owned)} bucket(s) ({listed}); delete them first"
        )
    await api.services.identity.delete_user(name)
    return 200, {"deleted": name}


async def list_user_keys(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    user = await _user_named(api, req.params["name"])
    keys = await api.services.identity.list_access_keys(user.name)
    return 200, {"access_keys": [key_json(k) for k in keys]}


async def create_key(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    name = req.params["name"]
    _not_root(name, "root gets no extra keys")
    access_key, secret_key = _pair(req.body)
    credential = await api.services.identity.create_access_key(name, access_key, secret_key)
    return 201, key_json(credential, secret=True)


async def list_keys(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    user = req.query.get("user")
    if user is not None:
        await _user_named(api, user)
    keys = await api.services.identity.list_access_keys(user)
    return 200, {"access_keys": [key_json(k) for k in keys]}


async def _key(api: AdminApi, access_key: str) -> Credential:
    credential = await api.services.identity.lookup(access_key)
    if credential is None:
        raise AdminError(404, "NotFound", f"no access key {access_key}")
    return credential


async def delete_key(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    access_key = req.params["access_key"]
    credential = await _key(api, access_key)
    _not_root(credential.user, "root's key cannot be deleted")
    await api.services.identity.delete_access_key(access_key)
    return 200, {"deleted": access_key}


async def _set_active(api: AdminApi, req: AdminRequest, active: bool) -> tuple[int, Any]:
    access_key = req.params["access_key"]
    credential = await _key(api, access_key)
    _not_root(credential.user, "root's key cannot be deactivated")
    await api.services.identity.set_access_key_active(access_key, active)
    return 200, {**key_json(credential), "active": active}


async def activate_key(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    return await _set_active(api, req, True)


async def deactivate_key(api: AdminApi, req: AdminRequest) -> tuple[int, Any]:
    return await _set_active(api, req, False)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/_admin/users", list_users),
    Route("POST", "/_admin/users", create_user),
    Route("GET", "/_admin/users/{name}", get_user),
    Route("DELETE", "/_admin/users/{name}", delete_user),
    Route("PUT", "/_admin/users/{name}/email", set_user_email),
    Route("GET", "/_admin/users/{name}/keys", list_user_keys),
    Route("POST", "/_admin/users/{name}/keys", create_key),
    Route("GET", "/_admin/keys", list_keys),
    Route("DELETE", "/_admin/keys/{access_key}", delete_key),
    Route("POST", "/_admin/keys/{access_key}/activate", activate_key),
    Route("POST", "/_admin/keys/{access_key}/deactivate", deactivate_key),
)
