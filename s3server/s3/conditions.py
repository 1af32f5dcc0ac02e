"""Conditional requests (RFC 7232 precedence, as S3 applies it) and byte ranges (RFC 7233, one range)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from s3server.metadata.base import DeleteCondition, WriteCondition
from s3server.s3.common import as_timestamp, parse_http_date
from s3server.s3.errors import S3Error


def _etags(value: str) -> list[str]:
    return [part.strip().removeprefix("W/").strip('"') for part in value.split(",") if part.strip()]


def etag_matches(header: str, etag: str) -> bool:
    tags = _etags(header)
    return "*" in tags or etag in tags


def check_preconditions(
    headers: Mapping[str, str],
    etag: str,
    last_modified: datetime,
    *,
    prefix: str = "",
    read: bool = True,
) -> None:
    """Raise 412 PreconditionFailed or 304 NotModified (reads only) per RFC 7232 section 6.

    `prefix` selects the copy-source variants (x-amz-copy-source-if-match …), which fail with 412 only.
    """
    # HTTP dates have whole seconds; the truncated time is made only when a date is compared.
    if_match = headers.get(prefix + "If-Match")
    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise S3Error("PreconditionFailed", Condition=prefix + "If-Match")
    else:
        since = parse_http_date(headers.get(prefix + "If-Unmodified-Since"))
        if since is not None and last_modified.replace(microsecond=0) > since:
            raise S3Error("PreconditionFailed", Condition=prefix + "If-Unmodified-Since")
    if_none_match = headers.get(prefix + "If-None-Match")
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            if read and not prefix:
                raise S3Error("NotModified", headers={"ETag": f'"{etag}"'})
            raise S3Error("PreconditionFailed", Condition=prefix + "If-None-Match")
    else:
        since = parse_http_date(headers.get(prefix + "If-Modified-Since"))
        if since is not None and last_modified.replace(microsecond=0) <= since:
            if read and not prefix:
                raise S3Error("NotModified", headers={"ETag": f'"{etag}"'})
            raise S3Error("PreconditionFailed", Condition=prefix + "If-Modified-Since")


def write_condition(headers: Mapping[str, str]) -> WriteCondition | None:
    """If-None-Match: * / If-Match: "<etag>" on a write (PutObject, CompleteMultipartUpload,
    CopyObject), checked by the metadata store at commit time.

    Like AWS, If-None-Match takes only `*`, and the two headers cannot be combined.
    """
    if_none_match = headers.get("If-None-Match")
    if_match = headers.get("If-Match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise S3Error(
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
            Header="If-None-Match",
        )
    if if_none_match is not None and if_match is not None:
        raise S3Error(
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
            Header="If-Match",
        )
    if if_none_match is not None:
        return WriteCondition(if_none_match=True)
    if if_match is not None:
        return WriteCondition(if_match=if_match)
    return None


def delete_condition(
    if_match: str | None, last_modified: str | None, size: str | None, *, source: str = "header"
) -> DeleteCondition | None:
    """DeleteObject's If-Match / x-amz-if-match-last-modified-time / x-amz-if-match-size (or a
    DeleteObjects entry's ETag / LastModifiedTime / Size), checked by the metadata store in the
    deleting transaction. A value that cannot be read is refused (InvalidArgument) rather than
    ignored: an ignored condition would delete what the caller meant to protect.

    More lenient than AWS: general purpose buckets there refuse the size and time conditions, which
    only directory buckets evaluate; here every bucket evaluates all three, as the reference
    describes them.
    """
    if if_match is None and last_modified is None and size is None:
        return None
    when = None
    if last_modified is not None:
        when = as_timestamp(last_modified)
        if when is None:
            name = "x-amz-if-match-last-modified-time" if source == "header" else "LastModifiedTime"
            raise S3Error(
                "InvalidArgument", f"Invalid {name}", ArgumentName=name, ArgumentValue=last_modified
            )
    wanted = None
    if size is not None:
        text = size.strip()
        if not text.isdigit():
            name = "x-amz-if-match-size" if source == "header" else "Size"
            raise S3Error("InvalidArgument", f"Invalid {name}", ArgumentName=name, ArgumentValue=size)
        wanted = int(text)
    return DeleteCondition(if_match=if_match, last_modified=when, size=wanted)


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range `value` asks for as (start, end inclusive), or None to send everything.

    Syntax S3 does not honour (several ranges, other units, end before start) is ignored like AWS
    does; a well-formed range that the object cannot satisfy is 416 InvalidRange.
    """
    if value is None:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(value, size)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(value, size)
    return start, min(end, size - 1)


def _unsatisfiable(value: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange",
        headers={"Content-Range": f"bytes */{size}"},
        RangeRequested=value,
        ActualObjectSize=str(size),
    )
