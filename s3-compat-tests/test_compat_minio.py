"""The MinIO Python SDK (`minio`): its own signer, multipart uploader and presigner, nothing from botocore."""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from compat_helpers import Compat, md5_bytes, md5_file
from minio import Minio
from minio.commonconfig import CopySource, Tags
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from tests.conftest import make_client
from tests.support.server import RunningServer

MiB = 1024 * 1024


def test_minio(
    server: RunningServer, compat: Compat, tmp_path: Path, big_file: Callable[[int], Path]
) -> None:
    mc = Minio(
        server.endpoint.removeprefix("http://"),
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
        region="us-east-1",
    )
    rec = compat("minio", f"minio {version('minio')}")
    s3 = make_client(server)
    bucket = f"minio-{server.port}"
    data = b"hello from the minio sdk\n" * 80

    with rec.feature("bucket"):
        mc.make_bucket(bucket)
        assert mc.bucket_exists(bucket)

    with rec.feature("put"):
        put = mc.put_object(
            bucket,
            "dir/small.txt",
            io.BytesIO(data),
            len(data),
            content_type="text/plain",
            metadata={"origin": "minio"},
        )
        assert put.etag == md5_bytes(data)

    with rec.feature("get"):
        response = mc.get_object(bucket, "dir/small.txt")
        try:
            assert md5_bytes(response.read()) == md5_bytes(data)
        finally:
            response.close()
            response.release_conn()
        part = mc.get_object(bucket, "dir/small.txt", offset=5, length=7)
        try:
            assert part.read() == data[5:12]
        finally:
            part.close()
            part.release_conn()

    with rec.feature("head"):
        stat = mc.stat_object(bucket, "dir/small.txt")
        assert stat.size == len(data)
        assert stat.etag == md5_bytes(data)
        assert stat.content_type == "text/plain"
        assert stat.metadata["x-amz-meta-origin"] == "minio"

    with rec.feature("large"):
        # 30 MiB in 10 MiB parts: three UploadPart calls and a CompleteMultipartUpload.
        source = big_file(30 * MiB + 9)
        mc.fput_object(bucket, "big/thirty.bin", str(source), part_size=10 * MiB)
        assert mc.stat_object(bucket, "big/thirty.bin").etag.endswith("-4")
        target = tmp_path / "thirty.bin"
        mc.fget_object(bucket, "big/thirty.bin", str(target))
        assert md5_file(target) == md5_file(source)

    names = [f"tree/{d}/{n}.txt" for d in ("a", "b") for n in range(3)] + ["tree/top.txt"]
    for name in names:
        mc.put_object(bucket, name, io.BytesIO(name.encode()), len(name))

    with rec.feature("list"):
        listed = [o.object_name for o in mc.list_objects(bucket, prefix="tree/", recursive=True)]
        assert listed == sorted(names)
        sizes = {o.object_name: o.size for o in mc.list_objects(bucket, recursive=True)}
        assert sizes["big/thirty.bin"] == 30 * MiB + 9

    with rec.feature("folders"):
        # The SDK yields a page's objects before its prefixes, so compare as sets.
        top = list(mc.list_objects(bucket, prefix="tree/"))
        assert sorted((o.object_name, o.is_dir) for o in top) == [
            ("tree/a/", True),
            ("tree/b/", True),
            ("tree/top.txt", False),
        ]

    with rec.feature("copy"):
        mc.copy_object(bucket, "copies/small.txt", CopySource(bucket, "dir/small.txt"))
        copied = mc.get_object(bucket, "copies/small.txt")
        try:
            assert md5_bytes(copied.read()) == md5_bytes(data)
        finally:
            copied.close()
            copied.release_conn()

    with rec.feature("tagging"):
        tags = Tags.new_object_tags()
        tags["team"] = "storage"
        mc.set_object_tags(bucket, "dir/small.txt", tags)
        assert dict(mc.get_object_tags(bucket, "dir/small.txt") or {}) == {"team": "storage"}
        mc.delete_object_tags(bucket, "dir/small.txt")
        assert not mc.get_object_tags(bucket, "dir/small.txt")

    with rec.feature("presign"):
        get_url = mc.presigned_get_object(bucket, "dir/small.txt")
        with urllib.request.urlopen(get_url, timeout=30) as response:
            assert md5_bytes(response.read()) == md5_bytes(data)
        put_url = mc.presigned_put_object(bucket, "uploads/presigned.bin")
        body = b"uploaded through a presigned PUT\n"
        with urllib.request.urlopen(urllib.request.Request(put_url, data=body, method="PUT"), timeout=30):
            pass
        assert s3.get_object(Bucket=bucket, Key="uploads/presigned.bin")["Body"].read() == body

    with rec.feature("delete"):
        mc.remove_object(bucket, "copies/small.txt")
        try:
            mc.stat_object(bucket, "copies/small.txt")
            raise AssertionError("the removed object is still there")
        except S3Error as exc:
            assert exc.code == "NoSuchKey"

    with rec.feature("bulk-delete"):
        everything = [DeleteObject(o.object_name) for o in mc.list_objects(bucket, recursive=True)]
        errors = list(mc.remove_objects(bucket, everything))
        assert errors == []
        assert list(mc.list_objects(bucket, recursive=True)) == []

    with rec.feature("bucket"):
        mc.remove_bucket(bucket)
        assert not mc.bucket_exists(bucket)
