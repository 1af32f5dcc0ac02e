"""Start one `s3server serve` process for a benchmark, on a free loopback port, and stop it cleanly.

Every workload that measures a single server starts it here, so they all run it the same way: the
caller's S3SERVER_* variables dropped (a benchmark must not inherit someone's settings), the root
credentials below, one worker and no console unless asked, the access log off unless asked (the log
is a cost of its own, measured by `compare`, which runs the server with its defaults). The process
writes its log beside the data directory; `stop` sends SIGTERM and waits, then kills.
"""

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "AKIAS3SERVERBENCHROOT"
SECRET_KEY = "s3server-bench-secret-key-0123456789abcd"
ADDRESS = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ADDRESS, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process a benchmark started: where it listens, how to sign for it, where it logs."""

    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    ca_bundle: str | None = None  # the certificate to trust when it speaks HTTPS

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def boto3_client(self, **config: Any) -> Any:
        """A path-style boto3 S3 client of this server (`config`: more botocore Config options), for
        the workloads that measure what a boto3 user sees; only they import boto3."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, **config),
            verify=self.ca_bundle or True,
        )

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def clean_env(*prefixes: str) -> dict[str, str]:
    """This process's environment without the variables that would configure the servers."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("S3SERVER_", *prefixes))}


def serve_command(port: int, data_dir: Path, args: Sequence[str] = ()) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of `s3server serve` on 127.0.0.1:`port` with the bench's root credentials
    and the server's own defaults for everything `args` does not set."""
    env = clean_env() | {"S3SERVER_ROOT_USER": ACCESS_KEY, "S3SERVER_ROOT_PASSWORD": SECRET_KEY}
    argv = [sys.executable, "-m", "s3server", "serve", "--address", ADDRESS, "--port", str(port),
            "--data-dir", str(data_dir), *args]  # fmt: skip
    return argv, env


def wait_serving(server: Server, timeout: float) -> None:
    """Return once the server answers HTTP at all (403 for an anonymous request will do); raise
    RuntimeError if it exits first or stays silent for `timeout` seconds (and then kill it)."""
    context = ssl._create_unverified_context() if server.endpoint.startswith("https") else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"exited with {server.process.returncode}: {server.log_tail(5)[-1000:]}")
        try:
            answer = urllib.request.urlopen(server.endpoint + "/", timeout=2, context=context)
            answer.close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    server.stop(timeout=5)
    raise RuntimeError(f"did not answer within {timeout:.0f} s: {server.log_tail(5)[-1000:]}")


def start(
    data_dir: Path,
    args: Sequence[str] = (),
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    tls: bool = False,
    access_log: bool = False,
    timeout: float = 60,
) -> Server:
    """`s3server serve` with `workers` processes, no console and `args` (metadata, drives, …), once it
    serves. `tls` turns on `--tls auto` (a self-signed certificate in the data dir)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    flags = ["--workers", str(workers), "--no-console", *(["--tls", "auto"] if tls else []), *args]
    argv, full_env = serve_command(port, data_dir, flags)
    full_env["S3SERVER_ACCESS_LOG"] = "true" if access_log else "false"
    full_env |= env or {}
    log_path = data_dir.parent / f"{data_dir.name}-server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env)
    scheme = "https" if tls else "http"
    server = Server(f"{scheme}://{ADDRESS}:{port}", process, log_path)
    if tls:
        server.ca_bundle = str(data_dir / "tls" / "cert.pem")
    try:
        wait_serving(server, timeout)
    except RuntimeError as exc:
        raise RuntimeError(f"s3server {exc}") from None
    return server


@contextlib.contextmanager
def running(data_dir: Path, args: Sequence[str] = (), **options: Any) -> Iterator[Server]:
    """`start`, then `stop` on the way out; an exit status other than 0 raises, with the log's tail,
    so that a server that failed under load cannot pass for a slow one."""
    server = start(data_dir, args, **options)
    try:
        yield server
    finally:
        code = server.stop()
    if code != 0:
        raise RuntimeError(f"s3server exited with {code}:\n{server.log_tail(40)}")
