"""The signed protocol between gateways and storage nodes, and the --storage-nodes list."""

from __future__ import annotations

import pytest

from s3server.node.client import parse_nodes
from s3server.node.signing import NONCE, SIGNATURE, WINDOW, Verifier, sign

SECRET = "cluster-secret"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_signed_request_passes_once() -> None:
    clock = Clock(1_000_000.0)
    verifier = Verifier(SECRET, clock)
    headers = sign(SECRET, "PUT", "/blobs/ab?x=1", now=clock.now)
    assert verifier.check("PUT", "/blobs/ab?x=1", headers) is None
    assert verifier.check("PUT", "/blobs/ab?x=1", headers) == "replayed request"


@pytest.mark.parametrize(
    ("method", "path", "secret", "skew", "why"),
    [
        ("GET", "/blobs/ab?x=1", SECRET, 0, "bad signature"),
        ("PUT", "/blobs/ab?x=2", SECRET, 0, "bad signature"),
        ("PUT", "/blobs/ab?x=1", "other", 0, "bad signature"),
        ("PUT", "/blobs/ab?x=1", SECRET, WINDOW + 1, "stale or future date"),
        ("PUT", "/blobs/ab?x=1", SECRET, -WINDOW - 1, "stale or future date"),
    ],
    ids=["other-method", "other-query", "other-secret", "stale", "future"],
)
def test_refusals(method: str, path: str, secret: str, skew: float, why: str) -> None:
    clock = Clock(1_000_000.0)
    headers = sign(secret, method, path, now=clock.now - skew)
    assert Verifier(SECRET, clock).check("PUT", "/blobs/ab?x=1", headers) == why


def test_unsigned_and_tampered() -> None:
    verifier = Verifier(SECRET)
    assert verifier.check("GET", "/health", {}) == "unsigned request"
    headers = sign(SECRET, "GET", "/health")
    assert verifier.check("GET", "/health", {**headers, NONCE: "0" * 32}) == "bad signature"
    assert verifier.check("GET", "/health", {**headers, SIGNATURE: "0" * 64}) == "bad signature"


def test_nonces_are_forgotten_once_their_date_is_out_of_the_window() -> None:
    clock = Clock(1_000_000.0)
    verifier = Verifier(SECRET, clock)
    for _ in range(5):
        assert verifier.check("GET", "/health", sign(SECRET, "GET", "/health", now=clock.now)) is None
    clock.now += 3 * WINDOW
    assert verifier.check("GET", "/health", sign(SECRET, "GET", "/health", now=clock.now)) is None
    assert len(verifier._seen) == 1


def test_no_secret_no_node() -> None:
    with pytest.raises(ValueError, match="cluster secret"):
        Verifier("")


def test_node_lists() -> None:
    assert parse_nodes(("http://a:7881/, http://b:7881", "n3=http://c:7881")) == [
        ("http://a:7881", "http://a:7881"),
        ("http://b:7881", "http://b:7881"),
        ("n3", "http://c:7881"),
    ]
    with pytest.raises(ValueError, match="twice"):
        parse_nodes(("http://a:7881,http://a:7881",))
    with pytest.raises(ValueError, match="expected"):
        parse_nodes(("a:7881",))
