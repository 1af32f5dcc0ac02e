"""encoding-type=url: what ListObjects writes for a key, checked against the form encoder it stands for."""

from __future__ import annotations

import random
from urllib.parse import quote_plus

import pytest

from s3server.s3.listing import url_encode

ALPHABET = "azAZ09-._~/*+ %&=?#\"'<>\\^`{|}\x01\x7fé✓😀"


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("photos/2026/a.jpg", "photos/2026/a.jpg"),
        ("a b+c", "a+b%2Bc"),
        ("tilde~", "tilde%7E"),
        ("star*/slash", "star*/slash"),
        ("ünï", "%C3%BCn%C3%AF"),
        ("", ""),
    ],
)
def test_keys_encode_as_s3_writes_them(key: str, encoded: str) -> None:
    assert url_encode(key) == encoded


def test_every_key_encodes_as_the_form_encoder_does() -> None:
    chooser = random.Random(7)
    for _ in range(5000):
        key = "".join(chooser.choice(ALPHABET) for _ in range(chooser.randrange(0, 12)))
        assert url_encode(key) == quote_plus(key, safe="/*").replace("~", "%7E"), key
