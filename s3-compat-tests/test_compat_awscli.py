"""The aws cli, v1 (PyPI's `awscli`, run as `python -m awscli`) and v2 (Debian's `awscli` package),
through the same commands: s3 mb/cp/ls/sync/mv/rm/rb/presign and the s3api calls they do not cover."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest
from compat_helpers import Compat, clean_env, md5_bytes, md5_file, read_tree, run, sample_tree, write_tree

from tests.conftest import make_client
from tests.support.server import RunningServer

MiB = 1024 * 1024
V2_INSTALL_HINT = "aws cli v2 not found on PATH: install Debian's package (`apt-get install -y awscli`)"


@functools.cache
def find_v2() -> tuple[str, str]:
    """The first `aws` on PATH that is v2 (pip's v1 usually comes first), and its version."""
    for folder in os.get_exec_path():
        candidate = shutil.which("aws", path=folder)
        if candidate is None:
            continue
        probe = subprocess.run([candidate, "--version"], capture_output=True, timeout=60)
        words = (probe.stdout + probe.stderr).decode(errors="replace").split()
        if words and words[0].startswith("aws-cli/2."):
            return candidate, words[0]
    pytest.fail(V2_INSTALL_HINT, pytrace=False)


def command_for(flavour: str) -> tuple[list[str], str]:
    """The command line that starts this cli, and the version it reports."""
    if flavour == "v1":
        return [sys.executable, "-m", "awscli"], f"aws-cli/{version('awscli')}"
    binary, reported = find_v2()
    return [binary], reported


class Cli:
    """`aws …` with the server's endpoint and credentials and nothing from the developer's own setup."""

    def __init__(self, flavour: str, server: RunningServer, home: Path) -> None:
        self.base, self.version = command_for(flavour)
        self.server = server
        self.env = clean_env()
        self.env.update(
            AWS_ACCESS_KEY_ID=server.access_key,
            AWS_SECRET_ACCESS_KEY=server.secret_key,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(home / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
            AWS_PAGER="",
            AWS_MAX_ATTEMPTS="1",
        )

    def __call__(self, *args: str, input: bytes | None = None) -> str:
        cmd = [*self.base, *args, "--endpoint-url", self.server.endpoint]
        return run(cmd, env=self.env, input=input).stdout.decode()


def ls_keys(output: str) -> list[str]:
    """Keys from `aws s3 ls --recursive` lines: date, time, size, key (which may hold spaces)."""
    return sorted(line.split(maxsplit=3)[3] for line in output.splitlines() if line.strip())


def awscli_flow(
    flavour: str, server: RunningServer, compat: Compat, tmp_path: Path, big_file: Callable[[int], Path]
) -> None:
    aws = Cli(flavour, server, tmp_path)
    rec = compat(f"awscli-{flavour}", aws.version)
    s3 = make_client(server)  # only to look at what the cli left on the server
    bucket = f"cli-{flavour}-{server.port}"
    url = f"s3://{bucket}"
    small = tmp_path / "note with space.txt"
    small.write_bytes(b"hello from the aws cli\n" * 50)

    with rec.feature("bucket"):
        aws("s3", "mb", url)
        s3.head_bucket(Bucket=bucket)

    with rec.feature("put"):
        aws("s3", "cp", str(small), f"{url}/dir/note with space.txt")
        head = s3.head_object(Bucket=bucket, Key="dir/note with space.txt")
        assert head["ETag"] == f'"{md5_file(small)}"'

    with rec.feature("get"):
        back = tmp_path / "back.txt"
        aws("s3", "cp", f"{url}/dir/note with space.txt", str(back))
        assert md5_file(back) == md5_file(small)
        streamed = run(
            [*aws.base, "s3", "cp", f"{url}/dir/note with space.txt", "-", "--endpoint-url", server.endpoint],
            env=aws.env,
        ).stdout
        assert md5_bytes(streamed) == md5_file(small)

    with rec.feature("head"):
        head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "dir/note with space.txt"))
        assert head["ContentLength"] == small.stat().st_size
        assert head["ETag"] == f'"{md5_file(small)}"'

    with rec.feature("large"):
        # Over 8 MiB the cli uploads in parts; from stdin it cannot know the size and always does.
        source = big_file(20 * MiB + 7)
        aws("s3", "cp", str(source), f"{url}/big/file.bin")
        assert s3.head_object(Bucket=bucket, Key="big/file.bin")["ETag"].endswith('-3"')
        target = tmp_path / "big.bin"
        aws("s3", "cp", f"{url}/big/file.bin", str(target))
        assert md5_file(target) == md5_file(source)
        piped = source.read_bytes()[: 9 * MiB + 1]
        aws("s3", "cp", "-", f"{url}/big/stdin.bin", input=piped)
        got = s3.get_object(Bucket=bucket, Key="big/stdin.bin")["Body"].read()
        assert md5_bytes(got) == md5_bytes(piped)

    local = tmp_path / "tree"
    files = sample_tree()
    write_tree(local, files)

    with rec.feature("sync"):
        aws("s3", "sync", str(local), f"{url}/tree/")
        (local / "css/site.css").unlink()
        (local / "new.txt").write_bytes(b"added later\n")
        files.pop("css/site.css")
        files["new.txt"] = b"added later\n"
        aws("s3", "sync", "--delete", str(local), f"{url}/tree/")
        remote = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"]]
        assert remote == sorted(f"tree/{k}" for k in files)
        down = tmp_path / "down"
        aws("s3", "sync", f"{url}/tree/", str(down))
        assert read_tree(down) == files

    with rec.feature("list"):
        listed = ls_keys(aws("s3", "ls", "--recursive", f"{url}/"))
        expected = ["big/file.bin", "big/stdin.bin", "dir/note with space.txt", *(f"tree/{k}" for k in files)]
        assert listed == sorted(expected)

    with rec.feature("folders"):
        lines = [line.split() for line in aws("s3", "ls", f"{url}/tree/").splitlines()]
        assert ["PRE", "docs/"] in lines and ["PRE", "img/"] in lines
        assert any(parts[-1] == "index.html" for parts in lines)

    with rec.feature("copy"):
        aws("s3", "cp", f"{url}/dir/note with space.txt", f"{url}/copies/note.txt")
        aws("s3", "mv", f"{url}/copies/note.txt", f"{url}/moved/note.txt")
        moved = s3.get_object(Bucket=bucket, Key="moved/note.txt")["Body"].read()
        assert md5_bytes(moved) == md5_file(small)
        assert s3.list_objects_v2(Bucket=bucket, Prefix="copies/")["KeyCount"] == 0

    with rec.feature("tagging"):
        key = ["--bucket", bucket, "--key", "moved/note.txt"]
        aws("s3api", "put-object-tagging", *key, "--tagging", "TagSet=[{Key=team,Value=storage}]")
        tags = json.loads(aws("s3api", "get-object-tagging", *key))["TagSet"]
        assert tags == [{"Key": "team", "Value": "storage"}]
        aws("s3api", "delete-object-tagging", *key)
        assert s3.get_object_tagging(Bucket=bucket, Key="moved/note.txt")["TagSet"] == []

    with rec.feature("presign"):
        link = aws("s3", "presign", f"{url}/dir/note with space.txt", "--expires-in", "300").strip()
        with urllib.request.urlopen(link, timeout=30) as response:
            assert md5_bytes(response.read()) == md5_file(small)

    with rec.feature("delete"):
        aws("s3", "rm", f"{url}/moved/note.txt")
        assert s3.list_objects_v2(Bucket=bucket, Prefix="moved/")["KeyCount"] == 0

    with rec.feature("bulk-delete"):
        batch = {"Objects": [{"Key": "big/file.bin"}, {"Key": "big/stdin.bin"}], "Quiet": False}
        deleted = json.loads(
            aws("s3api", "delete-objects", "--bucket", bucket, "--delete", json.dumps(batch))
        )
        assert sorted(d["Key"] for d in deleted["Deleted"]) == ["big/file.bin", "big/stdin.bin"]
        removed = aws("s3", "rm", "--recursive", f"{url}/")
        assert removed.count("delete:") == len(files) + 1
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    with rec.feature("bucket"):
        aws("s3", "rb", url)
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("flavour", ["v1", "v2"])
def test_aws_cli(
    flavour: str, server: RunningServer, compat: Compat, tmp_path: Path, big_file: Callable[[int], Path]
) -> None:
    awscli_flow(flavour, server, compat, tmp_path, big_file)
