"""Requests between gateways and storage nodes, signed with the cluster secret.

Each request carries the time (whole seconds), a random nonce and an HMAC-SHA256 over method, path
with query, time and nonce. A node accepts a request only inside a window around its own clock and
only once per nonce (nonces are remembered for as long as the window lasts), so a captured request
cannot be replayed. Bodies are not covered: their integrity comes from the block checksums that the
node computes and the gateway compares with its own (see remote.py). Nothing is encrypted; run the
node port on a private network.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping

DATE = "x-s3node-date"
NONCE = "x-s3node-nonce"
SIGNATURE = "x-s3node-signature"
WINDOW = 60.0  # seconds either side of the node's clock
MAX_NONCES = 1_000_000  # a node under a flood of valid requests forgets the oldest first


def _mac(secret: str, method: str, path_qs: str, date: str, nonce: str) -> str:
    message = "\n".join((method.upper(), path_qs, date, nonce)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, path_qs: str, now: float | None = None) -> dict[str, str]:
    """The headers that authenticate one request for `path_qs` (the path and query as sent)."""
    date = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    return {DATE: date, NONCE: nonce, SIGNATURE: _mac(secret, method, path_qs, date, nonce)}


class Verifier:
    """Checks signatures on a node; `check` returns why a request is refused, or None."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("a cluster secret is needed (--cluster-secret or S3SERVER_CLUSTER_SECRET)")
        self._secret = secret
        self._clock = clock
        self._seen: dict[str, float] = {}  # nonce -> when it stops mattering (insertion ordered)

    def check(self, method: str, path_qs: str, headers: Mapping[str, str]) -> str | None:
        date, nonce, signature = headers.get(DATE), headers.get(NONCE), headers.get(SIGNATURE)
        if not date or not nonce or not signature:
            return "unsigned request"
        try:
            sent = int(date)
        except ValueError:
            return "malformed date"
        now = self._clock()
        if abs(now - sent) > WINDOW:
            return "stale or future date"
        if not hmac.compare_digest(signature, _mac(self._secret, method, path_qs, date, nonce)):
            return "bad signature"
        self._forget(now)
        if nonce in self._seen:
            return "replayed request"
        self._seen[nonce] = sent + WINDOW
        return None

    def _forget(self, now: float) -> None:
        while self._seen:
            oldest, until = next(iter(self._seen.items()))
            if until >= now and len(self._seen) < MAX_NONCES:
                return
            del self._seen[oldest]
