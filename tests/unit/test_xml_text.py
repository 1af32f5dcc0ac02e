"""Listing entries are written as text, not elements: the escaping must be exactly lxml's."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from s3server.s3 import xml

SAMPLES = ["plain/key.txt", "a&b<c>d", "quotes \" and ' stay", "cr\rlf\ntab\t", "ünïcødé ✓ 😀", "]]>"]


@pytest.mark.parametrize("value", SAMPLES)
def test_text_escapes_like_lxml(value: str) -> None:
    element = etree.Element("K")
    element.text = value
    assert f"<K>{xml.text(value)}</K>".encode() == etree.tostring(element, encoding="UTF-8")


@pytest.mark.parametrize("value", ["nul\x00", "bell\x07", "esc\x1b", "\ufffe"])
def test_characters_xml_cannot_hold_are_refused_like_lxml(value: str) -> None:
    with pytest.raises(ValueError):
        etree.Element("K").text = value
    with pytest.raises(ValueError):
        xml.text(value)


def test_render_puts_the_tail_inside_the_root_after_its_children() -> None:
    root = xml.element("ListBucketResult")
    xml.sub(root, "Name", "b")
    body = xml.render(root, "<Contents><Key>k</Key></Contents>")
    parsed = etree.fromstring(body)
    assert [etree.QName(child).localname for child in parsed] == ["Name", "Contents"]
    assert xml.render(root) == etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_timestamps_are_utc_with_milliseconds() -> None:
    moment = datetime(2026, 11, 25, 12, 3, 4, 567891, tzinfo=UTC)
    assert xml.iso8601(moment) == "2026-11-25T12:03:04.567Z"
    assert xml.iso8601(moment.astimezone(timezone(timedelta(hours=2)))) == "2026-11-25T12:03:04.567Z"


@pytest.mark.parametrize(
    "micros",
    [0, 999, 1_000, 999_999, 1_000_000, -1, -1_000_001, 1_764_072_184_567_891, 253_402_300_799_999_999]
    + [random.Random(seed).randrange(-2_000_000_000_000_000, 253_402_300_799_999_999) for seed in range(50)],
)
def test_timestamps_from_epoch_microseconds_match_the_datetime_form(micros: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert xml.iso8601_micros(micros) == xml.iso8601(moment)
