"""scripts/cluster: the cluster topology as local processes, reachable through HAProxy and through
either gateway alike, still serving through HAProxy once a gateway is killed, and stopped cleanly by
SIGTERM."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

from tests.support.postgres import PostgresCluster

ROOT = Path(__file__).resolve().parents[2]
PORTS = (7840, 7841, 7842, 7881, 7882, 7883, 8080)


def free_offset() -> int:
    """A port offset at which every port of the cluster is free (bound and released here)."""
    while True:
        offset = random.randrange(20000, 50000)
        try:
            for port in PORTS:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return offset


def client(endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="AKIASCRIPTSCLUSTER",
        aws_secret_access_key="scripts-cluster-secret-key-0123456789",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def haproxy_installed() -> bool:
    return bool(shutil.which("haproxy") or shutil.which("haproxy", path="/usr/local/sbin:/usr/sbin"))


def listing(s3: object, bucket: str) -> list[tuple[str, str]]:
    page = s3.list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    return [(entry["Key"], entry["ETag"]) for entry in page.get("Contents", [])]


def test_scripts_cluster(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    assert haproxy_installed(), (
        "the load balancer of scripts/cluster is HAProxy: install it (scripts/test does)"
    )
    ready = tmp_path / "endpoints.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    env.update(
        S3SERVER_ROOT_USER="AKIASCRIPTSCLUSTER",
        S3SERVER_ROOT_PASSWORD="scripts-cluster-secret-key-0123456789",
    )
    log = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "cluster"), "--dir", str(tmp_path / "cluster"),
         "--port-offset", str(free_offset()), "--metadata", postgres_cluster.create_database("script"),
         "--ready-file", str(ready)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not ready.exists():
            assert process.poll() is None, (tmp_path / "cluster.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "cluster.log").read_text()
            time.sleep(0.2)
        endpoints = json.loads(ready.read_text())
        assert len(endpoints["nodes"]) == 3
        balancer = client(endpoints["balancer"])
        one, two = (client(g) for g in endpoints["gateways"])
        # Through the load balancer (round robin: the writes land on both gateways) ...
        balancer.create_bucket(Bucket="scripted")  # type: ignore[attr-defined]
        bodies = {f"k{i}": f"through the balancer, {i}".encode() for i in range(4)}
        for key, body in bodies.items():
            balancer.put_object(Bucket="scripted", Key=key, Body=body)  # type: ignore[attr-defined]
        one.put_object(Bucket="scripted", Key="direct", Body=b"through gateway one")  # type: ignore[attr-defined]
        bodies["direct"] = b"through gateway one"
        # ... every gateway and the balancer see the same buckets and objects.
        seen = [listing(s3, "scripted") for s3 in (balancer, one, two)]
        assert seen[0] == seen[1] == seen[2] and [key for key, _ in seen[0]] == sorted(bodies)
        for s3 in (balancer, one, two):
            names = [b["Name"] for b in s3.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
            assert names == ["scripted"]
            for key, body in bodies.items():
                assert s3.get_object(Bucket="scripted", Key=key)["Body"].read() == body  # type: ignore[attr-defined]
        # Kill a gateway: the balancer's port keeps serving, writes and reads alike.
        os.kill(endpoints["pids"]["gateway1"], signal.SIGKILL)
        for i in range(6):
            key = f"after-kill-{i}"
            balancer.put_object(Bucket="scripted", Key=key, Body=key.encode())  # type: ignore[attr-defined]
            assert balancer.get_object(Bucket="scripted", Key=key)["Body"].read() == key.encode()  # type: ignore[attr-defined]
        assert len(listing(balancer, "scripted")) == len(bodies) + 6
        assert two.get_object(Bucket="scripted", Key="after-kill-0")["Body"].read() == b"after-kill-0"  # type: ignore[attr-defined]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
        log.close()
    assert code == 0, (tmp_path / "cluster.log").read_text()
    for name in ("node1", "node2", "node3", "gateway1", "gateway2", "haproxy", "console"):
        assert (tmp_path / "cluster" / f"{name}.log").exists()
