"""Object Lock: the bucket's lock configuration (default retention), per-version retention and legal
hold, and the lock headers a write may carry.

PutObjectLockConfiguration, GetObjectLockConfiguration, PutObjectRetention, GetObjectRetention,
PutObjectLegalHold, GetObjectLegalHold. Whether a version may be removed is decided by the metadata
store inside the deleting transaction (`ObjectRecord.locked`); this module only parses, validates and
renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from s3server.metadata.base import Bucket, ObjectRecord, RetentionChange
from s3server.s3 import xml
from s3server.s3.buckets import XML_HEADERS, require_bucket, require_object
from s3server.s3.common import now
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error

MODES = ("GOVERNANCE", "COMPLIANCE")
BYPASS_HEADER = "x-amz-bypass-governance-retention"
BYPASS_PERMISSION = "s3:BypassGovernanceRetention"
_MAX_DAYS = 36500  # AWS caps a default retention at 100 years
_NO_CONFIGURATION = "Bucket is missing Object Lock Configuration"


@dataclass(frozen=True, slots=True)
class DefaultRetention:
    mode: str
    days: int | None = None
    years: int | None = None

    def until(self, start: datetime) -> datetime:
        if self.days is not None:
            return start + timedelta(days=self.days)
        assert self.years is not None
        return start + timedelta(days=365 * self.years)


def default_retention(bucket: Bucket) -> DefaultRetention | None:
    """The bucket's default retention rule, None when it has no lock or no rule."""
    if not bucket.object_lock:
        return None
    rule = json.loads(bucket.object_lock)
    if not rule.get("Mode"):
        return None
    return DefaultRetention(rule["Mode"], rule.get("Days"), rule.get("Years"))


