"""s3fs / fsspec: files and folders over S3 as pandas, dask and friends use it. s3fs caches listings,
so every check after a change reads through a fresh view (`invalidate_cache`) rather than the cache."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import fsspec
import s3fs
from compat_helpers import Compat, md5_bytes, md5_file

from tests.conftest import make_client
from tests.support.server import RunningServer

MiB = 1024 * 1024


def filesystem(server: RunningServer) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        key=server.access_key,
        secret=server.secret_key,
        endpoint_url=server.endpoint,
        client_kwargs={"region_name": "us-east-1"},
        config_kwargs={"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def test_s3fs(server: RunningServer, compat: Compat, tmp_path: Path, big_file: Callable[[int], Path]) -> None:
    fs = filesystem(server)
    rec = compat("s3fs", f"s3fs {s3fs.__version__}, fsspec {fsspec.__version__}")
    s3 = make_client(server)
    bucket = f"s3fs-{server.port}"
    text = b"hello from s3fs\n" * 64

    with rec.feature("bucket"):
        fs.mkdir(bucket)
        fs.invalidate_cache()
        assert fs.exists(bucket)

    with rec.feature("put"):
        with fs.open(f"{bucket}/dir/small.txt", "wb") as f:
            f.write(text)
        assert s3.head_object(Bucket=bucket, Key="dir/small.txt")["ETag"] == f'"{md5_bytes(text)}"'

    with rec.feature("get"):
        with fs.open(f"{bucket}/dir/small.txt", "rb") as f:
            assert md5_bytes(f.read()) == md5_bytes(text)
            f.seek(6)
            assert f.read(4) == text[6:10]  # a ranged GET
        assert fs.cat_file(f"{bucket}/dir/small.txt", start=3, end=9) == text[3:9]

    with rec.feature("large"):
        # Writing more than a block (5 MiB) makes s3fs upload parts as the buffer fills.
        source = big_file(12 * MiB + 5)
        data = source.read_bytes()
        with fs.open(f"{bucket}/big/streamed.bin", "wb", block_size=5 * MiB) as f:
            for start in range(0, len(data), 1 * MiB):
                f.write(data[start : start + 1 * MiB])
        assert s3.head_object(Bucket=bucket, Key="big/streamed.bin")["ETag"].endswith('-3"')
        digest = hashlib.md5()
        with fs.open(f"{bucket}/big/streamed.bin", "rb", block_size=4 * MiB) as f:
            while chunk := f.read(3 * MiB):
                digest.update(chunk)
        assert digest.hexdigest() == md5_file(source)
        target = tmp_path / "big.bin"
        fs.get(f"{bucket}/big/streamed.bin", str(target))
        assert md5_file(target) == md5_file(source)

    tree = {
        "tree/a/one.csv": b"1,2\n",
        "tree/a/deeper/two.csv": b"3,4\n",
        "tree/b/three.json": b"{}",
        "tree/top.csv": b"5,6\n",
    }
    fs.pipe({f"{bucket}/{k}": v for k, v in tree.items()})
    fs.invalidate_cache()

    with rec.feature("head"):
        info = fs.info(f"{bucket}/dir/small.txt")
        assert info["size"] == len(text)
        assert info["type"] == "file"
        assert info["ETag"] == f'"{md5_bytes(text)}"'
        folder = fs.info(f"{bucket}/tree/a")
        assert folder["type"] == "directory"
        assert fs.isdir(f"{bucket}/tree/a/deeper") and not fs.isdir(f"{bucket}/tree/top.csv")

    with rec.feature("list"):
        found = fs.find(f"{bucket}/tree")
        assert found == sorted(f"{bucket}/{k}" for k in tree)
        assert fs.glob(f"{bucket}/tree/**/*.csv") == sorted(
            f"{bucket}/{k}" for k in tree if k.endswith(".csv")
        )
        assert fs.glob(f"{bucket}/tree/*/*.json") == [f"{bucket}/tree/b/three.json"]

    with rec.feature("folders"):
        entries = fs.ls(f"{bucket}/tree", detail=True)
        kinds = {e["name"]: e["type"] for e in entries}
        assert kinds == {
            f"{bucket}/tree/a": "directory",
            f"{bucket}/tree/b": "directory",
            f"{bucket}/tree/top.csv": "file",
        }
        assert fs.ls(f"{bucket}/tree/a", detail=False) == sorted(
            [f"{bucket}/tree/a/deeper", f"{bucket}/tree/a/one.csv"]
        )

    with rec.feature("copy"):
        fs.copy(f"{bucket}/dir/small.txt", f"{bucket}/copies/small.txt")
        fs.mv(f"{bucket}/copies/small.txt", f"{bucket}/moved/small.txt")
        fs.invalidate_cache()
        assert not fs.exists(f"{bucket}/copies/small.txt")
        assert md5_bytes(fs.cat_file(f"{bucket}/moved/small.txt")) == md5_bytes(text)

    with rec.feature("delete"):
        fs.rm(f"{bucket}/moved/small.txt")
        fs.invalidate_cache()
        assert not fs.exists(f"{bucket}/moved/small.txt")

    with rec.feature("bulk-delete"):
        # A recursive rm lists the tree and removes it with DeleteObjects batches.
        fs.rm(f"{bucket}/tree", recursive=True)
        fs.invalidate_cache()
        assert not fs.exists(f"{bucket}/tree")
        assert s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["KeyCount"] == 0

    with rec.feature("bucket"):
        # rm(bucket, recursive=True) asks GetBucketVersioning, empties the bucket, then removes it.
        fs.pipe_file(f"{bucket}/last/one.txt", b"1")
        fs.rm(bucket, recursive=True)
        fs.invalidate_cache()
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
