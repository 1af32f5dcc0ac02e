"""Real `s3server storage-node` processes on free loopback ports, gateways in front of them, and a
signed client to ask the nodes what they hold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from s3server.node.signing import sign
from tests.support.server import ChildProcess, RunningServer, free_port, start_server

CLUSTER_SECRET = "s3server-test-cluster-secret"


@dataclass
class RunningNode(ChildProcess):
    name: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """kill -9: no flush, no goodbye."""
        self.stop(signal.SIGKILL)


def start_node(root: Path, name: str, port: int | None = None, timeout: float = 30) -> RunningNode:
    """`s3server storage-node` with its data (index and one drive) under root/name."""
    port = port or free_port()
    data_dir = root / name
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    env["S3SERVER_CLUSTER_SECRET"] = CLUSTER_SECRET
    log_path = root / f"{name}-{port}.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
    cmd = [sys.executable, "-m", "s3server", "storage-node", "--address", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data_dir), "--node-id", name]  # fmt: skip
    process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    node = RunningNode(name, port, data_dir, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"storage node exited with {process.returncode}:\n{node.log()}")
        try:
            if node_call(node, "GET", "/health")[0] == 200:
                return node
        except OSError:
            time.sleep(0.05)
    node.kill()
    raise RuntimeError(f"storage node did not start within {timeout}s:\n{node.log()}")


def restart_node(node: RunningNode) -> RunningNode:
    """The same node (name, port, data) started again after it stopped."""
    return start_node(node.data_dir.parent, node.name, node.port)


def start_nodes(root: Path, count: int) -> list[RunningNode]:
    return [start_node(root, f"node{i + 1}") for i in range(count)]


def node_list(nodes: list[RunningNode]) -> str:
    return ",".join(f"{n.name}={n.url}" for n in nodes)


def start_gateway(
    data_dir: Path, nodes: list[RunningNode], *, args: list[str] | None = None, **kwargs: Any
) -> RunningServer:
    """`s3server serve --storage-nodes …` with the cluster secret in its environment."""
    return start_server(
        data_dir,
        args=["--storage-nodes", node_list(nodes), *(args or [])],
        env={"S3SERVER_CLUSTER_SECRET": CLUSTER_SECRET, **kwargs.pop("env", {})},
        **kwargs,
    )


def node_call(
    node: RunningNode,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    secret: str | None = CLUSTER_SECRET,
) -> tuple[int, bytes]:
    """One request to a node, signed unless `secret` is None; (status, body)."""
    path_qs = path + ("?" + urlencode(params) if params else "")
    all_headers = sign(secret, method, path_qs) if secret is not None else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(node.url + path_qs, data=body, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def held(node: RunningNode) -> dict[str, int]:
    """blob id -> size of every committed replica on the node."""
    status, body = node_call(node, "GET", "/blobs", {"limit": 5000})
    assert status == 200, body
    return {blob_id: size for blob_id, size, _ in json.loads(body)["blobs"]}


def holders(nodes: list[RunningNode]) -> dict[str, set[str]]:
    """blob id -> names of the nodes holding a replica."""
    found: dict[str, set[str]] = {}
    for node in nodes:
        for blob_id in held(node):
            found.setdefault(blob_id, set()).add(node.name)
    return found


def replica_file(node: RunningNode, blob_id: str) -> Path:
    """Where the node keeps its replica of a blob (its one drive: DATA_DIR/storage)."""
    return node.data_dir / "storage" / "blobs" / blob_id[0:2] / blob_id[2:4] / blob_id
