"""Fixtures shared by the integration suites: a live server per metadata backend, and real clients."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from tests.support.postgres import postgres_cluster  # noqa: F401 - the shared session fixture
from tests.support.server import RunningServer, start_server

# Every integration test runs against each metadata backend listed here.
BACKENDS = ["sqlite", "postgres"]


def backend_args(request: pytest.FixtureRequest, backend: str) -> list[str]:
    """The flags that put a test server on `backend`: a fresh PostgreSQL database for "postgres"."""
    if backend == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        return ["--metadata", cluster.create_database("server")]
    return []


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp(f"server-{request.param}") / "data"
    running = start_server(data_dir, args=backend_args(request, request.param))
    yield running
    code = running.stop()
    assert code == 0, f"server exited with {code}:\n{running.log()[-4000:]}"


@pytest.fixture(scope="session", params=BACKENDS)
def tls_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server speaking HTTPS with its `--tls auto` self-signed certificate."""
    data_dir = tmp_path_factory.mktemp(f"tls-server-{request.param}") / "data"
    args = ["--tls", "auto", *backend_args(request, request.param)]
    running = start_server(data_dir, args=args, scheme="https")
    yield running
    code = running.stop()
    assert code == 0, f"server exited with {code}:\n{running.log()[-4000:]}"


def make_client(server: RunningServer, **config: object) -> object:
    options: dict[str, object] = {
        "s3": {"addressing_style": "path"},
        "retries": {"max_attempts": 1, "mode": "standard"},
    }
    options.update(config)
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        verify=server.ca_bundle or True,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(**options),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def s3(server: RunningServer):  # type: ignore[no-untyped-def]
    return make_client(server)


_bucket_numbers = itertools.count()


@pytest.fixture
def bucket(s3) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty bucket, emptied and removed afterwards."""
    name = f"test-{os.getpid()}-{next(_bucket_numbers)}"
    s3.create_bucket(Bucket=name)
    yield name
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def aws_cli(server: RunningServer, tmp_path):  # type: ignore[no-untyped-def]
    """Run `aws …` (the aws cli from the test extra) against the server; returns CompletedProcess."""
    return aws_cli_for(server, tmp_path)


def aws_cli_for(server: RunningServer, tmp_path):  # type: ignore[no-untyped-def]
    """`aws …` against one server, as root, with its configuration files under tmp_path."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
    )

    def run(*args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "awscli", *args, "--endpoint-url", server.endpoint]
        result = subprocess.run(cmd, env=env, input=input, capture_output=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(
                f"aws {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout.decode()}\n{result.stderr.decode()}"
            )
        return result

    return run
