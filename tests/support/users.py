"""Users and access keys on a running test server, through its JSON admin API (as root)."""

from __future__ import annotations

import itertools
import os
from typing import Any

import boto3
from botocore.config import Config

from s3server.admin_cli import AdminClient
from tests.support.server import RunningServer

_numbers = itertools.count()


def admin_client(server: RunningServer) -> AdminClient:
    return AdminClient(server.endpoint, server.access_key, server.secret_key, server.ca_bundle)


def unique_name(prefix: str = "user") -> str:
    """A user (or bucket) name no other test of this session uses."""
    return f"{prefix}-{os.getpid()}-{next(_numbers)}"


def create_user(
    server: RunningServer, name: str | None = None, *, admin: bool = False, email: str | None = None
) -> tuple[str, str, str]:
    """(name, access key id, secret) of a new user (with an e-mail address when given)."""
    name = name or unique_name()
    body: dict[str, Any] = {"name": name, "admin": admin}
    if email is not None:
        body["email"] = email
    answer = admin_client(server).expect("POST", "/_admin/users", body)
    return name, answer["access_key_id"], answer["secret_access_key"]


def client_for(server: RunningServer, access_key: str, secret_key: str, **config: Any) -> Any:
    options: dict[str, Any] = {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}}
    options.update(config)
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        verify=server.ca_bundle or True,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(**options),
    )


def user_client(server: RunningServer, **config: Any) -> tuple[str, Any]:
    """(user name, boto3 client signing as that new user)."""
    name, access_key, secret_key = create_user(server)
    return name, client_for(server, access_key, secret_key, **config)
