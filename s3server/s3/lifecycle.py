"""A bucket's lifecycle configuration: PutBucketLifecycleConfiguration (and the legacy PutBucketLifecycle
shape, the same request), GetBucketLifecycleConfiguration, DeleteBucketLifecycle, and the
`x-amz-expiration` header of object answers.

A configuration is validated as AWS validates it and kept as JSON in botocore's shape
({"Rules": [{"ID", "Status", "Filter" | "Prefix", "Expiration", …}]}), so Get answers exactly what was
put. `Rule` is the evaluated form the header and the lifecycle worker (`s3server.lifecycle`) read.

"Days" in rules are `--lifecycle-day-seconds` long (86400 by default). A due time is the start (an
object's last modification, the moment a version became noncurrent, an upload's initiation) plus the
days, rounded up to the next day boundary: the next midnight UTC, as AWS does, when a day is 86400 s;
with shorter days, the next multiple of the day length since the epoch (whole seconds for 1).

There is one storage tier here, so every transition is refused with InvalidStorageClass (what AWS
answers for a storage class it does not offer); a transition to a class outside botocore's
TransitionStorageClass enumeration is MalformedXML.
"""

from __future__ import annotations

import json
import math
import secrets
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from s3server.metadata.base import MetadataStore, ObjectRecord
from s3server.s3 import xml
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, require_bucket
from s3server.s3.common import http_date
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error

MAX_RULES = 1000
MAX_ID = 255
MAX_NEWER_NONCURRENT = 100
MAX_LIFECYCLE_BODY = 1024 * 1024
TRANSITION_CLASSES = frozenset(
    {"GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"}
)
# The storage classes a transition may move objects to here: none, one tier holds everything.
AVAILABLE_TRANSITION_CLASSES: frozenset[str] = frozenset()
CACHE_SECONDS = 1.0  # how long a process reuses a bucket's rules for x-amz-expiration
_RULE_CHILDREN = frozenset(
    {
        "ID",
        "Prefix",
        "Filter",
        "Status",
        "Expiration",
        "Transition",
        "NoncurrentVersionTransition",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
    }
)
_ACTIONS = ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload")
_FILTER_PREDICATES = ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And")


