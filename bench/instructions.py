"""`python -m bench instructions`: CPU instructions per GET, HEAD and DELETE of a 4 KiB object.

Requests per second on a machine that others share say little about a change of a few per cent;
the instructions the server process executes per request do not depend on what else runs. The
server (one worker, from this checkout) runs under valgrind's callgrind with instrumentation off
while it starts and while the objects are written; a warm-up of GETs and HEADs follows, then for
each operation the counters are zeroed, `--requests` signed requests are sent one after another on
one keep-alive connection, and the counters are dumped. Every thread of the process counts (the
access log's writer and the storage threads too). Runs of the same code agree within about 0.5 %.

    python -m bench instructions [--requests 200]

It needs valgrind (`apt-get install valgrind`). The figures are for comparing two versions of the
server on one machine, not absolute costs: callgrind counts instructions, not cycles or cache misses.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sign import Signer

ROOT = Path(__file__).resolve().parents[1]  # the checkout whose server is measured

ACCESS_KEY = "benchinstructions"
SECRET_KEY = "bench-instructions-secret-key-0123456789"
BUCKET = "bench"
WARMUP = 50


class Client:
    """Signed requests over one keep-alive connection; any non-2xx answer is an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.signer = Signer(ACCESS_KEY, SECRET_KEY, f"127.0.0.1:{port}")
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def send(self, method: str, path: str, body: bytes = b"") -> bytes:
        lines = self.signer.headers(method, path, "", "UNSIGNED-PAYLOAD")
        headers = dict(line.split(": ", 1) for line in lines.split("\r\n") if line)
        self.conn.request(method, path, body=body or None, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return data


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def measure(requests: int, workdir: Path) -> dict[str, float]:
    """Instructions per request of GET, HEAD and DELETE, from a server started here."""
    port = free_port()
    out = workdir / "callgrind.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    env.update(S3SERVER_ROOT_USER=ACCESS_KEY, S3SERVER_ROOT_PASSWORD=SECRET_KEY)
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            sys.executable, "-m", "s3server", "serve", "--workers", "1", "--address", "127.0.0.1",
            "--port", str(port), "--data-dir", str(workdir / "data"), "--no-console"]  # fmt: skip
    with open(workdir / "server.log", "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(process.pid)], check=True, capture_output=True)

    try:
        wait_ready(port, process)
        client = Client(port)
        body = os.urandom(4096)
        client.send("PUT", f"/{BUCKET}")
        client.send("PUT", f"/{BUCKET}/object", body)
        for i in range(requests):
            client.send("PUT", f"/{BUCKET}/doomed-{i}", body)
        control("-i", "on")
        for _ in range(WARMUP):
            client.send("GET", f"/{BUCKET}/object")
            client.send("HEAD", f"/{BUCKET}/object")
        paths = {
            "get": ("GET", lambda i: f"/{BUCKET}/object"),
            "head": ("HEAD", lambda i: f"/{BUCKET}/object"),
            "delete": ("DELETE", lambda i: f"/{BUCKET}/doomed-{i}"),
        }
        for label, (method, path) in paths.items():
            control("-z")
            for i in range(requests):
                data = client.send(method, path(i))
                if method == "GET" and data != body:
                    raise RuntimeError("GET answered other bytes than were PUT")
            control("-d", label)
    finally:
        process.terminate()
        process.wait(120)
    found: dict[str, float] = {}
    for dump in workdir.glob("callgrind.out*"):
        text = dump.read_text(errors="replace")
        label = re.search(r"^desc: Trigger: dump (\w+)$", text, re.M)
        total = re.search(r"^(?:summary|totals): (\d+)$", text, re.M)
        if label and total:
            found[label.group(1)] = int(total.group(1)) / requests
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench instructions", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--requests", type=int, default=200, help="measured requests per operation")
    args = parser.parse_args(argv)
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        raise SystemExit("python -m bench instructions needs valgrind (apt-get install valgrind)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    try:
        found = measure(args.requests, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for label in ("get", "head", "delete"):
        if label in found:
            print(f"{label.upper()} 4 KiB: {found[label] / 1000:,.0f}k instructions a request")


if __name__ == "__main__":
    main()
