"""bench.sign, the load generator's own SigV4 signer: AWS's documented examples, then botocore."""

from __future__ import annotations

import calendar
from datetime import datetime

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from bench.sign import (
    EMPTY_SHA256,
    UNSIGNED_PAYLOAD,
    Signer,
    canonical_query,
    payload_sha256,
    signing_key,
)

DOC_AK = "AKIAIOSFODNN7EXAMPLE"
DOC_SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = calendar.timegm((2013, 5, 24, 0, 0, 0))


def signature(lines: str) -> str:
    return lines.rsplit("Signature=", 1)[1].strip()


@pytest.mark.parametrize(
    ("path", "params", "extra", "expected"),
    [
        ("/test.txt", None, {"Range": "bytes=0-9"},
         "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
        ("/", {"lifecycle": ""}, None, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
        ("/", {"max-keys": "2", "prefix": "J"}, None,
         "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ],
    ids=["get-object-range", "get-bucket-lifecycle", "list-objects"],
)  # fmt: skip
def test_aws_documented_examples(
    path: str, params: dict[str, str] | None, extra: dict[str, str] | None, expected: str
) -> None:
    """S3 API reference, "Examples: Signature Calculations" (header-based auth, examplebucket)."""
    signer = Signer(DOC_AK, DOC_SK, "examplebucket.s3.amazonaws.com")
    lines = signer.headers("GET", path, canonical_query(params), EMPTY_SHA256, extra, now=DOC_NOW)
    assert signature(lines) == expected
    assert "x-amz-date: 20130524T000000Z\r\n" in lines
    assert f"Credential={DOC_AK}/20130524/us-east-1/s3/aws4_request" in lines


def test_signing_key_is_cached_per_secret_date_region_service() -> None:
    signing_key.cache_clear()
    first = signing_key("secret", "20260101", "us-east-1", "s3")
    assert signing_key("secret", "20260101", "us-east-1", "s3") is first
    assert signing_key("secret", "20260102", "us-east-1", "s3") != first
    assert signing_key.cache_info().hits == 1


@pytest.mark.parametrize("payload", ["unsigned", "signed"])
def test_matches_botocore(payload: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PUT with a query, signed by both: the same signature, in either payload mode."""
    body = b"x" * 4096
    payload_hash = UNSIGNED_PAYLOAD if payload == "unsigned" else payload_sha256(body)
    now = calendar.timegm((2026, 1, 1, 12, 0, 0))
    params = {"tagging": "", "versionId": "a b/c"}
    ours = Signer("AKID", "se/cr+et", "127.0.0.1:7841").headers(
        "PUT", "/bucket/dir/key.bin", canonical_query(params), payload_hash, now=now
    )

    request = AWSRequest(
        method="PUT",
        url=f"http://127.0.0.1:7841/bucket/dir/key.bin?{canonical_query(params)}",
        data=body,
        headers={"x-amz-content-sha256": payload_hash},
    )
    request.context["client_config"] = Config(s3={"payload_signing_enabled": payload == "signed"})
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime", lambda remove_tzinfo=True: datetime(2026, 1, 1, 12, 0, 0)
    )
    S3SigV4Auth(Credentials("AKID", "se/cr+et"), "s3", "us-east-1").add_auth(request)
    theirs = request.headers["Authorization"]
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date" in theirs
    assert request.headers["X-Amz-Content-SHA256"] == payload_hash
    assert signature(ours) == theirs.rsplit("Signature=", 1)[1]
