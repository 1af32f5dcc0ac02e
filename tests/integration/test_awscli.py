"""The aws cli (v1) against the live server: s3 mb/cp/ls/sync/rm/rb/presign and s3api object calls."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.server import RunningServer


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def out(result) -> str:  # type: ignore[no-untyped-def]
    return result.stdout.decode()


def test_cli_bucket_and_copy_round_trip(aws_cli, s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"cli-{os.getpid()}"
    aws_cli("s3", "mb", f"s3://{name}")
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in out(aws_cli("s3", "ls")).split()

    source = tmp_path / "upload.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    small = tmp_path / "note with space.txt"
    small.write_text("hello from the cli\n")
    aws_cli("s3", "cp", str(source), f"s3://{name}/data/upload.bin")
    aws_cli("s3", "cp", str(small), f"s3://{name}/data/deeper/note with space.txt")
    aws_cli("s3", "cp", str(small), f"s3://{name}/top.txt")

    head = s3.head_object(Bucket=name, Key="data/upload.bin")
    assert head["ContentLength"] == source.stat().st_size
    assert head["ETag"] == f'"{md5_file(source)}"'

    target = tmp_path / "download.bin"
    aws_cli("s3", "cp", f"s3://{name}/data/upload.bin", str(target))
    assert md5_file(target) == md5_file(source)

    top = out(aws_cli("s3", "ls", f"s3://{name}/"))
    top_lines = [line.split() for line in top.splitlines()]
    assert ["PRE", "data/"] in top_lines
    assert any(parts[-1] == "top.txt" and parts[-2] == str(small.stat().st_size) for parts in top_lines)
    assert "upload.bin" not in top

    recursive = out(aws_cli("s3", "ls", "--recursive", f"s3://{name}/"))
    listed = sorted(line.split(maxsplit=3)[3] for line in recursive.splitlines())
    assert listed == ["data/deeper/note with space.txt", "data/upload.bin", "top.txt"]
    sizes = {line.split(maxsplit=3)[3]: int(line.split()[2]) for line in recursive.splitlines()}
    assert sizes["data/upload.bin"] == source.stat().st_size

    failed = aws_cli("s3", "rb", f"s3://{name}", check=False)
    assert failed.returncode != 0
    assert "BucketNotEmpty" in failed.stderr.decode()

    removed = out(aws_cli("s3", "rm", "--recursive", f"s3://{name}/"))
    assert removed.count("delete:") == 3
    assert "Contents" not in s3.list_objects_v2(Bucket=name)
    aws_cli("s3", "rb", f"s3://{name}")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_cli_sync_tree(aws_cli, s3, bucket: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    local = tmp_path / "tree"
    files = {
        "index.html": b"<html>index</html>",
        "css/site.css": b"body { color: red }",
        "img/logo one.png": os.urandom(20000),
        "img/icons/ключ.svg": b"<svg/>",
        "docs/a+b.txt": b"plus",
    }
    for rel, data in files.items():
        path = local / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    first = out(aws_cli("s3", "sync", str(local), f"s3://{bucket}/site"))
    assert first.count("upload:") == len(files)
    listed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {f"site/{rel}": len(data) for rel, data in files.items()}

    (local / "css/site.css").write_bytes(b"body { color: blue; margin: 0 }")
    second = out(aws_cli("s3", "sync", str(local), f"s3://{bucket}/site"))
    assert second.count("upload:") == 1
    assert "site.css" in second

    back = tmp_path / "back"
    aws_cli("s3", "sync", f"s3://{bucket}/site", str(back))
    for rel in files:
        assert (back / rel).read_bytes() == (local / rel).read_bytes(), rel

    removed = out(aws_cli("s3", "rm", "--recursive", f"s3://{bucket}/site/img"))
    assert removed.count("delete:") == 2
    remaining = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert remaining == ["site/css/site.css", "site/docs/a+b.txt", "site/index.html"]


def test_cli_presign_is_v2(aws_cli, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    data = b"presigned by the cli"
    s3.put_object(Bucket=bucket, Key="shared/file 1.txt", Body=data)
    url = out(aws_cli("s3", "presign", f"s3://{bucket}/shared/file 1.txt", "--expires-in", "120")).strip()
    query = parse_qs(urlsplit(url).query)
    assert "AWSAccessKeyId" in query
    assert "Signature" in query
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        assert resp.read() == data


@pytest.mark.parametrize("key", ["api/plain.txt", "api/odd key+&=.txt"])
def test_cli_s3api_object_calls(aws_cli, bucket: str, tmp_path: Path, key: str) -> None:  # type: ignore[no-untyped-def]
    body = tmp_path / "body.txt"
    body.write_bytes(b"s3api body\n" * 100)
    put = json.loads(
        out(
            aws_cli(
                "s3api",
                "put-object",
                "--bucket",
                bucket,
                "--key",
                key,
                "--body",
                str(body),
                "--content-type",
                "text/plain",
                "--metadata",
                "origin=cli,Mode=test",
            )
        )
    )
    assert put["ETag"] == f'"{md5_file(body)}"'

    head = json.loads(out(aws_cli("s3api", "head-object", "--bucket", bucket, "--key", key)))
    assert head["ContentLength"] == body.stat().st_size
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"origin": "cli", "mode": "test"}
    assert head["ETag"] == put["ETag"]

    target = tmp_path / "got.txt"
    got = json.loads(out(aws_cli("s3api", "get-object", "--bucket", bucket, "--key", key, str(target))))
    assert got["ContentLength"] == body.stat().st_size
    assert target.read_bytes() == body.read_bytes()

    listed = json.loads(
        out(aws_cli("s3api", "list-objects-v2", "--no-paginate", "--bucket", bucket, "--prefix", "api/"))
    )
    assert [o["Key"] for o in listed["Contents"]] == [key]
    assert listed["KeyCount"] == 1


def test_cli_errors_surface(aws_cli, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    missing = aws_cli("s3api", "head-object", "--bucket", f"none-{os.getpid()}", "--key", "k", check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr.decode()
    bad = aws_cli("s3", "mb", "s3://Bad_Name", check=False)
    assert bad.returncode != 0
    assert "InvalidBucketName" in bad.stderr.decode()
