"""`s3server serve` as a process: generated root credentials, env configuration, graceful SIGTERM."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import UNSIGNED_PAYLOAD, client_error, object_path, send, sign
from tests.support.server import RunningServer, free_port, start_server, wait_ready

_CREDENTIAL_LINE = re.compile(r"S3SERVER_ROOT_USER=(\S+)\s+S3SERVER_ROOT_PASSWORD=(\S+)")


def _with_keys(server: RunningServer, access_key: str, secret_key: str) -> RunningServer:
    server.access_key = access_key
    server.secret_key = secret_key
    return server


def test_generated_root_credentials_are_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, root=False)
    try:
        found = _CREDENTIAL_LINE.search(first.log())
        assert found, first.log()
        access_key, secret_key = found.groups()
        assert len(access_key) >= 16
        assert len(secret_key) >= 30
        client = make_client(_with_keys(first, access_key, secret_key))
        client.create_bucket(Bucket="kept")
        client.put_object(Bucket="kept", Key="k", Body=b"survives restarts")
        fixture_keys = RunningServer(
            first.endpoint, first.port, first.data_dir, first.process, first.log_path
        )
        with pytest.raises(ClientError) as info:
            make_client(fixture_keys).list_buckets()
        assert client_error(info.value) == ("InvalidAccessKeyId", 403)
    finally:
        assert first.stop() == 0
    assert any(
        secret_key in path.read_text(errors="replace") for path in data_dir.rglob("*") if path.is_file()
    ), "the generated secret is not stored in the data dir"

    second = start_server(data_dir, root=False)
    try:
        assert secret_key not in second.log()
        assert "generated root credentials" not in second.log()
        client = make_client(_with_keys(second, access_key, secret_key))
        assert client.get_object(Bucket="kept", Key="k")["Body"].read() == b"survives restarts"
    finally:
        assert second.stop() == 0


def test_environment_instead_of_flags(tmp_path: Path) -> None:
    data_dir = tmp_path / "env-data"
    port = free_port()
    console_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    env.update(
        S3SERVER_ADDRESS="127.0.0.1",
        S3SERVER_PORT=str(port),
        S3SERVER_DATA_DIR=str(data_dir),
        S3SERVER_ROOT_USER="AKIAENVCONFIGURED000",
        S3SERVER_ROOT_PASSWORD="env-configured-secret-0123456789",
        S3SERVER_CONSOLE_PORT=str(console_port),
    )
    log_path = tmp_path / "env-server.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "s3server", "serve"], stdout=log_file, stderr=subprocess.STDOUT, env=env
        )
    server = RunningServer(
        f"http://127.0.0.1:{port}",
        port,
        data_dir,
        process,
        log_path,
        access_key="AKIAENVCONFIGURED000",
        secret_key="env-configured-secret-0123456789",
    )
    try:
        wait_ready(server)
        client = make_client(server)
        client.create_bucket(Bucket="from-env")
        client.put_object(Bucket="from-env", Key="k", Body=b"env")
        assert client.get_object(Bucket="from-env", Key="k")["Body"].read() == b"env"
        assert data_dir.is_dir()
        assert any(data_dir.iterdir())
        assert f"console on http://127.0.0.1:{console_port}" in server.log()
    finally:
        assert server.stop() == 0


def test_flags_override_environment(tmp_path: Path) -> None:
    env_port = free_port()
    ignored_dir = tmp_path / "ignored"
    server = start_server(
        tmp_path / "flag-data", env={"S3SERVER_PORT": str(env_port), "S3SERVER_DATA_DIR": str(ignored_dir)}
    )
    try:
        assert server.port != env_port
        make_client(server).create_bucket(Bucket="flagged")
        assert not ignored_dir.exists()
        assert any((tmp_path / "flag-data").iterdir())
    finally:
        assert server.stop() == 0


def test_sigterm_lets_inflight_upload_finish(tmp_path: Path) -> None:
    data_dir = tmp_path / "graceful"
    server = start_server(data_dir)
    pieces = [bytes([i]) * 64 * 1024 for i in range(10)]
    body = b"".join(pieces)
    try:
        make_client(server).create_bucket(Bucket="graceful")
        path = object_path("graceful", "slow upload")
        headers = sign(
            server,
            "PUT",
            path,
            headers={"Content-Length": str(len(body))},
            payload_hash=UNSIGNED_PAYLOAD,
        )
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(pieces[0])
        time.sleep(0.2)
        server.process.send_signal(signal.SIGTERM)
        for piece in pieces[1:]:
            time.sleep(0.1)
            conn.send(piece)
        try:
            response = conn.getresponse()
            answer = response.read()
        except (TimeoutError, ConnectionError) as exc:
            pytest.fail(
                f"no answer to the upload in flight at SIGTERM ({exc!r}): the server stopped reading its "
                f"body\n{server.log()[-2000:]}"
            )
        finally:
            conn.close()
        assert response.status == 200, answer
        assert server.process.wait(timeout=20) == 0
    finally:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)

    restarted = start_server(data_dir)
    try:
        got = send(restarted, "GET", object_path("graceful", "slow upload"))
        assert got.status == 200
        assert got.body == body
    finally:
        assert restarted.stop() == 0


def test_sigterm_exits_cleanly_when_idle(tmp_path: Path) -> None:
    server = start_server(tmp_path / "idle")
    assert send(server, "GET", "/").status == 200
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10


_SERVING_LINE = re.compile(r"process (\d+) serving; http parser: (\S+) \((\S+)\), event loop: (\S+)")


def _serving_lines(server: RunningServer, processes: int) -> list[tuple[str, ...]]:
    """The start-up line of each serving process (workers may log a moment after the first answers)."""
    deadline = time.monotonic() + 30
    while True:
        found = [match.groups() for match in _SERVING_LINE.finditer(server.log())]
        if len(found) >= processes or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_process_serves_with_c_parser_and_uvloop(tmp_path: Path, workers: int) -> None:
    server = start_server(tmp_path / "data", workers=workers)
    try:
        lines = _serving_lines(server, workers)
        assert len({pid for pid, *_ in lines}) == workers, server.log()
        for _pid, parser, module, loop in lines:
            assert (parser, module, loop) == ("C", "aiohttp._http_parser", "uvloop"), server.log()
    finally:
        assert server.stop() == 0


def test_start_up_line_reports_the_python_parser(tmp_path: Path) -> None:
    """The line reflects what is in use: with aiohttp's extensions switched off, it says so."""
    server = start_server(tmp_path / "data", env={"AIOHTTP_NO_EXTENSIONS": "1"})
    try:
        lines = _serving_lines(server, 1)
        assert [line[1:3] for line in lines] == [("Python", "aiohttp.http_parser")], server.log()
    finally:
        assert server.stop() == 0
