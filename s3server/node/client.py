"""A gateway's view of one storage node: signed requests, and whether the node is up.

A node is marked down by the first request that cannot reach it (refused, reset, timed out) and up
again by the next health probe that it answers; placement puts nodes that are down last, so
writes move on to the next node in the hash order while reads still try them when nothing else
has the blob.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from s3server.node.signing import sign
from s3server.storage.base import StorageError

log = logging.getLogger("s3server.nodes")

# What a node that went away looks like to a client (rather than a node that answered an error).
UNREACHABLE: tuple[type[BaseException], ...] = (aiohttp.ClientError, OSError, TimeoutError)


def parse_nodes(entries: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """`--storage-nodes` entries (each `URL` or `ID=URL`, comma-separated or repeated) as
    (placement name, base URL) pairs. Without an ID the URL names the node, so every gateway must be
    given the same list."""
    nodes: list[tuple[str, str]] = []
    for entry in entries:
        for item in entry.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, url = item.partition("=")
            if not sep or "://" in name:
                name, url = item, item
            url = url.rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"storage node {item!r}: expected http://HOST:PORT or ID=http://HOST:PORT")
            nodes.append((name.rstrip("/"), url))
    names = [n for n, _ in nodes]
    if len(set(names)) != len(names):
        raise ValueError("--storage-nodes names a node twice")
    return nodes


@dataclass
class NodeState:
    up: bool = True  # optimistic until something fails: a fresh gateway writes at once
    since: float = 0.0
    error: str = ""
    node_id: str = ""  # what the node calls itself (from /health)
    failures: int = 0  # requests that could not reach it, since start


class StorageNode:
    """One node: its name in the hash order, its URL, its state."""

    def __init__(self, name: str, url: str, secret: str) -> None:
        self.name = name
        self.url = url
        self._secret = secret
        self.state = NodeState(since=time.time())
        self.session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"StorageNode({self.name})"

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: aiohttp.ClientTimeout | None = None,
        **kwargs: Any,
    ) -> Any:
        """A signed request (an aiohttp request context manager); the query is encoded once here,
        so that the node verifies exactly the bytes that were signed."""
        assert self.session is not None, "the blob store is not open"
        path_qs = path + ("?" + urlencode(params) if params else "")
        headers = sign(self._secret, method, path_qs)
        return self.session.request(
            method, URL(self.url + path_qs, encoded=True), headers=headers, timeout=timeout, **kwargs
        )

    async def call(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """A request whose answer is JSON; a node error or an unreachable node is a StorageError."""
        try:
            async with self.request(method, path, params, **kwargs) as resp:
                value = await resp.json(content_type=None)
                if resp.status != 200:
                    raise StorageError(f"{self.name}: {method} {path}: {resp.status} {_message(value)}")
                return value
        except UNREACHABLE as exc:
            self.unreachable(exc)
            raise StorageError(f"{self.name}: {method} {path}: {_describe(exc)}") from exc

    def unreachable(self, exc: BaseException) -> None:
        """A request could not reach the node: placement skips it until a probe finds it again."""
        self.state.failures += 1
        self.mark(False, _describe(exc))

    def mark(self, up: bool, error: str = "") -> None:
        state = self.state
        if state.up != up:
            state.since = time.time()
            if up:
                log.warning("storage node %s is back", self.name)
            else:
                log.error("storage node %s is down: %s", self.name, error)
        state.up = up
        state.error = "" if up else error

    async def probe(self, timeout: float) -> dict[str, Any]:
        """GET /health; marks the node up or down, returns what it said (raises StorageError)."""
        try:
            async with self.request("GET", "/health", timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                value = await resp.json(content_type=None)
        except UNREACHABLE as exc:
            self.mark(False, _describe(exc))
            raise StorageError(f"{self.name}: {_describe(exc)}") from exc
        if resp.status != 200:
            self.mark(False, _message(value))
            raise StorageError(f"{self.name}: {resp.status} {_message(value)}")
        self.state.node_id = str(value.get("node_id", ""))
        self.mark(True)
        return value  # type: ignore[no-any-return]


def _message(value: Any) -> str:
    return str(value.get("error", value)) if isinstance(value, dict) else str(value)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
