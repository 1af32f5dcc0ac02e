"""Start a real `s3server serve` process on a free loopback port, the way users and later checks do."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "AKIAS3SERVERTESTROOT"
SECRET_KEY = "s3server-test-secret-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChildProcess:
    """A server process a test started, with the log it writes."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@dataclass
class RunningServer(ChildProcess):
    endpoint: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    extra_env: dict[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None  # the certificate to trust when the server speaks HTTPS
    console: str | None = None  # the web console's URL, when the test asked for one


def start_server(
    data_dir: Path,
    *,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    root: bool = True,
    port: int | None = None,
    timeout: float = 30,
    scheme: str = "http",
    workers: int = 1,
    console_port: int | None = None,
) -> RunningServer:
    """`s3server serve --address 127.0.0.1 --port P --data-dir D` with the root credentials in the env.

    One worker process unless `workers` (or a --workers in `args`) says otherwise, so that tests
    which reach into one process's state (fault injection, caches) see the process that serves them.
    The web console stays off (so parallel servers never compete for its port) unless `console_port`
    (or a --console-port in `args`) asks for it.
    """
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    if root:
        full_env["S3SERVER_ROOT_USER"] = ACCESS_KEY
        full_env["S3SERVER_ROOT_PASSWORD"] = SECRET_KEY
    full_env.update(env or {})
    log_path = data_dir.parent / f"{data_dir.name}-server-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    cmd = [
        sys.executable,
        "-m",
        "s3server",
        "serve",
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *([] if "--workers" in (args or []) else ["--workers", str(workers)]),
        *(["--console-port", str(console_port)] if console_port else []),
        *([] if console_port or "--console-port" in (args or []) else ["--no-console"]),
        *(args or []),
    ]
    process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=full_env)
    server = RunningServer(f"{scheme}://127.0.0.1:{port}", port, data_dir, process, log_path)
    if console_port:
        server.console = f"{scheme}://127.0.0.1:{console_port}"
    if scheme == "https":
        server.ca_bundle = str(data_dir / "tls" / "cert.pem")
    wait_ready(server, timeout)
    return server


def wait_ready(server: RunningServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"s3server exited with {server.process.returncode}:\n{server.log()}")
        try:
            context = ssl._create_unverified_context() if server.endpoint.startswith("https") else None
            with contextlib.closing(
                urllib.request.urlopen(server.endpoint + "/", timeout=2, context=context)
            ):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer (403 for anonymous) means it is serving
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"s3server did not start within {timeout}s:\n{server.log()}")
