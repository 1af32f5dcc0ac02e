"""Request ids (x-amz-request-id) and host ids (x-amz-id-2): unique per answer, not secret, so a
seeded PRNG does instead of a system call per request."""

from __future__ import annotations

import base64
import os
import random

_ids = random.Random(os.urandom(16))


def new_request_id() -> str:
    return f"{_ids.getrandbits(64):016X}"


def new_host_id() -> str:
    return base64.b64encode(_ids.randbytes(24)).decode()