# -- the evaluated form


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as the header and the worker apply it."""

    id: str
    enabled: bool
    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    size_gt: int | None = None
    size_lt: int | None = None
    days: int | None = None  # Expiration Days
    date: datetime | None = None  # Expiration Date
    expired_markers: bool = False  # Expiration ExpiredObjectDeleteMarker
    noncurrent_days: int | None = None
    newer_noncurrent: int = 0  # noncurrent versions kept whatever their age
    abort_days: int | None = None

    @property
    def expires_current(self) -> bool:
        return self.days is not None or self.date is not None

    @property
    def expires_versions(self) -> bool:
        return self.noncurrent_days is not None or self.expired_markers

    def size_matches(self, size: int) -> bool:
        return (self.size_gt is None or size > self.size_gt) and (self.size_lt is None or size < self.size_lt)

    def tags_match(self, tags: Mapping[str, str]) -> bool:
        return all(tags.get(key) == value for key, value in self.tags)

    def matches(self, key: str, size: int, tags: Mapping[str, str]) -> bool:
        return key.startswith(self.prefix) and self.size_matches(size) and self.tags_match(tags)

    def current_due(self, last_modified: datetime, day_seconds: float) -> datetime | None:
        """When a current version last modified then expires under this rule (None: never)."""
        if self.date is not None:
            return self.date
        if self.days is not None:
            return due(last_modified, self.days, day_seconds)
        return None

    def upload_due(self, initiated: datetime, day_seconds: float) -> datetime | None:
        """When an upload initiated then becomes eligible for abort under this rule (None: never).
        Uploads match on the prefix alone: tags cannot go with this action, and sizes are unknown."""
        if not self.enabled or self.abort_days is None:
            return None
        return due(initiated, self.abort_days, day_seconds)

    def expired_before(self, now: datetime, day_seconds: float) -> datetime | None:
        """Current versions last modified at or before this have expired by `now` (None: none has):
        current_due(t) <= now exactly when t <= this, so a scan compares instead of computing."""
        if self.date is not None:
            return datetime.max.replace(tzinfo=UTC) if self.date <= now else None
        if self.days is None:
            return None
        boundary = math.floor(now.timestamp() / day_seconds) * day_seconds
        return datetime.fromtimestamp(boundary - self.days * day_seconds, UTC)


def due(start: datetime, days: int, day_seconds: float) -> datetime:
    """`start` plus `days` days, rounded up to the next day boundary (see the module docstring)."""
    end = start.timestamp() + days * day_seconds
    return datetime.fromtimestamp(math.ceil(end / day_seconds) * day_seconds, UTC)


def rules_of(config: str | None) -> list[Rule]:
    """The evaluated rules of a stored configuration (JSON), in their order."""
    if not config:
        return []
    return [_evaluated(rule) for rule in json.loads(config)["Rules"]]


def _evaluated(rule: dict[str, Any]) -> Rule:
    flt = rule.get("Filter", {})
    spec = flt.get("And", flt)
    prefix = rule.get("Prefix", spec.get("Prefix", ""))
    tags = [spec["Tag"]] if "Tag" in spec else spec.get("Tags", [])
    expiration = rule.get("Expiration", {})
    noncurrent = rule.get("NoncurrentVersionExpiration", {})
    abort = rule.get("AbortIncompleteMultipartUpload", {})
    return Rule(
        id=rule["ID"],
        enabled=rule["Status"] == "Enabled",
        prefix=prefix,
        tags=tuple((t["Key"], t["Value"]) for t in tags),
        size_gt=spec.get("ObjectSizeGreaterThan"),
        size_lt=spec.get("ObjectSizeLessThan"),
        days=expiration.get("Days"),
        date=_parse_date(expiration["Date"]) if "Date" in expiration else None,
        expired_markers=bool(expiration.get("ExpiredObjectDeleteMarker")),
        noncurrent_days=noncurrent.get("NoncurrentDays"),
        newer_noncurrent=noncurrent.get("NewerNoncurrentVersions", 0),
        abort_days=abort.get("DaysAfterInitiation"),
    )


def current_expiry(
    rules: list[Rule], record: ObjectRecord, day_seconds: float
) -> tuple[datetime, str] | None:
    """(expiry date, rule id) of the earliest enabled expiration rule that applies to a current version."""
    best: tuple[datetime, str] | None = None
    for rule in rules:
        if not rule.enabled or not rule.expires_current:
            continue
        if not rule.matches(record.key, record.size, record.tags):
            continue
        when = rule.current_due(record.last_modified, day_seconds)
        if when is not None and (best is None or when < best[0]):
            best = (when, rule.id)
    return best


def upload_abort(
    rules: list[Rule], key: str, initiated: datetime, day_seconds: float
) -> tuple[datetime, str] | None:
    """(abort date, rule id) of the earliest enabled AbortIncompleteMultipartUpload rule for `key`."""
    best: tuple[datetime, str] | None = None
    for rule in rules:
        when = rule.upload_due(initiated, day_seconds) if key.startswith(rule.prefix) else None
        if when is not None and (best is None or when < best[0]):
            best = (when, rule.id)
    return best


# -- x-amz-expiration and x-amz-abort-date

_cache: weakref.WeakKeyDictionary[Any, dict[str, tuple[float, list[Rule]]]] = weakref.WeakKeyDictionary()


async def bucket_rules(meta: MetadataStore, bucket: str) -> list[Rule]:
    """A bucket's rules, reused for CACHE_SECONDS (object answers ask on every request)."""
    per_store = _cache.setdefault(meta, {})
    hit = per_store.get(bucket)
    clock = time.monotonic()
    if hit is not None and hit[0] > clock:
        return hit[1]
    rules = rules_of(await meta.get_bucket_lifecycle(bucket))
    if len(per_store) > 4096:
        per_store.clear()
    per_store[bucket] = (clock + CACHE_SECONDS, rules)
    return rules


def _forget(meta: MetadataStore, bucket: str) -> None:
    _cache.get(meta, {}).pop(bucket, None)


