"""s3cmd with a config file pointing host and host_bucket at the loopback endpoint (so path-style),
plain HTTP and SigV4: mb, put, get, info, ls, sync, cp/mv, signurl, del and rb."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from compat_helpers import (
    Compat,
    clean_env,
    executable,
    md5_bytes,
    md5_file,
    read_tree,
    run,
    sample_tree,
    write_tree,
)

from tests.conftest import make_client
from tests.support.server import RunningServer

MiB = 1024 * 1024


class S3cmd:
    def __init__(self, server: RunningServer, home: Path) -> None:
        self.script = executable("s3cmd", "pip install s3cmd (in the test extra)")
        self.config = home / "s3cfg"
        host = server.endpoint.removeprefix("http://")
        self.config.write_text(
            "[default]\n"
            f"access_key = {server.access_key}\n"
            f"secret_key = {server.secret_key}\n"
            f"host_base = {host}\n"
            f"host_bucket = {host}\n"
            "bucket_location = us-east-1\n"
            "use_https = False\n"
            "signature_v2 = False\n"
            "multipart_chunk_size_mb = 8\n"
            "progress_meter = False\n"
        )
        self.env = clean_env(("AWS_", "S3CMD"))
        self.env["HOME"] = str(home)

    def command(self, *args: str) -> list[str]:
        # s3cmd is a Python script; running it with this interpreter avoids depending on its shebang.
        return [sys.executable, self.script, "-c", str(self.config), "--no-progress", *args]

    def __call__(self, *args: str) -> str:
        return run(self.command(*args), env=self.env, cwd=self.config.parent).stdout.decode()

    def version(self) -> str:
        probe = subprocess.run(
            [sys.executable, self.script, "--version"], env=self.env, capture_output=True, timeout=60
        )
        return probe.stdout.decode().strip()


def ls_keys(output: str, bucket: str) -> list[str]:
    """Keys from `s3cmd ls --recursive` lines: date, time, size, s3://bucket/key."""
    prefix = f"s3://{bucket}/"
    return sorted(line.split(prefix, 1)[1] for line in output.splitlines() if prefix in line)


def test_s3cmd(
    server: RunningServer, compat: Compat, tmp_path: Path, big_file: Callable[[int], Path]
) -> None:
    s3cmd = S3cmd(server, tmp_path)
    rec = compat("s3cmd", s3cmd.version())
    s3 = make_client(server)
    bucket = f"s3cmd-{server.port}"
    url = f"s3://{bucket}"
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello from s3cmd\n" * 30)

    with rec.feature("bucket"):
        s3cmd("mb", url)
        assert url in s3cmd("ls")

    with rec.feature("put"):
        s3cmd("put", "--mime-type=text/plain", str(small), f"{url}/dir/small.txt")
        head = s3.head_object(Bucket=bucket, Key="dir/small.txt")
        assert head["ETag"] == f'"{md5_file(small)}"'
        assert head["ContentType"].startswith("text/plain")

    with rec.feature("get"):
        back = tmp_path / "back.txt"
        s3cmd("get", f"{url}/dir/small.txt", str(back))
        assert md5_file(back) == md5_file(small)

    with rec.feature("head"):
        info = s3cmd("info", f"{url}/dir/small.txt")
        fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in info.splitlines())}
        assert fields["File size"] == str(small.stat().st_size)
        assert fields["MD5 sum"] == md5_file(small)

    with rec.feature("large"):
        source = big_file(20 * MiB + 3)
        s3cmd("put", str(source), f"{url}/big/file.bin")
        assert s3.head_object(Bucket=bucket, Key="big/file.bin")["ETag"].endswith('-3"')
        target = tmp_path / "big.bin"
        s3cmd("get", f"{url}/big/file.bin", str(target))
        assert md5_file(target) == md5_file(source)

    local = tmp_path / "tree"
    files = sample_tree()
    write_tree(local, files)

    with rec.feature("sync"):
        s3cmd("sync", f"{local}/", f"{url}/tree/")
        (local / "css/site.css").unlink()
        (local / "new.txt").write_bytes(b"added later\n")
        files.pop("css/site.css")
        files["new.txt"] = b"added later\n"
        s3cmd("sync", "--delete-removed", f"{local}/", f"{url}/tree/")
        assert ls_keys(s3cmd("ls", "--recursive", f"{url}/tree/"), bucket) == sorted(
            f"tree/{k}" for k in files
        )
        down = tmp_path / "down"
        down.mkdir()
        s3cmd("sync", f"{url}/tree/", f"{down}/")
        assert read_tree(down) == files

    with rec.feature("list"):
        listed = ls_keys(s3cmd("ls", "--recursive", f"{url}/"), bucket)
        assert listed == sorted(["dir/small.txt", "big/file.bin", *(f"tree/{k}" for k in files)])

    with rec.feature("folders"):
        lines = [line.split() for line in s3cmd("ls", f"{url}/tree/").splitlines()]
        assert ["DIR", f"{url}/tree/docs/"] in lines and ["DIR", f"{url}/tree/img/"] in lines
        assert any(parts[-1] == f"{url}/tree/index.html" for parts in lines)

    with rec.feature("copy"):
        s3cmd("cp", f"{url}/dir/small.txt", f"{url}/copies/small.txt")
        s3cmd("mv", f"{url}/copies/small.txt", f"{url}/moved/small.txt")
        moved = s3.get_object(Bucket=bucket, Key="moved/small.txt")["Body"].read()
        assert md5_bytes(moved) == md5_file(small)
        assert s3.list_objects_v2(Bucket=bucket, Prefix="copies/")["KeyCount"] == 0

    with rec.feature("presign"):
        link = s3cmd("signurl", f"{url}/dir/small.txt", "+300").strip()
        with urllib.request.urlopen(link, timeout=30) as response:
            assert md5_bytes(response.read()) == md5_file(small)

    with rec.feature("delete"):
        s3cmd("del", f"{url}/moved/small.txt")
        assert s3.list_objects_v2(Bucket=bucket, Prefix="moved/")["KeyCount"] == 0

    with rec.feature("bulk-delete"):
        # s3cmd deletes a recursive listing with DeleteObjects batches.
        s3cmd("del", "--recursive", "--force", f"{url}/")
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    with rec.feature("bucket"):
        s3cmd("rb", url)
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
