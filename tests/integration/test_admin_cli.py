"""`s3server admin user …` and `s3server admin key …` end to end: the real command, talking to a
running server, and the credentials it prints working (or not) with boto3."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error
from tests.support.server import RunningServer, free_port
from tests.support.users import client_for, unique_name


def admin(
    server: RunningServer | None, *args: str, env: dict[str, str] | None = None, endpoint_flag: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `s3server admin ARGS` with the root credentials in the environment and, unless
    `endpoint_flag`, the server's address in S3SERVER_ENDPOINT."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
    if server is not None:
        full.update(S3SERVER_ROOT_USER=server.access_key, S3SERVER_ROOT_PASSWORD=server.secret_key)
        if not endpoint_flag:
            full["S3SERVER_ENDPOINT"] = server.endpoint
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "s3server", "admin", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def test_user_add_prints_a_working_pair(server: RunningServer) -> None:
    name = unique_name("cli")
    out = ok(admin(server, "user", "add", name))
    assert out.startswith(f"created user {name}\n")
    access_key = re.search(r"access key id:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    secret_key = re.search(r"secret access key:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    s3 = client_for(server, access_key, secret_key)
    assert s3.list_buckets()["Owner"]["DisplayName"] == name
    ok(admin(server, "user", "remove", name))


def test_user_add_json(server: RunningServer) -> None:
    name = unique_name("clijson")
    answer = json.loads(ok(admin(server, "user", "add", name, "--json")))
    assert set(answer) >= {"access_key_id", "secret_access_key"}
    assert answer["user"] == name and answer["admin"] is False
    assert re.fullmatch(r"AK[A-Z0-9]{18}", answer["access_key_id"])
    s3 = client_for(server, answer["access_key_id"], answer["secret_access_key"])
    bucket = unique_name("clibucket")
    s3.create_bucket(Bucket=bucket)
    # A user who owns buckets is not removed from under them.
    refused = admin(server, "user", "remove", name)
    assert refused.returncode == 1 and "owns 1 bucket" in refused.stderr
    s3.delete_bucket(Bucket=bucket)
    assert json.loads(ok(admin(server, "user", "remove", name, "--json"))) == {"deleted": name}
    with pytest.raises(ClientError) as err:
        s3.list_buckets()
    assert client_error(err.value) == ("InvalidAccessKeyId", 403)


def test_import_a_known_pair(server: RunningServer) -> None:
    name = unique_name("imported")
    access_key = f"IMPORT{os.getpid()}{name[-3:]}".replace("-", "")
    secret_key = "a-known-secret-from-elsewhere-0123456789"
    out = ok(
        admin(server, "user", "add", name, "--access-key", access_key, "--secret-key", secret_key, "--json")
    )
    assert json.loads(out)["access_key_id"] == access_key
    client_for(server, access_key, secret_key).list_buckets()
    again = admin(server, "key", "create", name, "--access-key", access_key, "--secret-key", secret_key)
    assert again.returncode == 1 and "Conflict" in again.stderr
    half = admin(server, "user", "add", unique_name("half"), "--access-key", "ONLYHALF123")
    assert half.returncode == 2 and "--secret-key" in half.stderr
    ok(admin(server, "user", "remove", name))


def test_list_users_and_keys(server: RunningServer) -> None:
    name = unique_name("lister")
    first = json.loads(ok(admin(server, "user", "add", name, "--admin", "--json")))
    assert first["admin"] is True
    second = json.loads(ok(admin(server, "key", "create", name, "--json")))
    assert second["user"] == name and second["active"] is True and second["secret_access_key"]
    client_for(server, second["access_key_id"], second["secret_access_key"]).list_buckets()

    table = ok(admin(server, "user", "list"))
    assert table.splitlines()[0].split() == ["NAME", "ADMIN", "KEYS", "CREATED"]
    row = next(line.split() for line in table.splitlines() if line.startswith(name + " "))
    assert row[:3] == [name, "yes", "2"]
    listed = json.loads(ok(admin(server, "user", "list", "--json")))["users"]
    mine = next(u for u in listed if u["name"] == name)
    assert sorted(k["access_key_id"] for k in mine["access_keys"]) == sorted(
        [first["access_key_id"], second["access_key_id"]]
    )
    assert "secret_access_key" not in json.dumps(listed)

    keys = ok(admin(server, "key", "list", name))
    assert keys.splitlines()[0].split() == ["ACCESS", "KEY", "ID", "USER", "STATUS"]
    assert {line.split()[0] for line in keys.splitlines()[1:]} == {
        first["access_key_id"],
        second["access_key_id"],
    }
    everything = json.loads(ok(admin(server, "key", "list", "--json")))["access_keys"]
    assert {first["access_key_id"], second["access_key_id"], server.access_key} <= {
        k["access_key_id"] for k in everything
    }
    ok(admin(server, "user", "remove", name))


def test_deactivate_activate_delete_a_key(server: RunningServer) -> None:
    name = unique_name("keys")
    pair = json.loads(ok(admin(server, "user", "add", name, "--json")))
    access_key = pair["access_key_id"]
    s3 = client_for(server, access_key, pair["secret_access_key"])
    assert ok(admin(server, "key", "deactivate", access_key)) == f"access key {access_key} is now inactive\n"
    assert "inactive" in ok(admin(server, "key", "list", name))
    with pytest.raises(ClientError) as err:
        s3.list_buckets()
    assert client_error(err.value) == ("InvalidAccessKeyId", 403)
    ok(admin(server, "key", "activate", access_key))
    s3.list_buckets()
    assert ok(admin(server, "key", "delete", access_key)) == f"deleted access key {access_key}\n"
    with pytest.raises(ClientError):
        s3.list_buckets()
    missing = admin(server, "key", "delete", access_key)
    assert missing.returncode == 1 and "NotFound" in missing.stderr
    ok(admin(server, "user", "remove", name))


def test_root_is_protected(server: RunningServer) -> None:
    refused = admin(server, "user", "remove", "root")
    assert refused.returncode == 1 and "Conflict" in refused.stderr
    refused = admin(server, "key", "delete", server.access_key)
    assert refused.returncode == 1 and "S3SERVER_ROOT_USER" in refused.stderr


def test_errors(server: RunningServer, tmp_path: Path) -> None:
    missing = admin(server, "user", "remove", unique_name("nobody"))
    assert missing.returncode == 1 and missing.stderr.startswith("s3server: NotFound: no user")
    bad = admin(server, "user", "add", "not a valid name")
    assert bad.returncode == 1 and "InvalidRequest" in bad.stderr
    # --endpoint wins over S3SERVER_ENDPOINT; nothing listening is a clear error.
    nowhere = f"http://127.0.0.1:{free_port()}"
    down = admin(server, "user", "list", "--endpoint", nowhere)
    assert down.returncode == 1 and f"cannot reach {nowhere}" in down.stderr
    ok(admin(server, "user", "list", "--endpoint", server.endpoint, endpoint_flag=True))
    # Wrong root credentials are refused by the server.
    wrong = admin(server, "user", "list", env={"S3SERVER_ROOT_PASSWORD": "not-the-password"})
    assert wrong.returncode == 1 and "SignatureDoesNotMatch" in wrong.stderr
    # No credentials at all: a usage error, before any request.
    none = admin(
        None, "user", "list", env={"S3SERVER_ENDPOINT": server.endpoint, "S3SERVER_DATA_DIR": str(tmp_path)}
    )
    assert none.returncode == 2 and "S3SERVER_ROOT_USER" in none.stderr


def test_generated_root_credentials_from_the_data_dir(server: RunningServer, tmp_path: Path) -> None:
    """Without the environment, the pair a server generated into its data dir is used."""
    (tmp_path / "root-credentials.json").write_text(
        json.dumps({"access_key": server.access_key, "secret_key": server.secret_key})
    )
    env = {"S3SERVER_ENDPOINT": server.endpoint}
    out = ok(admin(None, "user", "list", "--data-dir", str(tmp_path), env=env))
    assert "root" in out.split()
