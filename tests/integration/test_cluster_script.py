"""scripts/cluster: the cluster topology as local processes, reachable through either gateway, and
stopped cleanly by SIGTERM."""

from __future__ import annotations

import json
import os
import random
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
PORTS = (7841, 7842, 7881, 7882, 7883, 8080)


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


def test_scripts_cluster(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
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
         "--no-balancer", "--ready-file", str(ready)],
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
        one, two = (client(g) for g in endpoints["gateways"])
        one.create_bucket(Bucket="scripted")  # type: ignore[attr-defined]
        one.put_object(Bucket="scripted", Key="k", Body=b"through gateway one")  # type: ignore[attr-defined]
        got = two.get_object(Bucket="scripted", Key="k")["Body"].read()  # type: ignore[attr-defined]
        assert got == b"through gateway one"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
        log.close()
    assert code == 0, (tmp_path / "cluster.log").read_text()
    for name in ("node1", "node2", "node3", "gateway1", "gateway2"):
        assert (tmp_path / "cluster" / f"{name}.log").exists()
