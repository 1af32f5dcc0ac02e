"""The console's SigV4 signer agrees with botocore's, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ui.client import Endpoint
from ui.signing import UNSIGNED_PAYLOAD, Keys, encode_path, presign_query, sign_headers

KEYS = Keys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
HOST = "127.0.0.1:7841"


class _Unsigned:
    """A client config that tells botocore not to hash the payload (it signs UNSIGNED-PAYLOAD)."""

    s3 = {"payload_signing_enabled": False}


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None))


def botocore_headers(method: str, url: str, headers: dict[str, str]) -> str:
    request = AWSRequest(method=method, url=url, headers=headers)
    request.context["client_config"] = _Unsigned()
    S3SigV4Auth(Credentials(KEYS.access_key, KEYS.secret_key), "s3", "us-east-1").add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == UNSIGNED_PAYLOAD
    return str(request.headers["Authorization"])


@pytest.mark.parametrize(
    ("method", "bucket", "key", "params"),
    [
        ("GET", None, None, []),
        ("GET", "photos", None, [("list-type", "2"), ("prefix", "a b/ü"), ("delimiter", "/")]),
        ("PUT", "photos", "2026/cat & dog+1.jpg", []),
        ("PUT", "photos", "dir//./x~y", [("partNumber", "3"), ("uploadId", "abc=/+")]),
        ("POST", "photos", None, [("delete", "")]),
    ],
    ids=["service", "listing", "awkward-key", "dot-segments", "empty-value"],
)
def test_authorization_header_matches_botocore(
    method: str, bucket: str | None, key: str | None, params: list[tuple[str, str]]
) -> None:
    path = Endpoint.path(bucket, key)
    ours = sign_headers(
        KEYS,
        method=method,
        host=HOST,
        path=path,
        params=params,
        headers={"content-type": "text/plain"},
        payload_hash=UNSIGNED_PAYLOAD,
        now=NOW,
    )
    query = "&".join(
        f"{encode_path(k).replace('/', '%2F')}={encode_path(v).replace('/', '%2F')}" for k, v in params
    )
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    theirs = botocore_headers(method, url, {"content-type": "text/plain"})
    assert ours["authorization"] == theirs


def test_presigned_url_matches_botocore() -> None:
    path = Endpoint.path("photos", "2026/a b.jpg")
    ours = dict(parse_qsl(presign_query(KEYS, method="GET", host=HOST, path=path, expires=900, now=NOW)))
    request = AWSRequest(method="GET", url=f"http://{HOST}{path}")
    S3SigV4QueryAuth(Credentials(KEYS.access_key, KEYS.secret_key), "s3", "us-east-1", expires=900).add_auth(
        request
    )
    theirs = dict(parse_qsl(urlsplit(request.url).query))
    assert ours["X-Amz-Signature"] == theirs["X-Amz-Signature"]
    assert ours["X-Amz-Credential"] == theirs["X-Amz-Credential"]


def test_presign_refuses_more_than_a_week() -> None:
    with pytest.raises(ValueError):
        presign_query(KEYS, method="GET", host=HOST, path="/b/k", expires=7 * 24 * 3600 + 1)
