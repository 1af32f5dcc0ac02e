"""HTTPS on the S3 port: `--tls auto` (a kept self-signed certificate) and `--tls-cert/--tls-key`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_client
from tests.support.server import RunningServer, start_server


def aws(server: RunningServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_CA_BUNDLE=str(server.ca_bundle),
    )
    cmd = [sys.executable, "-m", "awscli", *args, "--endpoint-url", server.endpoint]
    result = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return result


def test_aws_cli_over_https(tls_server: RunningServer, tmp_path: Path) -> None:
    data = os.urandom(6 * 1024 * 1024 + 11)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    bucket = f"tls-cli-{os.getpid()}"
    aws(tls_server, tmp_path, "s3", "mb", f"s3://{bucket}")
    aws(tls_server, tmp_path, "s3", "cp", str(src), f"s3://{bucket}/dir/up.bin")
    listing = aws(tls_server, tmp_path, "s3", "ls", f"s3://{bucket}/dir/").stdout.decode()
    assert "up.bin" in listing and str(len(data)) in listing
    aws(tls_server, tmp_path, "s3", "cp", f"s3://{bucket}/dir/up.bin", str(tmp_path / "down.bin"))
    assert hashlib.md5((tmp_path / "down.bin").read_bytes()).digest() == hashlib.md5(data).digest()
    aws(tls_server, tmp_path, "s3", "rb", f"s3://{bucket}", "--force")


def test_auto_certificate_is_kept_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, args=["--tls", "auto"], scheme="https")
    try:
        assert "self-signed certificate" in first.log() and "--ca-bundle" in first.log()
        cert = Path(str(first.ca_bundle)).read_bytes()
        make_client(first).create_bucket(Bucket="kept")
    finally:
        assert first.stop() == 0
    second = start_server(data_dir, args=["--tls", "auto"], scheme="https")
    try:
        assert Path(str(second.ca_bundle)).read_bytes() == cert
        assert [b["Name"] for b in make_client(second).list_buckets()["Buckets"]] == ["kept"]
    finally:
        assert second.stop() == 0


def test_operator_certificate(tmp_path: Path) -> None:
    from s3server.tls import ensure_self_signed

    cert, key, _ = ensure_self_signed(tmp_path / "ops", ["localhost", "127.0.0.1"])
    server = start_server(
        tmp_path / "data", args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https"
    )
    try:
        server.ca_bundle = str(cert)
        s3 = make_client(server)
        s3.create_bucket(Bucket="ops")
        s3.put_object(Bucket="ops", Key="k", Body=b"over https")
        assert s3.get_object(Bucket="ops", Key="k")["Body"].read() == b"over https"
    finally:
        assert server.stop() == 0


def test_untrusted_certificate_is_refused_by_clients(tls_server: RunningServer) -> None:
    from botocore.exceptions import SSLError

    tls_server_untrusted = RunningServer(
        tls_server.endpoint, tls_server.port, tls_server.data_dir, tls_server.process, tls_server.log_path
    )
    with pytest.raises(SSLError):
        make_client(tls_server_untrusted).list_buckets()
