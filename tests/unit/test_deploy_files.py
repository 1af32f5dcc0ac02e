"""docker-compose.yml and the Dockerfile: the shape the deployment relies on.

`docker compose config` is run too where the compose plugin is installed; elsewhere the structure
is checked with a YAML parser only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from s3server.config import OPTIONS

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_health_checks() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "s3server", "console"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert services["s3server"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["console"]["depends_on"]["s3server"]["condition"] == "service_healthy"


def test_s3server_keeps_metadata_in_postgres_and_objects_in_a_volume() -> None:
    config = compose()
    service = config["services"]["s3server"]
    env = service["environment"]
    assert env["S3SERVER_METADATA_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["S3SERVER_METADATA_URL"]
    known = {opt.env for opt in OPTIONS} | {"S3SERVER_ROOT_USER", "S3SERVER_ROOT_PASSWORD"}
    assert set(env) <= known, set(env) - known
    volume, _, mount = service["volumes"][0].partition(":")
    assert volume in config["volumes"] and mount == env["S3SERVER_DATA_DIR"]
    assert "7841:7841" in service["ports"]


def test_console_points_at_the_api() -> None:
    console = compose()["services"]["console"]
    assert console["command"] == ["console", "--endpoint", "http://s3server:7841"]
    assert "8080:8080" in console["ports"]


def test_dockerfile_installs_the_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "COPY s3server ./s3server" in text and "pip install" in text
    assert 'ENTRYPOINT ["s3server"]' in text


def test_docker_compose_config_where_available() -> None:
    docker = shutil.which("docker")
    if docker is None:
        return
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        return  # no compose plugin here: the YAML checks above are what we can do
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