async def expiration_headers(req: S3Request, record: ObjectRecord) -> dict[str, str]:
    """`x-amz-expiration` for the current version `record` when an enabled rule expires it."""
    if not record.is_latest or record.delete_marker:
        return {}
    rules = await bucket_rules(req.services.meta, record.bucket)
    if not rules:
        return {}
    found = current_expiry(rules, record, req.services.settings.lifecycle_day_seconds)
    if found is None:
        return {}
    when, rule_id = found
    return {"x-amz-expiration": f'expiry-date="{http_date(when)}", rule-id="{_quoted(rule_id)}"'}


async def abort_headers(req: S3Request, bucket: str, key: str, initiated: datetime) -> dict[str, str]:
    """`x-amz-abort-date` and `x-amz-abort-rule-id` (CreateMultipartUpload, ListParts) when an enabled
    AbortIncompleteMultipartUpload rule applies to the upload's key."""
    rules = await bucket_rules(req.services.meta, bucket)
    found = upload_abort(rules, key, initiated, req.services.settings.lifecycle_day_seconds)
    if found is None:
        return {}
    when, rule_id = found
    return {"x-amz-abort-date": http_date(when), "x-amz-abort-rule-id": rule_id}


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


# -- parsing and validation (each refusal changes nothing: the configuration is stored whole or not)


def _malformed() -> S3Error:
    return S3Error("MalformedXML")


def _invalid(message: str, name: str | None = None, value: str | None = None) -> S3Error:
    fields = {} if name is None else {"ArgumentName": name, "ArgumentValue": value or ""}
    return S3Error("InvalidArgument", message, **fields)


def _only(el: etree._Element, name: str) -> etree._Element | None:
    found = xml.children(el, name)
    if len(found) > 1:
        raise _malformed()
    return found[0] if found else None


def _text(el: etree._Element, name: str) -> str | None:
    child = _only(el, name)
    return None if child is None else (child.text or "")


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise _malformed() from None


def _positive(el: etree._Element, name: str, message: str) -> int | None:
    text = _text(el, name)
    if text is None:
        return None
    value = _integer(text)
    if value <= 0:
        raise _invalid(message)
    return value


def _parse_date(text: str) -> datetime:
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _known(el: etree._Element, allowed: frozenset[str] | tuple[str, ...]) -> None:
    for child in el:
        if isinstance(child.tag, str) and xml.local(child) not in allowed:
            raise _malformed()


def _tag(el: etree._Element) -> dict[str, str]:
    _known(el, ("Key", "Value"))
    key, value = _text(el, "Key"), _text(el, "Value")
    if key is None or value is None:
        raise _malformed()
    return {"Key": key, "Value": value}


def _sizes(el: etree._Element, out: dict[str, Any]) -> None:
    for name in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        text = _text(el, name)
        if text is not None:
            value = _integer(text)
            if value < 0:
                raise _invalid(f"'{name}' must be a non-negative integer")
            out[name] = value
    low, high = out.get("ObjectSizeGreaterThan"), out.get("ObjectSizeLessThan")
    if low is not None and high is not None and low >= high:
        raise _invalid("ObjectSizeGreaterThan must be less than ObjectSizeLessThan")


