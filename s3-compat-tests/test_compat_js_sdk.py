"""The AWS SDK for JavaScript v3 under node: s3-compat-tests/js/compat.mjs exercises it and reports per
feature as JSON; this test records that, then checks the objects it left with boto3 before cleanup."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from compat_helpers import ClientRecorder, Compat, clean_env, md5_bytes, run

from tests.conftest import make_client
from tests.support.server import RunningServer

JS_DIR = Path(__file__).resolve().parent / "js"
INSTALL_HINT = "run `npm ci --prefix s3-compat-tests/js` (part of the README's install command)"


def node_script(phase: str, server: RunningServer, bucket: str) -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed; the JavaScript SDK suite needs Node.js 18+ and {INSTALL_HINT}")
    if not (JS_DIR / "node_modules" / "@aws-sdk" / "client-s3").is_dir():
        pytest.fail(f"the AWS SDK for JavaScript is not installed: {INSTALL_HINT}", pytrace=False)
    env = clean_env(("AWS_", "S3_"))
    env.update(
        S3_ENDPOINT=server.endpoint,
        S3_ACCESS_KEY=server.access_key,
        S3_SECRET_KEY=server.secret_key,
        S3_BUCKET=bucket,
    )
    output = run([node, str(JS_DIR / "compat.mjs"), phase], env=env, cwd=JS_DIR, timeout=120).stdout
    return json.loads(output.decode().strip().splitlines()[-1])


def record(rec: ClientRecorder, report: dict[str, object]) -> None:
    features: dict[str, dict[str, object]] = report["features"]  # type: ignore[assignment]
    for name, outcome in features.items():
        with rec.feature(name):
            if not outcome["ok"]:
                raise AssertionError(str(outcome["error"]))


def test_js_sdk(server: RunningServer, compat: Compat) -> None:
    bucket = f"js-sdk-{server.port}"
    report = node_script("run", server, bucket)
    rec = compat("aws-sdk-js-v3", f"@aws-sdk/client-s3 {report['version']}")
    record(rec, report)
    s3 = make_client(server)
    md5s: dict[str, str] = report["md5"]  # type: ignore[assignment]
    # What the SDK uploaded is on the server byte for byte, as another client reads it.
    features = {
        "keep/small.txt": "put",
        "keep/streamed.txt": "put",
        "keep/large.bin": "large",
        "keep/copy.txt": "copy",
    }
    for key, feature in features.items():
        with rec.feature(feature):
            assert key in md5s, f"the script did not upload {key}"
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert md5_bytes(body) == md5s[key]
    with rec.feature("large"):
        assert s3.head_object(Bucket=bucket, Key="keep/large.bin")["ETag"].endswith('-3"')
    record(rec, node_script("cleanup", server, bucket))
    with rec.feature("bucket"):
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
