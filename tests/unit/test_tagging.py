"""Tag sets: the x-amz-tagging header's form encoding and AWS's limits."""

from __future__ import annotations

import pytest

from s3server.s3.errors import S3Error
from s3server.s3.tagging import parse_tagging_document, parse_tagging_header, tagging_document, validate_tags


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        (None, {}),
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1&b=two+words&c", {"a": "1", "b": "two words", "c": ""}),
        ("k%20ey=v%3D%2B&&x=", {"k ey": "v=+", "x": ""}),
        ("%C3%BCn%C3%AF=%E6%97%A5", {"ünï": "日"}),
    ],
)
def test_header(header: str | None, tags: dict[str, str]) -> None:
    assert parse_tagging_header(header) == tags


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("a=1&a=2", "InvalidArgument"),
        ("TagSet=[{Key=string,Value=string}]", "InvalidArgument"),
        ("=v", "InvalidTag"),
        ("a%5B=v", "InvalidTag"),
        ("&".join(f"k{i}=v" for i in range(11)), "BadRequest"),
    ],
)
def test_header_refused(header: str, code: str) -> None:
    with pytest.raises(S3Error) as info:
        parse_tagging_header(header)
    assert info.value.code == code


def test_limits() -> None:
    assert len(validate_tags([(f"{i}" + "k" * 127, "v" * 256) for i in range(10)])) == 10
    assert validate_tags([("\U00010400" * 64, "")]) == {"\U00010400" * 64: ""}
    for pairs, code, message in [
        ([("k" * 129, "v")], "InvalidTag", "The TagKey you have provided is invalid"),
        ([("\U00010400" * 65, "v")], "InvalidTag", "The TagKey you have provided is invalid"),
        ([("k", "v" * 257)], "InvalidTag", "The TagValue you have provided is invalid"),
        ([("k", "tab\there")], "InvalidTag", "The TagValue you have provided is invalid"),
        ([("a", "1"), ("a", "2")], "InvalidTag", "Cannot provide multiple Tags with the same key"),
        ([("aws:cloudformation", "x")], "InvalidTag", "Your TagKey cannot be prefixed with aws:"),
        ([(f"k{i}", "v") for i in range(11)], "BadRequest", "Object tags cannot be greater than 10"),
    ]:
        with pytest.raises(S3Error) as info:
            validate_tags(pairs)
        assert (info.value.code, info.value.message) == (code, message)


def test_document_round_trip() -> None:
    tags = {"b": "2", "a": "", "ü": "x y"}
    body = tagging_document(tags)
    assert body.index(b"<Key>a</Key>") < body.index(b"<Key>b</Key>")  # sorted by key
    assert parse_tagging_document(body) == tags
    assert parse_tagging_document(b"<Tagging><TagSet/></Tagging>") == {}
    for bad in (
        b"<Tagging/>",
        b"<Tagging><TagSet/><TagSet/></Tagging>",
        b"<Other><TagSet/></Other>",
        b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
    ):
        with pytest.raises(S3Error) as info:
            parse_tagging_document(bad)
        assert info.value.code == "MalformedXML"