def _filter(el: etree._Element) -> dict[str, Any]:
    """A Filter: at most one predicate, or several inside And."""
    _known(el, _FILTER_PREDICATES)
    present = [name for name in _FILTER_PREDICATES if xml.children(el, name)]
    if len(present) > 1:
        raise _malformed()
    out: dict[str, Any] = {}
    if not present:
        return out
    if present[0] == "Prefix":
        out["Prefix"] = _text(el, "Prefix") or ""
    elif present[0] == "Tag":
        tag = _only(el, "Tag")
        assert tag is not None
        out["Tag"] = _tag(tag)
    elif present[0] == "And":
        conj = _only(el, "And")
        assert conj is not None
        _known(conj, ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"))
        inner: dict[str, Any] = {}
        prefix = _text(conj, "Prefix")
        if prefix is not None:
            inner["Prefix"] = prefix
        tags = [_tag(t) for t in xml.children(conj, "Tag")]
        if len({t["Key"] for t in tags}) != len(tags):
            raise S3Error("InvalidRequest", "Duplicate Tag Keys are not allowed.")
        if tags:
            inner["Tags"] = tags
        _sizes(conj, inner)
        out["And"] = inner
    else:
        _sizes(el, out)
    return out


def _expiration(el: etree._Element) -> dict[str, Any]:
    _known(el, ("Days", "Date", "ExpiredObjectDeleteMarker"))
    out: dict[str, Any] = {}
    days = _positive(el, "Days", "'Days' for Expiration action must be a positive integer")
    date = _text(el, "Date")
    marker = _text(el, "ExpiredObjectDeleteMarker")
    if sum(v is not None for v in (days, date, marker)) != 1:
        # Days and Date exclude each other, and ExpiredObjectDeleteMarker goes with neither.
        raise _malformed()
    if days is not None:
        out["Days"] = days
    if date is not None:
        try:
            when = _parse_date(date)
        except ValueError:
            raise _malformed() from None
        if (when.hour, when.minute, when.second, when.microsecond) != (0, 0, 0, 0):
            raise _invalid("'Date' must be at midnight GMT")
        out["Date"] = xml.iso8601(when)
    if marker is not None:
        if marker.strip() not in ("true", "false"):
            raise _malformed()
        out["ExpiredObjectDeleteMarker"] = marker.strip() == "true"
    return out


def _noncurrent(el: etree._Element) -> dict[str, Any]:
    _known(el, ("NoncurrentDays", "NewerNoncurrentVersions"))
    days = _positive(
        el,
        "NoncurrentDays",
        "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
    )
    if days is None:
        raise _malformed()
    out: dict[str, Any] = {"NoncurrentDays": days}
    newer = _text(el, "NewerNoncurrentVersions")
    if newer is not None:
        count = _integer(newer)
        if not 1 <= count <= MAX_NEWER_NONCURRENT:
            raise _invalid(
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive "
                f"integer up to {MAX_NEWER_NONCURRENT}"
            )
        out["NewerNoncurrentVersions"] = count
    return out


def _abort(el: etree._Element) -> dict[str, Any]:
    _known(el, ("DaysAfterInitiation",))
    days = _positive(
        el,
        "DaysAfterInitiation",
        "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
    )
    if days is None:
        raise _malformed()
    return {"DaysAfterInitiation": days}


def _transition(el: etree._Element) -> None:
    """Transitions are checked as AWS checks them, then refused: no storage class to move to."""
    _known(el, ("Days", "Date", "StorageClass", "NoncurrentDays", "NewerNoncurrentVersions"))
    storage_class = _text(el, "StorageClass")
    if storage_class is None or storage_class not in TRANSITION_CLASSES:
        raise _malformed()
    if storage_class not in AVAILABLE_TRANSITION_CLASSES:
        raise S3Error("InvalidStorageClass", "The storage class you specified is not valid")


def _rule(el: etree._Element) -> dict[str, Any]:
    _known(el, _RULE_CHILDREN)
    out: dict[str, Any] = {}
    rule_id = _text(el, "ID")
    if rule_id is not None and len(rule_id) > MAX_ID:
        raise _invalid(f"ID length should not exceed allowed limit of {MAX_ID}", "ID", rule_id)
    # AWS names a rule sent without an ID.
    out["ID"] = rule_id if rule_id else secrets.token_urlsafe(36)[:48]
    legacy_prefix = _text(el, "Prefix")
    flt = _only(el, "Filter")
    if legacy_prefix is not None and flt is not None:
        raise _malformed()
    if legacy_prefix is not None:
        out["Prefix"] = legacy_prefix
    if flt is not None:
        out["Filter"] = _filter(flt)
    status = _text(el, "Status")
    if status not in ("Enabled", "Disabled"):
        raise _malformed()
    out["Status"] = status
    for name, parse in (
        ("Expiration", _expiration),
        ("NoncurrentVersionExpiration", _noncurrent),
        ("AbortIncompleteMultipartUpload", _abort),
    ):
        child = _only(el, name)
        if child is not None:
            out[name] = parse(child)
    transitions = xml.children(el, "Transition") + xml.children(el, "NoncurrentVersionTransition")
    if not transitions and not any(
        name in out
        for name in ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload")
    ):
        raise S3Error("InvalidRequest", "At least one action needs to be specified in a rule")
    evaluated = _evaluated(out)
    if evaluated.tags and evaluated.abort_days is not None:
        raise S3Error("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags.")
    if evaluated.tags and evaluated.expired_markers:
        raise S3Error("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Tags.")
    for transition in transitions:
        _transition(transition)
    return out


def parse_configuration(body: bytes) -> dict[str, Any]:
    """A LifecycleConfiguration document as the JSON-able configuration kept on the bucket."""
    root = xml.parse(body)
    if xml.local(root) != "LifecycleConfiguration":
        raise _malformed()
    _known(root, ("Rule",))
    elements = xml.children(root, "Rule")
    if not elements:
        raise _malformed()
    if len(elements) > MAX_RULES:
        raise S3Error(
            "InvalidRequest",
            f"The number of lifecycle rules should not exceed allowed limit of {MAX_RULES} rules",
        )
    rules = [_rule(el) for el in elements]
    seen: set[str] = set()
    prefixes: set[str] = set()
    for rule in rules:
        if rule["ID"] in seen:
            raise _invalid("Rule ID must be unique. Found same ID for more than one rule", "ID", rule["ID"])
        seen.add(rule["ID"])
        if "Prefix" in rule:  # the legacy shape: AWS refuses two rules of one prefix
            if rule["Prefix"] in prefixes:
                raise S3Error("InvalidRequest", f"Found two rules with same prefix '{rule['Prefix']}'")
            prefixes.add(rule["Prefix"])
    return {"Rules": rules}


# -- rendering


def _render_predicates(parent: etree._Element, spec: dict[str, Any]) -> None:
    if "Prefix" in spec:
        xml.sub(parent, "Prefix", spec["Prefix"])
    tags = [spec["Tag"]] if "Tag" in spec else spec.get("Tags", [])
    for tag in tags:
        el = xml.sub(parent, "Tag")
        xml.sub(el, "Key", tag["Key"])
        xml.sub(el, "Value", tag["Value"])
    for name in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        if name in spec:
            xml.sub(parent, name, spec[name])


def render_configuration(config: dict[str, Any]) -> bytes:
    root = xml.element("LifecycleConfiguration")
    for rule in config["Rules"]:
        el = xml.sub(root, "Rule")
        xml.sub(el, "ID", rule["ID"])
        if "Prefix" in rule:
            xml.sub(el, "Prefix", rule["Prefix"])
        if "Filter" in rule:
            flt = xml.sub(el, "Filter")
            if "And" in rule["Filter"]:
                _render_predicates(xml.sub(flt, "And"), rule["Filter"]["And"])
            else:
                _render_predicates(flt, rule["Filter"])
        xml.sub(el, "Status", rule["Status"])
        for name in _ACTIONS:
            if name in rule:
                action = xml.sub(el, name)
                for field, value in rule[name].items():
                    xml.sub(action, field, value)
    return xml.render(root)


# -- handlers


async def put_bucket_lifecycle_configuration(req: S3Request) -> S3Response:
    assert req.bucket is not None
    await require_bucket(req)
    body = await read_verified_body(req, MAX_LIFECYCLE_BODY)
    config = parse_configuration(body)
    meta = req.services.meta
    await meta.set_bucket_lifecycle(req.bucket, json.dumps(config, separators=(",", ":")))
    _forget(meta, req.bucket)
    return S3Response(headers={"x-amz-transition-default-minimum-object-size": "all_storage_classes_128K"})


async def get_bucket_lifecycle_configuration(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    config = await req.services.meta.get_bucket_lifecycle(bucket.name)
    if config is None:
        raise S3Error("NoSuchLifecycleConfiguration", BucketName=bucket.name)
    headers = dict(XML_HEADERS)
    headers["x-amz-transition-default-minimum-object-size"] = "all_storage_classes_128K"
    return S3Response(body=render_configuration(json.loads(config)), headers=headers)


async def delete_bucket_lifecycle(req: S3Request) -> S3Response:
    assert req.bucket is not None
    await require_bucket(req)
    meta = req.services.meta
    await meta.set_bucket_lifecycle(req.bucket, None)
    _forget(meta, req.bucket)
    return S3Response(status=204)


HANDLERS = {
    "PutBucketLifecycleConfiguration": put_bucket_lifecycle_configuration,
    "GetBucketLifecycleConfiguration": get_bucket_lifecycle_configuration,
    "DeleteBucketLifecycle": delete_bucket_lifecycle,
}
