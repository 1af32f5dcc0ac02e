"""The storage node list in the metadata database: `s3server admin nodes add|remove|list`, and a
gateway started without --storage-nodes that places its replicas on the listed nodes (with the
flag, the flag wins)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, backend_args, make_client
from tests.support.cluster import CLUSTER_SECRET, RunningNode, holders, start_nodes
from tests.support.server import start_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningNode]]:
    started = start_nodes(tmp_path_factory.mktemp("listed-nodes"), 3)
    yield started
    for node in started:
        assert node.stop() == 0, node.log()[-3000:]


def admin_nodes(metadata: list[str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    return subprocess.run(
        [sys.executable, "-m", "s3server", "admin", "nodes", *args, "--data-dir", str(data_dir), *metadata],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_admin_nodes_add_remove_list(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    metadata = backend_args(request, backend)
    data = tmp_path / "data"
    added = admin_nodes(metadata, data, "add", "node1=http://127.0.0.1:7881", "http://127.0.0.1:7882/")
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines() == [
        "added node1 http://127.0.0.1:7881",
        "added http://127.0.0.1:7882 http://127.0.0.1:7882",
    ]
    moved = admin_nodes(metadata, data, "add", "node1=http://10.0.0.1:7881", "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout) == [
        {"name": "http://127.0.0.1:7882", "url": "http://127.0.0.1:7882"},
        {"name": "node1", "url": "http://10.0.0.1:7881"},
    ]
    missing = admin_nodes(metadata, data, "remove", "http://127.0.0.1:7882", "node9")
    assert missing.returncode == 1 and "node9" in missing.stderr
    assert missing.stdout == "removed http://127.0.0.1:7882\n"  # the known one went all the same
    listed = admin_nodes(metadata, data, "list")
    assert listed.returncode == 0 and listed.stdout == "node1\thttp://10.0.0.1:7881\n"
    malformed = admin_nodes(metadata, data, "add", "not-a-url")
    assert malformed.returncode == 2 and "not-a-url" in malformed.stderr
    assert admin_nodes(metadata, data, "list").stdout == "node1\thttp://10.0.0.1:7881\n"  # unchanged


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_gateway_without_the_flag_uses_the_listed_nodes(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, nodes: list[RunningNode]
) -> None:
    metadata = backend_args(request, backend)
    data = tmp_path / "gateway"
    added = admin_nodes(metadata, data, "add", *(f"{n.name}={n.url}" for n in nodes))
    assert added.returncode == 0, added.stderr
    env = {"S3SERVER_CLUSTER_SECRET": CLUSTER_SECRET}
    gateway = start_server(data, args=metadata, env=env)
    try:
        s3 = make_client(gateway)
        s3.create_bucket(Bucket=f"listed-{backend}")
        before = holders(nodes)
        body = os.urandom(2 * 1024 * 1024 + 7)
        put = s3.put_object(Bucket=f"listed-{backend}", Key="k", Body=body)
        assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert s3.get_object(Bucket=f"listed-{backend}", Key="k")["Body"].read() == body
        placed = {b: names for b, names in holders(nodes).items() if b not in before}
        assert list(placed.values()) == [{"node1", "node2", "node3"}]  # three replicas, distinct nodes
        assert not (data / "storage").exists()  # nothing on the gateway's own disk
    finally:
        assert gateway.stop() == 0, gateway.log()[-3000:]

    # Both given: --storage-nodes wins over the list (two nodes named, so replicas land on those two).
    flagged = start_server(data, args=[*metadata, "--storage-nodes", f"{nodes[0].name}={nodes[0].url},"
                                       f"{nodes[1].name}={nodes[1].url}"], env=env)  # fmt: skip
    try:
        s3 = make_client(flagged)
        before = holders(nodes)
        s3.put_object(Bucket=f"listed-{backend}", Key="flagged", Body=b"on two nodes")
        assert s3.get_object(Bucket=f"listed-{backend}", Key="flagged")["Body"].read() == b"on two nodes"
        placed = {b: names for b, names in holders(nodes).items() if b not in before}
        assert list(placed.values()) == [{"node1", "node2"}]
        assert s3.get_object(Bucket=f"listed-{backend}", Key="k")["Body"].read() == body
    finally:
        assert flagged.stop() == 0, flagged.log()[-3000:]
    assert "differs from the node list in the metadata database" in flagged.log()
