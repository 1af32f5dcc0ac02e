"""One cluster on loopback: PostgreSQL, three storage nodes, two gateways. Clients see the same
buckets through either gateway; a storage node killed with SIGKILL during 32 concurrent uploads
loses no acknowledged object; a gateway killed leaves the other serving; the node comes back and
every object has three replicas again."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import aws_cli_for, make_client
from tests.support.cluster import RunningNode, holders, restart_node, start_gateway, start_nodes
from tests.support.postgres import PostgresCluster
from tests.support.server import RunningServer
from tests.support.users import admin_client

UPLOADS = 32
IDENTITY_KEY = "s3server-test-cluster-identity-key"  # the same on every gateway of one database


@dataclass
class Cluster:
    nodes: list[RunningNode]
    gateways: list[RunningServer]


@pytest.fixture
def cluster(tmp_path: Path, postgres_cluster: PostgresCluster) -> Iterator[Cluster]:
    nodes = start_nodes(tmp_path, 3)
    url = postgres_cluster.create_database("cluster")
    gateways = [
        start_gateway(
            tmp_path / f"gateway{i}",
            nodes,
            args=["--metadata", url, "--reaper-grace", "0"],  # the tests run reaper passes themselves
            env={"S3SERVER_IDENTITY_KEY": IDENTITY_KEY},
        )
        for i in (1, 2)
    ]
    world = Cluster(nodes, gateways)
    yield world
    for gateway in world.gateways:
        gateway.stop()
    for node in world.nodes:
        node.stop()


def test_both_gateways_serve_the_same_buckets_and_objects(cluster: Cluster, tmp_path: Path) -> None:
    one, two = (make_client(g) for g in cluster.gateways)
    one.create_bucket(Bucket="shared")
    data = os.urandom(3 * 1024 * 1024 + 9)
    one.put_object(Bucket="shared", Key="from-one", Body=data)
    assert "shared" in [b["Name"] for b in two.list_buckets()["Buckets"]]
    assert two.get_object(Bucket="shared", Key="from-one")["Body"].read() == data

    source = tmp_path / "cli.bin"
    source.write_bytes(os.urandom(9 * 1024 * 1024 + 1))  # over the cli's 8 MiB: a multipart upload
    first, second = (aws_cli_for(g, tmp_path) for g in cluster.gateways)
    second("s3", "cp", str(source), "s3://shared/from-cli")
    listed = first("s3", "ls", "s3://shared/").stdout.decode()
    assert "from-cli" in listed and "from-one" in listed
    target = tmp_path / "back.bin"
    first("s3", "cp", "s3://shared/from-cli", str(target))
    assert target.read_bytes() == source.read_bytes()

    two.delete_object(Bucket="shared", Key="from-one")
    with pytest.raises(ClientError):
        one.head_object(Bucket="shared", Key="from-one")


def test_sigkill_a_node_during_uploads_then_a_gateway_and_the_replicas_return(cluster: Cluster) -> None:
    clients = [make_client(g, max_pool_connections=UPLOADS) for g in cluster.gateways]
    clients[0].create_bucket(Bucket="durable")
    bodies = {f"object-{i:02d}": os.urandom(256 * 1024 + i * 97_000) for i in range(UPLOADS)}
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    halfway = threading.Event()

    def upload(key: str) -> None:
        client = clients[int(key[-2:]) % 2]
        try:
            etag = client.put_object(Bucket="durable", Key=key, Body=bodies[key])["ETag"]
        except ClientError:
            return  # not acknowledged: nothing promised
        with lock:
            acknowledged[key] = etag
            if len(acknowledged) >= UPLOADS // 4:
                halfway.set()

    victim = cluster.nodes[0]
    with ThreadPoolExecutor(UPLOADS) as pool:
        futures = [pool.submit(upload, key) for key in bodies]
        halfway.wait(timeout=300)
        victim.kill()
        for future in futures:
            future.result()
    assert len(acknowledged) >= UPLOADS // 4
    for key, etag in acknowledged.items():
        assert etag == f'"{hashlib.md5(bodies[key]).hexdigest()}"'
        for client in clients:
            got = client.get_object(Bucket="durable", Key=key)
            assert got["ETag"] == etag
            assert got["Body"].read() == bodies[key]

    # Once the reaper removed what failed uploads left, every blob on the nodes still up belongs to
    # an acknowledged object and has at least a write quorum of copies there.
    admin_client(cluster.gateways[1]).expect("POST", "/_admin/reaper")
    live = cluster.nodes[1:]
    counts = holders(live)
    assert len(counts) == len(acknowledged)
    assert all(len(names) >= 2 for names in counts.values()), counts

    # One gateway killed: the other still serves everything.
    cluster.gateways[0].stop(sig=9)
    for key in acknowledged:
        assert clients[1].get_object(Bucket="durable", Key=key)["Body"].read() == bodies[key]

    # The node comes back; the repair puts the third copy back on it, the reaper removes what it
    # missed while it was down, and every object has exactly three replicas.
    cluster.nodes[0] = restart_node(victim)
    report = admin_client(cluster.gateways[1]).expect("POST", "/_admin/scrub")
    assert report["nodes_down"] == [] and report["under_replicated"] == 0, report
    admin_client(cluster.gateways[1]).expect("POST", "/_admin/reaper")
    counts = holders(cluster.nodes)
    assert len(counts) == len(acknowledged)
    assert all(names == {"node1", "node2", "node3"} for names in counts.values()), counts
    storage = admin_client(cluster.gateways[1]).expect("GET", "/_admin/storage")
    assert all(n["up"] for n in storage["nodes"])
    for key in acknowledged:
        assert clients[1].get_object(Bucket="durable", Key=key)["Body"].read() == bodies[key]
