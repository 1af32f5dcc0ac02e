"""Small pieces several operation families share: owners, dates, object headers, key rules."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache

from s3server.metadata.base import NULL_VERSION, ObjectRecord
from s3server.s3.errors import S3Error

MAX_KEY_BYTES = 1024
MAX_USER_METADATA = 2048
META_PREFIX = "x-amz-meta-"
# Representation headers stored with the object and returned as sent.
STORED_HEADERS = ("Content-Encoding", "Content-Disposition", "Content-Language", "Cache-Control", "Expires")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_VERSION_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")


def new_version_id() -> str:
    """An opaque, URL-safe version id (192 random bits); the store orders versions, not the id."""
    return secrets.token_urlsafe(24)


def requested_version(query: Mapping[str, str]) -> str | None:
    """The `versionId` query parameter, validated as AWS does, or None when absent."""
    value = query.get("versionId")
    return None if value is None else valid_version_id(value, "versionId")


def is_version_id(value: str) -> bool:
    """Whether a version could have this id here ("null", or one this server hands out)."""
    return value == NULL_VERSION or _VERSION_ID.match(value) is not None


def valid_version_id(value: str, argument: str) -> str:
    """A version id as a request names it: "null" or one of ours, else InvalidArgument."""
    if value == "":
        raise S3Error(
            "InvalidArgument",
            "Version id cannot be the empty string",
            ArgumentName=argument,
            ArgumentValue=value,
        )
    if not is_version_id(value):
        raise S3Error(
            "InvalidArgument", "Invalid version id specified", ArgumentName=argument, ArgumentValue=value
        )
    return value


@lru_cache(maxsize=1024)
def owner_id(user: str) -> str:
    """A stable 64-hex canonical user id, shaped like AWS's."""
    return hashlib.sha256(f"s3server-owner:{user}".encode()).hexdigest()


@lru_cache(maxsize=4096)  # every GET and HEAD formats its object's date; hot objects repeat
def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date as an aware datetime, or None when absent or unparseable (then the header is ignored)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def as_timestamp(value: str) -> datetime | None:
    """A timestamp as botocore sends one (an HTTP date; ISO 8601 also taken), aware, or None."""
    parsed = parse_http_date(value.strip())
    if parsed is not None:
        return parsed
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def validate_key(key: str) -> None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error(
            "KeyTooLongError", Size=str(len(key.encode("utf-8", "surrogatepass"))), MaxSizeAllowed="1024"
        )


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """x-amz-meta-* headers (prefix removed, names lower-cased); over 2 KB → MetadataTooLarge."""
    meta: dict[str, str] = {}
    total = 0
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(META_PREFIX):
            short = lower[len(META_PREFIX) :]
            total += len(short.encode()) + len(value.encode())
            meta[short] = f"{meta[short]},{value}" if short in meta else value
    if total > MAX_USER_METADATA:
        raise S3Error("MetadataTooLarge", Size=str(total), MaxSizeAllowed=str(MAX_USER_METADATA))
    return meta


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The representation headers to keep; aws-chunked is transport framing, not the object's encoding."""
    kept = {name: headers[name] for name in STORED_HEADERS if name in headers}
    if "Content-Encoding" in kept:
        codings = [
            c.strip() for c in kept["Content-Encoding"].split(",") if c.strip().lower() != "aws-chunked"
        ]
        if codings:
            kept["Content-Encoding"] = ", ".join(codings)
        else:
            del kept["Content-Encoding"]
    return kept


def object_headers(record: ObjectRecord) -> dict[str, str]:
    """The headers GetObject and HeadObject return for a record (before response-* overrides)."""
    out = {
        "ETag": f'"{record.etag}"',
        "Last-Modified": http_date(record.last_modified),
        "Content-Type": record.content_type,
        "Accept-Ranges": "bytes",
    }
    out.update(record.headers)
    for name, value in record.user_metadata.items():
        out[META_PREFIX + name] = value
    if record.storage_class != "STANDARD":
        out["x-amz-storage-class"] = record.storage_class
    if record.tags:
        out["x-amz-tagging-count"] = str(len(record.tags))
    return out
