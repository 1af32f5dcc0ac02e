"""The Prometheus exposition on the S3 port (/metrics, and /_admin/metrics which no bucket can
shadow), --metrics-auth, several workers summed in multiprocess mode, and the access log line."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BACKENDS, backend_args, make_client
from tests.integration.helpers import Reply, object_path, request, send
from tests.support.server import RunningServer, start_server
from tests.support.users import create_user, unique_name


def scrape(
    server: RunningServer, path: str = "/metrics"
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = request(server, "GET", path, {}, b"")
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    return parse(reply.body.decode())


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_exposition(server: RunningServer) -> None:
    s3 = make_client(server)
    bucket = unique_name("metrics-test")
    s3.create_bucket(Bucket=bucket)
    before = scrape(server)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 1000)
    for _ in range(3):
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 1000
    for _ in range(2):
        assert send(server, "GET", object_path(bucket, "missing")).status == 404
    after = scrape(server)
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("s3_requests_total", operation="PutObject", status="200") == 1
    assert delta("s3_requests_total", operation="GetObject", status="200") == 3
    assert delta("s3_requests_total", operation="GetObject", status="404") == 2
    assert delta("s3_request_duration_seconds_count", operation="GetObject") == 5
    assert delta("s3_request_duration_seconds_bucket", operation="GetObject", le="+Inf") == 5
    assert delta("s3_received_bytes_total") >= 1000
    assert delta("s3_sent_bytes_total") >= 3000
    assert value(after, "s3_requests_in_flight") >= 0
    drives = [k for k in after if k[0] == "s3_drive_free_bytes"]
    assert len(drives) == 1 and after[drives[0]] > 0
    assert value(after, "s3_drive_online", **dict(drives[0][1])) == 1
    assert ("s3_blobs", ()) in after and ("s3_blob_bytes", ()) in after
    # The same exposition at the admin path.
    assert ("s3_requests_total", (("operation", "PutObject"), ("status", "200"))) in scrape(
        server, "/_admin/metrics"
    )


def test_metrics_is_also_a_bucket_name(server: RunningServer) -> None:
    """A bucket called "metrics" keeps its path: GET /metrics is then its ListObjects, and the
    exposition stays at /_admin/metrics."""
    s3 = make_client(server)
    s3.create_bucket(Bucket="metrics")
    try:
        s3.put_object(Bucket="metrics", Key="cpu.csv", Body=b"1,2")
        assert [o["Key"] for o in s3.list_objects(Bucket="metrics")["Contents"]] == ["cpu.csv"]
        signed = send(server, "GET", "/metrics")
        assert signed.status == 200 and b"<ListBucketResult" in signed.body
        anonymous = request(server, "GET", "/metrics", {}, b"")
        assert anonymous.status == 403 and anonymous.error_code() == "AccessDenied"
        assert scrape(server, "/_admin/metrics")
        s3.delete_object(Bucket="metrics", Key="cpu.csv")
    finally:
        s3.delete_bucket(Bucket="metrics")
    assert scrape(server)  # the exposition is back at /metrics
    # A query string makes it an S3 request again, whatever the path.
    assert send(server, "GET", "/metrics", query="list-type=2").error_code() == "NoSuchBucket"


@pytest.fixture(params=BACKENDS)
def guarded(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    server = start_server(tmp_path / "data", args=["--metrics-auth", *backend_args(request, request.param)])
    yield server
    assert server.stop() == 0, server.log()[-3000:]


def test_metrics_auth(guarded: RunningServer) -> None:
    server = guarded
    for path in ("/metrics", "/_admin/metrics"):
        assert request(server, "GET", path, {}, b"").status == 403
        reply = send(server, "GET", path)  # signed by root
        assert reply.status == 200 and b"s3_requests_total" in reply.body
    _, access_key, secret_key = create_user(server)
    reply = send(server, "GET", "/metrics", access_key=access_key, secret_key=secret_key)
    assert reply.status == 403 and reply.error_code() == "AccessDenied"
    reply = send(server, "GET", "/_admin/metrics", access_key=access_key, secret_key=secret_key)
    assert reply.status == 403


def test_workers_are_summed(tmp_path: Path) -> None:
    """With --workers 2 each worker counts its own requests; any scrape sums all of them."""
    server = start_server(tmp_path / "data", workers=2)
    try:
        assert (tmp_path / "data" / "metrics-multiproc").is_dir()
        make_client(server).create_bucket(Bucket="summed")
        # One connection each, so SO_REUSEPORT spreads them over both workers.
        for i in range(40):
            assert send(server, "PUT", object_path("summed", f"k{i}"), body=b"v").status == 200
        pids = set()
        for _ in range(20):
            reply = request(server, "GET", "/_admin/health", {}, b"")
            pids.add(re.search(rb'"pid": (\d+)', reply.body).group(1))  # type: ignore[union-attr]
            # Whichever worker answers the scrape, it reports both workers' requests.
            assert value(scrape(server), "s3_requests_total", operation="PutObject", status="200") == 40
        assert len(pids) == 2, pids
    finally:
        assert server.stop() == 0, server.log()[-3000:]


def access_lines(server: RunningServer, request_id: str) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in server.log().splitlines() if f"request_id={request_id}" in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_access_log_line(server: RunningServer) -> None:
    s3 = make_client(server)
    bucket = unique_name("logged")
    s3.create_bucket(Bucket=bucket)
    try:
        key = 'a key with "quotes"\nand a newline'
        reply: Reply = send(server, "PUT", object_path(bucket, key), body=b"12345")
        assert reply.status == 200
        [line] = access_lines(server, reply.headers["x-amz-request-id"])
        assert " principal=root method=PUT operation=PutObject " in line
        assert f" bucket={bucket} " in line
        assert ' key="a key with \\"quotes\\"\\nand a newline" ' in line
        assert " status=200 error=- received=5 sent=0 duration_ms=" in line
        missing = send(server, "GET", object_path(bucket, "nope"), auth="none")
        [line] = access_lines(server, missing.headers["x-amz-request-id"])
        assert " principal=anonymous " in line and " status=403 error=AccessDenied " in line
        s3.delete_object(Bucket=bucket, Key=key)
    finally:
        s3.delete_bucket(Bucket=bucket)
