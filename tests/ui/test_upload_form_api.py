"""The console's signed browser-upload forms without a browser: a form stores exactly the key and the
size it was signed for, the page may connect to S3, and bad requests are refused in words."""

from __future__ import annotations

import hashlib
import itertools
import os
import urllib.request
from typing import Any

import pytest
import requests
from lxml import etree

from tests.support.server import RunningServer
from tests.ui.test_console_api import Console
from tests.ui.test_versions_api import signed_in

_names = itertools.count()


def new_bucket(ui_s3) -> str:  # type: ignore[no-untyped-def]
    name = f"uif-{os.getpid()}-{next(_names)}"
    ui_s3.create_bucket(Bucket=name)
    return name


def form_for(console: Console, bucket: str, **body: Any) -> tuple[int, Any]:
    status, _, value = console.change("POST", f"/api/buckets/{bucket}/upload-form", body)
    return status, value


def post(form: dict[str, Any], data: bytes, **fields: str) -> requests.Response:
    return requests.post(
        form["url"], data={**form["fields"], **fields}, files={"file": ("f", data)}, timeout=30
    )


def test_a_form_stores_exactly_what_it_was_signed_for(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = new_bucket(ui_s3)
    data = os.urandom(50_000)
    status, form = form_for(console, bucket, key="docs/a b+c.txt", content_type="text/plain", size=len(data))
    assert status == 200, form
    assert form["url"] == f"{console_server.endpoint}/{bucket}"
    assert form["fields"]["key"] == "docs/a b+c.txt"
    assert "secret" not in str(form).lower() and console_server.secret_key not in str(form)
    resp = post(form, data)
    assert resp.status_code == 201, resp.text
    answer = etree.fromstring(resp.content)
    assert answer.findtext("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
    assert answer.findtext("Key") == "docs/a b+c.txt" and answer.findtext("Bucket") == bucket
    got = ui_s3.get_object(Bucket=bucket, Key="docs/a b+c.txt")
    assert got["Body"].read() == data and got["ContentType"] == "text/plain"

    # Another size, another key or another bucket: S3 refuses the form, and stores nothing.
    assert post(form, data + b"!").status_code == 400  # EntityTooLarge
    refused = post(form, data, key="docs/other.txt")
    assert refused.status_code == 403 and "AccessDenied" in refused.text
    other = new_bucket(ui_s3)
    moved = requests.post(
        f"{console_server.endpoint}/{other}", data=form["fields"], files={"file": ("f", data)}, timeout=30
    )
    assert moved.status_code == 403
    assert [o["Key"] for o in ui_s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["docs/a b+c.txt"]
    assert ui_s3.list_objects_v2(Bucket=other).get("KeyCount") == 0


def test_an_empty_file_and_the_default_type(console_server: RunningServer, ui_s3) -> None:  # type: ignore[no-untyped-def]
    console = signed_in(console_server)
    bucket = new_bucket(ui_s3)
    status, form = form_for(console, bucket, key="empty", size=0)
    assert status == 200
    assert post(form, b"").status_code == 201
    head = ui_s3.head_object(Bucket=bucket, Key="empty")
    assert head["ContentLength"] == 0 and head["ContentType"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"size": 1}, "The key is required.", id="no-key"),
        pytest.param({"key": "k"}, "The file size must be a number of bytes, at most 5 GiB.", id="no-size"),
        pytest.param(
            {"key": "k", "size": -1}, "The file size must be a number of bytes, at most 5 GiB.", id="negative"
        ),
        pytest.param(
            {"key": "k", "size": 5 * 1024**3 + 1},
            "The file size must be a number of bytes, at most 5 GiB.",
            id="over-5-GiB",
        ),
        pytest.param(
            {"key": "k" * 1025, "size": 1}, "Object keys are at most 1024 bytes long.", id="long-key"
        ),
    ],
)
def test_bad_requests_are_refused(
    console_server: RunningServer,
    ui_s3,  # type: ignore[no-untyped-def]
    body: dict[str, Any],
    message: str,
) -> None:
    console = signed_in(console_server)
    status, value = form_for(console, new_bucket(ui_s3), **body)
    assert status == 400 and value["error"]["message"] == message


def test_the_page_may_connect_to_s3(console_server: RunningServer) -> None:
    with urllib.request.urlopen(str(console_server.console) + "/", timeout=10) as answer:
        policy = answer.headers["Content-Security-Policy"]
    assert f"connect-src 'self' {console_server.endpoint};" in policy
