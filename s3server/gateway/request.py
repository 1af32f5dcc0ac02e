"""The request as the signature checks see it: a leaf module, so that `auth`, `sigv4` and `sigv2`
all depend on it and not on one another in a circle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RequestView"]


@dataclass(frozen=True, slots=True)
class RequestView:
    """What signature checks need from an HTTP request, as it came off the wire."""

    method: str
    raw_path: str  # percent-encoded path exactly as sent, no query ("/bucket/my%20key")
    raw_query: str  # query string exactly as sent, without "?" ("" if none)
    headers: Mapping[str, str]  # case-insensitive (aiohttp CIMultiDictProxy); getall() used when present
    virtual_bucket: str | None = None  # bucket taken from the Host header (virtual-hosted style)