def _positive(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise S3Error("MalformedXML") from exc
    if value <= 0:
        raise S3Error("InvalidArgument", "Default retention period must be a positive integer value")
    return value


def parse_lock_configuration(body: bytes) -> dict[str, object]:
    """An ObjectLockConfiguration document as the JSON kept on the bucket ({} for no default rule)."""
    root = xml.parse(body)
    if xml.local(root) != "ObjectLockConfiguration":
        raise S3Error("MalformedXML")
    if xml.child_text(root, "ObjectLockEnabled") != "Enabled":
        raise S3Error("MalformedXML")
    rules = xml.children(root, "Rule")
    if not rules:
        return {}
    if len(rules) > 1:
        raise S3Error("MalformedXML")
    retentions = xml.children(rules[0], "DefaultRetention")
    if len(retentions) != 1:
        raise S3Error("MalformedXML")
    retention = retentions[0]
    mode = xml.child_text(retention, "Mode")
    days = _positive(xml.child_text(retention, "Days"))
    years = _positive(xml.child_text(retention, "Years"))
    if mode not in MODES:
        raise S3Error("MalformedXML")
    if (days is None) == (years is None):
        raise S3Error("MalformedXML")
    if (days or 0) > _MAX_DAYS or (years or 0) * 365 > _MAX_DAYS:
        raise S3Error("InvalidRetentionPeriod", "Default retention period is too large.")
    config: dict[str, object] = {"Mode": mode}
    config.update({"Days": days} if days is not None else {"Years": years})
    return config


def _parse_date(text: str | None, header: bool) -> datetime:
    """An ISO 8601 timestamp (2026-01-01T00:00:00Z, with or without fraction)."""
    try:
        if not text:
            raise ValueError(text)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        if header:
            raise S3Error(
                "InvalidArgument",
                "The retain until date must be provided in ISO 8601 format",
                ArgumentName="x-amz-object-lock-retain-until-date",
                ArgumentValue=text or "",
            ) from exc
        raise S3Error("MalformedXML") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _future(until: datetime, argument: str) -> None:
    if until <= now():
        raise S3Error(
            "InvalidArgument",
            "The retain until date must be in the future!",
            ArgumentName=argument,
            ArgumentValue=xml.iso8601(until),
        )


def _has_integrity_header(headers: Mapping[str, str]) -> bool:
    return (
        "Content-MD5" in headers
        or any(name.lower().startswith("x-amz-checksum-") for name in headers)
        or "x-amz-sdk-checksum-algorithm" in headers
        or "x-amz-trailer" in headers
    )


@dataclass(frozen=True, slots=True)
class WriteLock:
    """The lock a new version is written with (from headers, else the bucket's default rule)."""

    mode: str | None = None
    until: datetime | None = None
    legal_hold: bool = False


def write_lock(headers: Mapping[str, str], bucket: Bucket, require_integrity: bool = True) -> WriteLock:
    """The x-amz-object-lock-* headers of PutObject, CreateMultipartUpload or CopyObject, validated,
    with the bucket's default retention when the request names none. A body that carries a lock
    must come with Content-MD5 or a checksum (`require_integrity`), as AWS requires."""
    mode = headers.get("x-amz-object-lock-mode")
    until_text = headers.get("x-amz-object-lock-retain-until-date")
    hold = headers.get("x-amz-object-lock-legal-hold")
    asked = mode is not None or until_text is not None or hold is not None
    if asked and bucket.object_lock is None:
        raise S3Error("InvalidRequest", _NO_CONFIGURATION)
    if (mode is None) != (until_text is None):
        raise S3Error(
            "InvalidArgument",
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )
    if mode is not None and mode not in MODES:
        raise S3Error(
            "InvalidArgument",
            "Unknown wormMode directive.",
            ArgumentName="x-amz-object-lock-mode",
            ArgumentValue=mode,
        )
    if hold is not None and hold not in ("ON", "OFF"):
        raise S3Error(
            "InvalidArgument",
            "Legal Hold must be either of 'ON' or 'OFF'",
            ArgumentName="x-amz-object-lock-legal-hold",
            ArgumentValue=hold,
        )
    until = None
    if until_text is not None:
        until = _parse_date(until_text, header=True)
        _future(until, "x-amz-object-lock-retain-until-date")
    if asked and require_integrity and not _has_integrity_header(headers):
        raise S3Error(
            "InvalidRequest",
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object "
            "Lock parameters",
        )
    if mode is None:
        rule = default_retention(bucket)
        if rule is not None:
            mode, until = rule.mode, rule.until(now())
    return WriteLock(mode, until, hold == "ON")


def lock_headers(record: ObjectRecord) -> dict[str, str]:
    """What GetObject and HeadObject say of a version's lock."""
    out: dict[str, str] = {}
    if record.lock_mode and record.lock_until is not None:
        out["x-amz-object-lock-mode"] = record.lock_mode
        out["x-amz-object-lock-retain-until-date"] = xml.iso8601(record.lock_until)
    if record.legal_hold:
        out["x-amz-object-lock-legal-hold"] = "ON"
    return out


async def wants_bypass(req: S3Request) -> bool:
    """x-amz-bypass-governance-retention: true, from a principal allowed to use it (else AccessDenied)."""
    if req.headers.get(BYPASS_HEADER, "").lower() != "true":
        return False
    if req.authorize is not None:
        assert req.bucket is not None
        await req.authorize(BYPASS_PERMISSION, req.bucket, req.key)
    return True


async def _locked_bucket(req: S3Request) -> Bucket:
    bucket = await require_bucket(req)
    if bucket.object_lock is None:
        raise S3Error("InvalidRequest", _NO_CONFIGURATION)
    return bucket


# -- handlers


async def put_object_lock_configuration(req: S3Request) -> S3Response:
    assert req.bucket is not None
    config = parse_lock_configuration(await req.body.read(64 * 1024))
    bucket = await require_bucket(req)
    if bucket.versioning != "Enabled":
        raise S3Error(
            "InvalidBucketState",
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
        )
    await req.services.meta.set_bucket_object_lock(req.bucket, json.dumps(config, sort_keys=True))
    return S3Response()


async def get_object_lock_configuration(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    if bucket.object_lock is None:
        raise S3Error("ObjectLockConfigurationNotFoundError", BucketName=bucket.name)
    root = xml.element("ObjectLockConfiguration")
    xml.sub(root, "ObjectLockEnabled", "Enabled")
    rule = default_retention(bucket)
    if rule is not None:
        retention = xml.sub(xml.sub(root, "Rule"), "DefaultRetention")
        xml.sub(retention, "Mode", rule.mode)
        if rule.days is not None:
            xml.sub(retention, "Days", rule.days)
        else:
            xml.sub(retention, "Years", rule.years)
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


def _parse_retention(body: bytes) -> tuple[str | None, datetime | None]:
    root = xml.parse(body)
    if xml.local(root) != "Retention":
        raise S3Error("MalformedXML")
    mode = xml.child_text(root, "Mode")
    until_text = xml.child_text(root, "RetainUntilDate")
    if mode is None and until_text is None:
        return None, None  # an empty Retention removes it (GOVERNANCE with bypass only)
    if mode not in MODES or until_text is None:
        raise S3Error("MalformedXML")
    until = _parse_date(until_text, header=False)
    _future(until, "RetainUntilDate")
    return mode, until


async def put_object_retention(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    mode, until = _parse_retention(await req.body.read(64 * 1024))
    await _locked_bucket(req)
    record = await require_object(req)
    bypass = await wants_bypass(req)
    change = RetentionChange(mode=mode, until=until, bypass=bypass, at=now())
    updated = await req.services.meta.set_retention(req.bucket, req.key, record.version_id, change)
    if updated is None:
        raise S3Error("NoSuchVersion", Key=req.key, VersionId=record.version_id)
    return S3Response()


async def get_object_retention(req: S3Request) -> S3Response:
    await _locked_bucket(req)
    record = await require_object(req)
    if not record.lock_mode or record.lock_until is None:
        raise S3Error("NoSuchObjectLockConfiguration")
    root = xml.element("Retention")
    xml.sub(root, "Mode", record.lock_mode)
    xml.sub(root, "RetainUntilDate", xml.iso8601(record.lock_until))
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


async def put_object_legal_hold(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    root = xml.parse(await req.body.read(64 * 1024))
    status = xml.child_text(root, "Status")
    if xml.local(root) != "LegalHold" or status not in ("ON", "OFF"):
        raise S3Error("MalformedXML")
    await _locked_bucket(req)
    record = await require_object(req)
    updated = await req.services.meta.set_legal_hold(req.bucket, req.key, record.version_id, status == "ON")
    if updated is None:
        raise S3Error("NoSuchVersion", Key=req.key, VersionId=record.version_id)
    return S3Response()


async def get_object_legal_hold(req: S3Request) -> S3Response:
    await _locked_bucket(req)
    record = await require_object(req)
    root = xml.element("LegalHold")
    xml.sub(root, "Status", "ON" if record.legal_hold else "OFF")
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


HANDLERS = {
    "PutObjectLockConfiguration": put_object_lock_configuration,
    "GetObjectLockConfiguration": get_object_lock_configuration,
    "PutObjectRetention": put_object_retention,
    "GetObjectRetention": get_object_retention,
    "PutObjectLegalHold": put_object_legal_hold,
    "GetObjectLegalHold": get_object_legal_hold,
}
