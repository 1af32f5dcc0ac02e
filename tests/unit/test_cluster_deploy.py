"""docker-compose.cluster.yml, its HAProxy configuration and scripts/cluster: the scale-out topology.

`docker compose config` runs too where the compose plugin is installed; elsewhere the YAML is
checked with a parser only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from s3server.config import OPTIONS
from s3server.node.client import parse_nodes

ROOT = Path(__file__).resolve().parents[2]
KNOWN_ENV = {opt.env for opt in OPTIONS} | {
    "S3SERVER_ROOT_USER",
    "S3SERVER_ROOT_PASSWORD",
    "S3SERVER_IDENTITY_KEY",
}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())  # type: ignore[no-any-return]


def test_the_topology() -> None:
    services = compose()["services"]
    assert set(services) == {
        "postgres",
        "node1",
        "node2",
        "node3",
        "gateway1",
        "gateway2",
        "haproxy",
        "console",
    }
    for name, service in services.items():
        if name not in ("haproxy", "console"):
            assert service["healthcheck"]["test"], name
        assert set(service.get("environment", {})) <= KNOWN_ENV | {"POSTGRES_USER", "POSTGRES_PASSWORD",
                                                                   "POSTGRES_DB"}, name  # fmt: skip


def test_nodes_and_gateways_share_the_secret_and_the_node_list() -> None:
    services = compose()["services"]
    secrets = {
        services[n]["environment"]["S3SERVER_CLUSTER_SECRET"]
        for n in services
        if n[:-1] in ("node", "gateway")
    }
    assert len(secrets) == 1
    for n in (1, 2, 3):
        node = services[f"node{n}"]
        assert node["command"] == ["storage-node"]
        assert node["environment"]["S3SERVER_NODE_ID"] == f"node{n}"
        assert node["volumes"] == [f"blobs{n}:/data"]
        assert node["healthcheck"]["test"] == ["CMD", "python", "-m", "s3server.node.probe"]
    for g in (1, 2):
        env = services[f"gateway{g}"]["environment"]
        assert [name for name, _ in parse_nodes((env["S3SERVER_STORAGE_NODES"],))] == [
            "node1",
            "node2",
            "node3",
        ]
        assert "@postgres:5432/" in env["S3SERVER_METADATA_URL"]
        assert services[f"gateway{g}"]["depends_on"]["node3"]["condition"] == "service_healthy"


def test_haproxy_balances_over_both_gateways() -> None:
    service = compose()["services"]["haproxy"]
    source, _, target = service["volumes"][0].partition(":")
    assert target.startswith("/usr/local/etc/haproxy/haproxy.cfg")
    config = (ROOT / source).read_text()
    assert "server gateway1 gateway1:7841 check" in config
    assert "server gateway2 gateway2:7841 check" in config
    assert "httpchk GET /_admin/health/ready" in config
    assert "7841:7841" in service["ports"]


def test_the_image_exposes_the_node_port() -> None:
    assert "7881" in (ROOT / "Dockerfile").read_text()


def test_scripts_cluster_runs() -> None:
    script = ROOT / "scripts" / "cluster"
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--port-offset" in result.stdout


def test_docker_compose_config_where_available() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        return  # no compose plugin here: the checks above are what we can do
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.cluster.yml"), "config", "--quiet"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
