"""A bucket's CORS rules: parsed and validated from CORSConfiguration XML, stored as JSON, matched.

PutBucketCors validates as AWS does (MalformedXML for a document that breaks the schema, InvalidRequest
for an unsupported method or a second wildcard); the stored form is JSON so that the per-process
bucket cache turns it back into rules without an XML parse. `match` picks the first rule that allows
an origin, a method and every requested header, which both the preflight (OPTIONS) and the
Access-Control-* headers of actual requests use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

from s3server.s3 import xml
from s3server.s3.errors import S3Error

MAX_RULES = 100
MAX_ID = 255
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")


@dataclass(frozen=True, slots=True)
class CorsRule:
    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    rule_id: str | None = None

    def allows_origin(self, origin: str) -> bool:
        return any(_wildcard(pattern, origin) for pattern in self.allowed_origins)

    def allows_headers(self, names: Iterable[str]) -> bool:
        """Every requested header (case-insensitive) matches one of AllowedHeader."""
        return all(
            any(_wildcard(pattern.lower(), name.lower()) for pattern in self.allowed_headers)
            for name in names
        )

    def any_origin(self) -> bool:
        return "*" in self.allowed_origins


def _wildcard(pattern: str, value: str) -> bool:
    """CORS patterns hold at most one '*', matching any run of characters."""
    head, star, tail = pattern.partition("*")
    if not star:
        return pattern == value
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def _texts(parent: object, name: str) -> tuple[str, ...]:
    return tuple((child.text or "").strip() for child in xml.children(parent, name))  # type: ignore[arg-type]


def _one_wildcard(values: Sequence[str], what: str) -> None:
    for value in values:
        if value.count("*") > 1:
            raise S3Error("InvalidRequest", f'{what} "{value}" can not have more than one wildcard.')


def parse_xml(body: bytes) -> tuple[CorsRule, ...]:
    """A PutBucketCors body → its rules, or the S3 error AWS gives for it."""
    root = xml.parse(body)
    if xml.local(root) != "CORSConfiguration":
        raise S3Error("MalformedXML")
    elements = xml.children(root, "CORSRule")
    if not elements or len(elements) > MAX_RULES:
        raise S3Error("MalformedXML")
    rules = []
    for element in elements:
        origins = _texts(element, "AllowedOrigin")
        methods = _texts(element, "AllowedMethod")
        if not origins or not methods:
            raise S3Error("MalformedXML")
        for method in methods:
            if method not in METHODS:
                raise S3Error(
                    "InvalidRequest",
                    f"Found unsupported HTTP method in CORS config. Unsupported method is {method}",
                )
        headers = _texts(element, "AllowedHeader")
        expose = _texts(element, "ExposeHeader")
        _one_wildcard(origins, "AllowedOrigin")
        _one_wildcard(headers, "AllowedHeader")
        for name in expose:
            if "*" in name:
                raise S3Error(
                    "InvalidRequest",
                    f'ExposeHeader "{name}" contains wildcard. We currently do not support wildcard for '
                    "ExposeHeader.",
                )
        max_age_text = xml.child_text(element, "MaxAgeSeconds")
        max_age = None
        if max_age_text is not None:
            try:
                max_age = int(max_age_text.strip())
            except ValueError as exc:
                raise S3Error("MalformedXML") from exc
        rule_id = xml.child_text(element, "ID")
        if rule_id is not None and len(rule_id) > MAX_ID:
            raise S3Error("InvalidArgument", f"The ID of a CORS rule must be at most {MAX_ID} characters")
        rules.append(
            CorsRule(
                allowed_origins=origins,
                allowed_methods=methods,
                allowed_headers=headers,
                expose_headers=expose,
                max_age=max_age,
                rule_id=rule_id,
            )
        )
    return tuple(rules)


def render_xml(rules: Sequence[CorsRule]) -> bytes:
    """GetBucketCors."""
    root = xml.element("CORSConfiguration")
    for rule in rules:
        element = xml.sub(root, "CORSRule")
        if rule.rule_id is not None:
            xml.sub(element, "ID", rule.rule_id)
        for tag, values in (
            ("AllowedHeader", rule.allowed_headers),
            ("AllowedMethod", rule.allowed_methods),
            ("AllowedOrigin", rule.allowed_origins),
            ("ExposeHeader", rule.expose_headers),
        ):
            for value in values:
                xml.sub(element, tag, value)
        if rule.max_age is not None:
            xml.sub(element, "MaxAgeSeconds", rule.max_age)
    return xml.render(root)


def dumps(rules: Sequence[CorsRule]) -> str:
    return json.dumps([asdict(rule) for rule in rules], separators=(",", ":"))


@lru_cache(maxsize=1024)
def loads(text: str) -> tuple[CorsRule, ...]:
    out = []
    for item in json.loads(text):
        out.append(
            CorsRule(
                allowed_origins=tuple(item["allowed_origins"]),
                allowed_methods=tuple(item["allowed_methods"]),
                allowed_headers=tuple(item.get("allowed_headers", ())),
                expose_headers=tuple(item.get("expose_headers", ())),
                max_age=item.get("max_age"),
                rule_id=item.get("rule_id"),
            )
        )
    return tuple(out)


def requested_headers(value: str | None) -> list[str]:
    """Access-Control-Request-Headers as a list of names."""
    if not value:
        return []
    return [name.strip() for name in value.split(",") if name.strip()]


def match(
    rules: Sequence[CorsRule], origin: str, method: str, headers: Sequence[str] = ()
) -> CorsRule | None:
    """The first rule allowing this origin, method and every requested header."""
    for rule in rules:
        if method in rule.allowed_methods and rule.allows_origin(origin) and rule.allows_headers(headers):
            return rule
    return None


def response_headers(
    rule: CorsRule, origin: str, *, preflight: bool, headers: Sequence[str] = ()
) -> dict[str, str]:
    """The Access-Control-* headers S3 sends for a matched rule."""
    out = {
        "Access-Control-Allow-Origin": "*" if rule.any_origin() else origin,
        "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    if not rule.any_origin():
        out["Access-Control-Allow-Credentials"] = "true"
    if preflight and headers:
        out["Access-Control-Allow-Headers"] = ", ".join(h.lower() for h in headers)
    if rule.expose_headers:
        out["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age is not None:
        out["Access-Control-Max-Age"] = str(rule.max_age)
    return out
