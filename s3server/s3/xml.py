"""XML in and out: lxml builders for responses and the one safe parser for request bodies."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache

from lxml import etree

from s3server.s3.errors import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML_BODY = 2 * 1024 * 1024  # DeleteObjects with 1000 long keys fits well inside

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    load_dtd=False,
)


def element(tag: str, namespaced: bool = True) -> etree._Element:
    """A response root element in the S3 namespace."""
    return etree.Element(tag, nsmap={None: NS}) if namespaced else etree.Element(tag)


def sub(parent: etree._Element, tag: str, text: str | int | bool | None = None) -> etree._Element:
    """Append a child element; booleans render as AWS's lower-case words."""
    child = etree.SubElement(parent, tag)
    if text is not None:
        if isinstance(text, bool):
            child.text = "true" if text else "false"
        else:
            child.text = str(text)
    return child


def subs(parent: etree._Element, pairs: Iterable[tuple[str, str | int | bool | None]]) -> None:
    for tag, text in pairs:
        sub(parent, tag, text)


def render(root: etree._Element, tail: str = "") -> bytes:
    """The document; `tail` is markup (see `text`) appended inside the root, after its children."""
    out = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if not tail:
        return out
    close = out.rindex(b"</")
    return out[:close] + tail.encode("utf-8") + out[close:]


# Listings write a thousand entries as text: building an element per field costs ten times more.
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_UNSAFE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def text(value: str) -> str:
    """Element text escaped exactly as lxml serialises it; characters XML 1.0 cannot hold are
    refused with lxml's own error (ValueError)."""
    if _UNSAFE.search(value) is None:
        return value
    if _INVALID.search(value):
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters"
        )
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def iso8601(when: datetime) -> str:
    """XML timestamps: 2026-11-25T12:00:00.000Z."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:"
        f"{when.second:02d}.{when.microsecond // 1000:03d}Z"
    )


@lru_cache(maxsize=4096)
def _whole_second(epoch_second: int) -> str:
    return iso8601(datetime.fromtimestamp(epoch_second, UTC))[:-5]


def iso8601_micros(micros: int) -> str:
    """iso8601 of a time given as microseconds since the Unix epoch, without building a datetime:
    a listing writes a thousand, and objects written together share their second."""
    second, micro = divmod(micros, 1_000_000)
    return f"{_whole_second(second)}.{micro // 1000:03d}Z"


def parse(body: bytes) -> etree._Element:
    """Parse a request body with the safe parser; anything malformed is MalformedXML."""
    if len(body) > MAX_XML_BODY:
        raise S3Error("MalformedXML")
    if not body.strip():
        raise S3Error("MalformedXML")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise S3Error("MalformedXML") from exc
    if root is None:
        raise S3Error("MalformedXML")
    return root


def local(el: etree._Element) -> str:
    """An element's tag without its namespace."""
    return etree.QName(el).localname


def children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and local(c) == name]


def child_text(el: etree._Element, name: str) -> str | None:
    for c in el:
        if isinstance(c.tag, str) and local(c) == name:
            return c.text or ""
    return None
