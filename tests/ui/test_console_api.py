"""The console's HTTP surface without a browser: sessions, CSRF, headers, and how it is started."""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer, free_port, start_server

STATIC = Path(__file__).resolve().parents[2] / "ui" / "static"


class Console:
    """A cookie-keeping JSON client of one console."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, Any]:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Content-Type": "application/json", **(headers or {})}
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with self.opener.open(request, timeout=20) as answer:
                raw = answer.read()
                return answer.status, answer.headers, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, err.headers, json.loads(raw) if raw else None

    def session(self) -> dict[str, Any]:
        status, _, value = self.call("GET", "/api/session")
        assert status == 200
        self.csrf = value["csrf"]
        return value

    def sign_in(self, access_key: str, secret_key: str) -> tuple[int, Any, Any]:
        self.session()
        answer = self.call(
            "POST",
            "/api/login",
            {"access_key": access_key, "secret_key": secret_key},
            {"X-CSRF-Token": self.csrf},
        )
        if answer[0] == 200:
            self.csrf = answer[2]["csrf"]
        return answer

    def change(self, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        return self.call(method, path, body, {"X-CSRF-Token": self.csrf})


def test_session_cookie_is_httponly_and_strict(console_server: RunningServer) -> None:
    console = Console(str(console_server.console))
    status, headers, value = console.call("GET", "/api/session")
    assert status == 200 and value["signed_in"] is False and value["csrf"]
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie


def test_sign_in_rotates_the_session_and_never_returns_the_secret(console_server: RunningServer) -> None:
    console = Console(str(console_server.console))
    console.session()
    before = {c.name: c.value for c in console.jar}
    status, _, value = console.sign_in(console_server.access_key, console_server.secret_key)
    assert status == 200 and value["signed_in"] and value["is_admin"] and value["user"] == "root"
    after = {c.name: c.value for c in console.jar}
    assert before["s3console"] != after["s3console"]  # an id planted before sign-in is worthless
    for path in ("/api/session", "/api/buckets", "/api/ops/features"):
        status, _, value = console.call("GET", path)
        assert status == 200
        assert console_server.secret_key not in json.dumps(value)


def test_changes_need_the_csrf_token_and_the_same_origin(console_server: RunningServer) -> None:
    console = Console(str(console_server.console))
    assert console.sign_in(console_server.access_key, console_server.secret_key)[0] == 200
    name = f"csrf-{os.getpid()}"
    status, _, value = console.call("POST", "/api/buckets", {"name": name})
    assert status == 403 and "security token" in value["error"]["message"]
    status, _, _ = console.call("POST", "/api/buckets", {"name": name}, {"X-CSRF-Token": "forged"})
    assert status == 403
    status, _, value = console.call(
        "POST",
        "/api/buckets",
        {"name": name},
        {"X-CSRF-Token": console.csrf, "Origin": "http://evil.example"},
    )
    assert status == 403 and "another site" in value["error"]["message"]
    assert console.change("POST", "/api/buckets", {"name": name})[0] == 200
    assert console.change("DELETE", f"/api/buckets/{name}")[0] == 200


def test_signing_in_needs_a_token_too(console_server: RunningServer) -> None:
    console = Console(str(console_server.console))
    status, _, _ = console.call(
        "POST",
        "/api/login",
        {"access_key": console_server.access_key, "secret_key": console_server.secret_key},
    )
    assert status == 403


def test_api_needs_a_session_and_sign_out_ends_it(console_server: RunningServer) -> None:
    console = Console(str(console_server.console))
    status, _, value = console.call("GET", "/api/buckets")
    assert status == 401 and value["error"]["message"] == "Your session has ended. Sign in again."
    assert console.sign_in(console_server.access_key, console_server.secret_key)[0] == 200
    assert console.call("GET", "/api/buckets")[0] == 200
    assert console.change("POST", "/api/logout")[0] == 200
    assert console.call("GET", "/api/buckets")[0] == 401


def test_endpoint_errors_come_back_in_words(console_server: RunningServer) -> None:
    console = Console(str(console_server.console))
    console.sign_in(console_server.access_key, console_server.secret_key)
    status, _, value = console.call("GET", "/api/buckets/no-such-bucket-here/objects")
    assert status == 404 and value["error"] == {
        "message": "That bucket does not exist (it may have just been deleted).",
        "code": "NoSuchBucket",
    }
    status, _, value = console.call("GET", "/api/nothing/here")
    assert status == 404 and value["error"]["message"] == "There is no such console API."


def test_pages_carry_a_strict_content_security_policy(console_server: RunningServer) -> None:
    with urllib.request.urlopen(str(console_server.console) + "/", timeout=10) as answer:
        page = answer.read().decode()
        policy = answer.headers["Content-Security-Policy"]
    assert (
        "default-src 'self'" in policy
        and "script-src 'self'" in policy
        and "frame-ancestors 'none'" in policy
    )
    assert '<script type="module" src="/static/js/main.js">' in page
    with urllib.request.urlopen(str(console_server.console) + "/static/js/md5.js", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith(("application/javascript", "text/javascript"))


def test_static_assets_load_nothing_from_elsewhere() -> None:
    """No CDN, no web fonts: every asset is served by the console itself."""
    allowed = {"http://www.w3.org/2000/svg"}
    for path in STATIC.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for scheme in ("http://", "https://"):
                for start in [i for i in range(len(text)) if text.startswith(scheme, i)]:
                    url = text[start:].split("'")[0].split('"')[0]
                    assert url in allowed, f"{path.name} refers to {url}"


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the console exited early"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def test_console_subcommand_runs_alone_against_an_endpoint(
    console_server: RunningServer, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    env["S3SERVER_ENDPOINT"] = console_server.endpoint  # the environment works as the flag does
    with open(tmp_path / "console.log", "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "s3server",
                "console",
                "--address",
                "127.0.0.1",
                "--console-port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", process)
        console = Console(f"http://127.0.0.1:{port}")
        status, _, value = console.sign_in(console_server.access_key, console_server.secret_key)
        assert status == 200 and value["is_admin"], value
        status, _, value = console.change(
            "POST", "/api/buckets/nonexistent-bucket-x/presign", {"key": "k", "expires": 60}
        )
        assert status == 200 and value["url"].startswith(console_server.endpoint + "/nonexistent-bucket-x/k?")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert f"for the S3 endpoint {console_server.endpoint}" in (tmp_path / "console.log").read_text()


def test_worker_zero_serves_the_console(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path / "data", workers=2, console_port=port)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", server.process)
        console = Console(f"http://127.0.0.1:{port}")
        assert console.sign_in(server.access_key, server.secret_key)[0] == 200
        assert f"console on http://127.0.0.1:{port}" in server.log()
    finally:
        assert server.stop() == 0


def test_a_busy_console_port_stops_serve_with_advice(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "s3server",
                "serve",
                "--port",
                str(free_port()),
                "--console-port",
                str(busy),
                "--workers",
                "1",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")},
        )
    assert result.returncode == 1
    assert f"cannot start the console on port {busy}" in result.stderr
    assert "--no-console" in result.stderr


@pytest.mark.parametrize("flag", [["--no-console"], ["--console-port", "0", "--no-console"]])
def test_no_console_flag(tmp_path: Path, flag: list[str]) -> None:
    server = start_server(tmp_path / "data", args=flag)
    try:
        assert "console on" not in server.log()
    finally:
        assert server.stop() == 0


def test_console_speaks_https_when_the_api_does(tmp_path: Path) -> None:
    """With --tls the console serves HTTPS with the same certificate, sets Secure cookies, and
    reaches its own S3 API over HTTPS, trusting that certificate."""
    import ssl

    port = free_port()
    server = start_server(tmp_path / "data", args=["--tls", "auto"], scheme="https", console_port=port)
    try:
        context = ssl.create_default_context(cafile=server.ca_bundle)
        console = Console(f"https://127.0.0.1:{port}")
        console.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(console.jar), urllib.request.HTTPSHandler(context=context)
        )
        status, headers, _ = console.call("GET", "/api/session")
        assert status == 200 and "Secure" in headers["Set-Cookie"]
        assert console.sign_in(server.access_key, server.secret_key)[0] == 200
        status, _, value = console.call("GET", "/api/ops/health")
        assert status == 200 and value["status"] == "ok", value
    finally:
        assert server.stop() == 0
