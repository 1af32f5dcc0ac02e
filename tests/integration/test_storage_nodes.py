"""Storage nodes as their own processes: the signed protocol, a gateway with --storage-nodes placing
replicas on distinct nodes, and what happens when a node goes away or holds a corrupt replica."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3server.node.signing import DATE, NONCE, SIGNATURE, sign
from tests.conftest import make_client
from tests.integration.helpers import request
from tests.integration.helpers import sign as sign_s3
from tests.support.blobs import eventually
from tests.support.cluster import (
    CLUSTER_SECRET,
    RunningNode,
    held,
    holders,
    node_call,
    replica_file,
    restart_node,
    start_gateway,
    start_nodes,
)
from tests.support.server import RunningServer
from tests.support.users import admin_client

BLOB = "0123456789abcdef0123456789abcdef"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[RunningNode], RunningServer]]:
    root = tmp_path_factory.mktemp("nodes")
    nodes = start_nodes(root, 3)
    gateway = start_gateway(root / "gateway", nodes)
    yield nodes, gateway
    assert gateway.stop() == 0, gateway.log()[-3000:]
    for node in nodes:
        assert node.stop() == 0, node.log()[-3000:]


def new_blobs(nodes: list[RunningNode], before: dict[str, set[str]]) -> dict[str, set[str]]:
    return {b: names for b, names in holders(nodes).items() if b not in before}


# -- the protocol


def test_unsigned_stale_replayed_and_forged_requests_get_403_and_touch_nothing(cluster) -> None:  # type: ignore[no-untyped-def]
    nodes, _ = cluster
    node = nodes[0]
    path = f"/blobs/{BLOB}"
    assert node_call(node, "PUT", path, body=b"x", secret=None)[0] == 403
    assert node_call(node, "GET", "/health", secret=None)[0] == 403
    assert node_call(node, "PUT", path, body=b"x", secret="not-the-cluster-secret")[0] == 403
    stale = sign(CLUSTER_SECRET, "PUT", path, now=time.time() - 3600)
    assert node_call(node, "PUT", path, body=b"x", headers=stale, secret=None)[0] == 403
    # A signature is for one method and path: reused for another, it is refused.
    other = sign(CLUSTER_SECRET, "GET", "/health")
    assert node_call(node, "PUT", path, body=b"x", headers=other, secret=None)[0] == 403
    # A captured request replayed inside the time window is refused too.
    captured = sign(CLUSTER_SECRET, "POST", "/delete")
    body = json.dumps({"ids": [BLOB]}).encode()
    assert node_call(node, "POST", "/delete", body=body, headers=captured, secret=None)[0] == 200
    replay = node_call(node, "POST", "/delete", body=body, headers=captured, secret=None)
    assert replay[0] == 403 and b"replayed" in replay[1]
    forged = {**captured, NONCE: "f" * 32}
    assert node_call(node, "POST", "/delete", body=body, headers=forged, secret=None)[0] == 403
    assert {DATE, NONCE, SIGNATURE} <= set(captured)
    assert BLOB not in held(node)  # none of the PUTs wrote anything


def test_a_node_writes_reads_ranges_and_deletes(cluster) -> None:  # type: ignore[no-untyped-def]
    nodes, _ = cluster
    node = nodes[1]
    data = os.urandom(3 * MiB + 5)
    status, body = node_call(node, "PUT", f"/blobs/{BLOB}", body=data)
    assert status == 200, body
    answer = json.loads(body)
    assert answer["size"] == len(data)
    assert len(bytes.fromhex(answer["blocks"])) == 8 * 4  # one xxh3-64 per MiB block
    assert node_call(node, "PUT", f"/blobs/{BLOB}", body=b"again")[0] == 409
    assert node_call(node, "GET", f"/blobs/{BLOB}", {"offset": 0, "length": len(data)}) == (200, data)
    piece = (200, data[MiB - 3 : 2 * MiB + 4])
    assert node_call(node, "GET", f"/blobs/{BLOB}", {"offset": MiB - 3, "length": MiB + 7}) == piece
    assert node_call(node, "GET", f"/blobs/{BLOB}", {"offset": 1, "length": len(data)})[0] == 416
    assert held(node)[BLOB] == len(data)
    assert node_call(node, "POST", "/delete", body=json.dumps({"ids": [BLOB]}).encode())[0] == 200
    assert node_call(node, "GET", f"/blobs/{BLOB}", {"offset": 0, "length": 1})[0] == 404
    assert BLOB not in held(node)


# -- through a gateway


def test_objects_live_on_three_distinct_nodes(cluster) -> None:  # type: ignore[no-untyped-def]
    nodes, gateway = cluster
    s3 = make_client(gateway)
    s3.create_bucket(Bucket="spread")
    before = holders(nodes)
    bodies = {"empty": b"", "small": b"hello nodes", "large": os.urandom(9 * MiB + 123)}
    for key, data in bodies.items():
        put = s3.put_object(Bucket="spread", Key=key, Body=data)
        assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    for key, data in bodies.items():
        assert s3.get_object(Bucket="spread", Key=key)["Body"].read() == data
    ranged = s3.get_object(Bucket="spread", Key="large", Range="bytes=4194000-5242999")["Body"].read()
    assert ranged == bodies["large"][4194000:5243000]
    # Multipart and copy go through the same writer.
    upload = s3.create_multipart_upload(Bucket="spread", Key="parts")["UploadId"]
    parts = [os.urandom(5 * MiB), os.urandom(1234)]
    etags = [
        s3.upload_part(Bucket="spread", Key="parts", UploadId=upload, PartNumber=n + 1, Body=p)["ETag"]
        for n, p in enumerate(parts)
    ]
    s3.complete_multipart_upload(
        Bucket="spread",
        Key="parts",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n + 1} for n, e in enumerate(etags)]},
    )
    s3.copy_object(Bucket="spread", Key="copied", CopySource={"Bucket": "spread", "Key": "large"})
    assert s3.get_object(Bucket="spread", Key="parts")["Body"].read() == b"".join(parts)
    assert s3.get_object(Bucket="spread", Key="copied")["Body"].read() == bodies["large"]

    placed = new_blobs(nodes, before)
    assert len(placed) == 3 + 2 + 1
    assert all(names == {"node1", "node2", "node3"} for names in placed.values()), placed

    for key in [*bodies, "parts", "copied"]:
        s3.delete_object(Bucket="spread", Key=key)
    assert not set(placed) & set(holders(nodes))

    storage = admin_client(gateway).expect("GET", "/_admin/storage")
    assert storage["replicas"] == 3
    assert [n["name"] for n in storage["nodes"]] == ["node1", "node2", "node3"]
    assert all(n["up"] for n in storage["nodes"])
    assert storage["blobs"] == len(holders(nodes))


def test_health_and_metrics_show_every_node(cluster) -> None:  # type: ignore[no-untyped-def]
    _, gateway = cluster
    answer = admin_client(gateway).expect("GET", "/_admin/health")
    assert answer["status"] == "ok", answer
    assert answer["nodes"] == {"total": 3, "writable": 3, "write_quorum": 2}
    assert {c["node"] for c in answer["components"] if c["kind"] == "node"} == {"node1", "node2", "node3"}
    metrics = request(gateway, "GET", "/metrics", {}, b"").body.decode()
    assert 's3_storage_node_up{node="node2",url="http://127.0.0.1:' in metrics


def test_a_corrupt_replica_is_never_served_and_verify_replaces_it(cluster) -> None:  # type: ignore[no-untyped-def]
    nodes, gateway = cluster
    s3 = make_client(gateway)
    s3.create_bucket(Bucket="bitrot")
    before = holders(nodes)
    data = os.urandom(2 * MiB + 77)
    s3.put_object(Bucket="bitrot", Key="k", Body=data)
    (blob_id,) = new_blobs(nodes, before)
    # Two of the three replicas get one flipped byte each, in different blocks: whichever node a
    # read asks first, only verified bytes come back.
    for node, offset in ((nodes[0], 10), (nodes[1], MiB + 10)):
        path = replica_file(node, blob_id)
        raw = bytearray(path.read_bytes())
        raw[offset] ^= 0xFF
        path.write_bytes(bytes(raw))
    for _ in range(3):
        assert s3.get_object(Bucket="bitrot", Key="k")["Body"].read() == data
    assert s3.get_object(Bucket="bitrot", Key="k", Range="bytes=0-99")["Body"].read() == data[:100]

    report = admin_client(gateway).expect("POST", "/_admin/scrub", {"verify": True})
    assert report["corrupt"] == 2, report
    assert report["copied"] == 2, report
    for node in nodes:
        assert replica_file(node, blob_id).read_bytes() == data
    assert holders(nodes)[blob_id] == {"node1", "node2", "node3"}


def test_encrypted_objects_on_nodes_are_ciphertext_and_read_back(cluster) -> None:  # type: ignore[no-untyped-def]
    nodes, gateway = cluster
    s3 = make_client(gateway)
    s3.create_bucket(Bucket="sealed")
    before = holders(nodes)
    data = os.urandom(3 * MiB + 4321)  # several storage pieces, so cipher blocks straddle them
    s3.put_object(Bucket="sealed", Key="k", Body=data, ServerSideEncryption="AES256")
    (blob_id,) = new_blobs(nodes, before)
    for node in nodes:
        stored = replica_file(node, blob_id).read_bytes()
        assert len(stored) > len(data)
        assert data[MiB : MiB + 64] not in stored
    got = s3.get_object(Bucket="sealed", Key="k")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == data
    ranged = s3.get_object(Bucket="sealed", Key="k", Range=f"bytes={MiB - 5}-{2 * MiB + 5}")["Body"].read()
    assert ranged == data[MiB - 5 : 2 * MiB + 6]
    s3.delete_object(Bucket="sealed", Key="k")


# -- a node down


def test_node_down_reads_fail_over_writes_move_on_and_repair_restores(tmp_path: Path) -> None:
    nodes = start_nodes(tmp_path, 3)
    gateway = start_gateway(tmp_path / "gateway", nodes, args=["--replicas", "2"])
    try:
        s3 = make_client(gateway)
        s3.create_bucket(Bucket="failover")
        early = {f"early-{i}": os.urandom(100 + i * 300_000) for i in range(6)}
        for key, data in early.items():
            s3.put_object(Bucket="failover", Key=key, Body=data)
        placed = holders(nodes)
        assert all(len(names) == 2 for names in placed.values())

        down = nodes[0]
        down.kill()
        live = nodes[1:]
        # Every object written before is still readable, wherever its replicas were.
        for key, data in early.items():
            assert s3.get_object(Bucket="failover", Key=key)["Body"].read() == data
        # New writes go to the next node in each blob's hash order: two live copies each.
        before = holders(live)
        late = {f"late-{i}": os.urandom(100 + i * 300_000) for i in range(6)}
        for key, data in late.items():
            s3.put_object(Bucket="failover", Key=key, Body=data)
            assert s3.get_object(Bucket="failover", Key=key)["Body"].read() == data
        fresh = new_blobs(live, before)
        assert len(fresh) == len(late)
        assert all(names == {"node2", "node3"} for names in fresh.values()), fresh

        health = admin_client(gateway).call("GET", "/_admin/health")[1]
        assert health["status"] == "degraded"
        assert health["failing"] == ["node:node1"]
        metrics = request(gateway, "GET", "/metrics", {}, b"").body.decode()
        assert 's3_storage_node_up{node="node1",url="' + down.url + '"} 0.0' in metrics

        # The replica repair copies what lost its node1 copy to node2/node3 …
        report = admin_client(gateway).expect("POST", "/_admin/scrub")
        assert report["nodes_down"] == ["node1"]
        assert all(len(names) == 2 for names in holders(live).values())

        # … and once node1 is back, no blob has more than two copies or fewer.
        nodes[0] = restart_node(down)
        report = admin_client(gateway).expect("POST", "/_admin/scrub")
        assert report["nodes_down"] == [] and report["under_replicated"] == 0, report
        counts = holders(nodes)
        assert len(counts) == len(early) + len(late)
        assert all(len(names) == 2 for names in counts.values()), counts
        for key, data in {**early, **late}.items():
            assert s3.get_object(Bucket="failover", Key=key)["Body"].read() == data
    finally:
        gateway.stop()
        for node in nodes:
            node.stop()


def test_a_gateway_without_the_cluster_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "s3server", "serve", "--data-dir", str(tmp_path), "--no-console"),
            *("--storage-nodes", "http://127.0.0.1:9"),
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"cluster secret" in result.stderr


def test_a_write_acknowledged_at_a_quorum_gets_its_missing_copy_back(tmp_path: Path) -> None:
    """Three nodes, three replicas: a node killed mid-PUT leaves no node to fail over to, so the
    PUT is acknowledged with the two copies of its write quorum; when the node returns, the replica
    repair (started by the gateway's own probe, no admin call) writes the third copy."""
    nodes = start_nodes(tmp_path, 3)
    gateway = start_gateway(tmp_path / "gateway", nodes, args=["--replicas", "3"])
    try:
        s3 = make_client(gateway)
        s3.create_bucket(Bucket="quorum")
        data = os.urandom(24 * MiB)
        path = "/quorum/large"
        headers = sign_s3(gateway, "PUT", path, headers={"Content-Length": str(len(data))},
                       payload_hash="UNSIGNED-PAYLOAD")  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=120)
        connection.putrequest("PUT", path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        victim = nodes[2]
        for offset in range(0, len(data), MiB):
            if offset == 12 * MiB:  # well past the bytes kept for a failover
                victim.kill()
            connection.send(data[offset : offset + MiB])
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()
        assert answer.getheader("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
        connection.close()
        assert s3.get_object(Bucket="quorum", Key="large")["Body"].read() == data
        copies = holders(nodes[:2])
        assert list(copies.values()) == [{"node1", "node2"}]  # the quorum's two copies
        (blob,) = copies

        nodes[2] = restart_node(victim)
        assert eventually(lambda: holders(nodes).get(blob) == {"node1", "node2", "node3"}, timeout=120), (
            holders(nodes),
            gateway.log()[-3000:],
        )
        assert held(nodes[2])[blob] == len(data)
        nodes[0].kill()  # the repaired copy serves reads too
        assert s3.get_object(Bucket="quorum", Key="large")["Body"].read() == data
    finally:
        gateway.stop()
        for node in nodes:
            node.stop()
