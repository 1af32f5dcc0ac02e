"""boto3 over HTTP, and over HTTPS where current botocore sends every upload as an aws-chunked body
with a CRC32 trailer: the same flow both ways, so the trailer path is held to the same bytes."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path

import boto3
import botocore
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from compat_helpers import Compat, md5_bytes, md5_file

from tests.conftest import make_client
from tests.support.server import RunningServer

MiB = 1024 * 1024


def fetch(url: str, server: RunningServer) -> bytes:
    """GET a presigned URL the way a browser or curl would: no SDK, no credentials."""
    context = ssl.create_default_context(cafile=server.ca_bundle) if server.ca_bundle else None
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        return response.read()


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def boto3_flow(
    server: RunningServer, compat: Compat, client: str, tmp_path: Path, big_file: Callable[[int], Path]
) -> None:
    s3 = make_client(server)
    rec = compat(client, f"boto3 {boto3.__version__}, botocore {botocore.__version__}")
    bucket = f"{client}-{server.port}"
    small = b"hello from boto3\n" * 100

    with rec.feature("bucket"):
        s3.create_bucket(Bucket=bucket)
        s3.head_bucket(Bucket=bucket)
        assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    with rec.feature("put"):
        put = s3.put_object(
            Bucket=bucket,
            Key="dir/small.txt",
            Body=small,
            ContentType="text/plain",
            Metadata={"origin": "boto3"},
        )
        assert put["ETag"] == f'"{md5_bytes(small)}"'

    with rec.feature("get"):
        got = s3.get_object(Bucket=bucket, Key="dir/small.txt")
        assert md5_bytes(got["Body"].read()) == md5_bytes(small)
        ranged = s3.get_object(Bucket=bucket, Key="dir/small.txt", Range="bytes=6-10")["Body"].read()
        assert ranged == small[6:11]

    with rec.feature("head"):
        head = s3.head_object(Bucket=bucket, Key="dir/small.txt")
        assert head["ContentLength"] == len(small)
        assert head["ETag"] == f'"{md5_bytes(small)}"'
        assert head["ContentType"] == "text/plain"
        assert head["Metadata"] == {"origin": "boto3"}

    with rec.feature("large"):
        source = big_file(20 * MiB + 123)
        config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
        s3.upload_file(str(source), bucket, "big/object.bin", Config=config)
        assert s3.head_object(Bucket=bucket, Key="big/object.bin")["ETag"].endswith('-3"')
        target = tmp_path / "download.bin"
        s3.download_file(bucket, "big/object.bin", str(target), Config=config)
        assert md5_file(target) == md5_file(source)

    with rec.feature("large"):
        # The low-level calls, including a part copied from an existing object and an aborted upload.
        first = b"a" * (5 * MiB)
        upload = s3.create_multipart_upload(Bucket=bucket, Key="big/assembled.bin")["UploadId"]
        part1 = s3.upload_part(
            Bucket=bucket, Key="big/assembled.bin", UploadId=upload, PartNumber=1, Body=first
        )
        part2 = s3.upload_part_copy(
            Bucket=bucket,
            Key="big/assembled.bin",
            UploadId=upload,
            PartNumber=2,
            CopySource={"Bucket": bucket, "Key": "dir/small.txt"},
            CopySourceRange="bytes=0-99",
        )
        listed = s3.list_parts(Bucket=bucket, Key="big/assembled.bin", UploadId=upload)["Parts"]
        assert [p["PartNumber"] for p in listed] == [1, 2]
        in_progress = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert upload in [u["UploadId"] for u in in_progress]
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="big/assembled.bin",
            UploadId=upload,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": 1, "ETag": part1["ETag"]},
                    {"PartNumber": 2, "ETag": part2["CopyPartResult"]["ETag"]},
                ]
            },
        )
        body = s3.get_object(Bucket=bucket, Key="big/assembled.bin")["Body"].read()
        assert md5_bytes(body) == md5_bytes(first + small[:100])
        dropped = s3.create_multipart_upload(Bucket=bucket, Key="big/dropped.bin")["UploadId"]
        s3.abort_multipart_upload(Bucket=bucket, Key="big/dropped.bin", UploadId=dropped)
        left = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert dropped not in [u["UploadId"] for u in left]

    keys = [f"tree/{d}/{n}.txt" for d in ("a", "b", "c") for n in range(3)] + ["tree/top.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    with rec.feature("list"):
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="tree/", PaginationConfig={"PageSize": 4}
        )
        listed_keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        assert listed_keys == sorted(keys)
        v1 = s3.list_objects(Bucket=bucket, Prefix="tree/", MaxKeys=1000)
        assert [o["Key"] for o in v1["Contents"]] == sorted(keys)

    with rec.feature("folders"):
        top = s3.list_objects_v2(Bucket=bucket, Prefix="tree/", Delimiter="/")
        assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["tree/a/", "tree/b/", "tree/c/"]
        assert [o["Key"] for o in top["Contents"]] == ["tree/top.txt"]

    with rec.feature("copy"):
        s3.copy_object(
            Bucket=bucket,
            Key="copies/small.txt",
            CopySource={"Bucket": bucket, "Key": "dir/small.txt"},
            MetadataDirective="REPLACE",
            Metadata={"copied": "yes"},
            ContentType="text/x-copy",
        )
        copied = s3.get_object(Bucket=bucket, Key="copies/small.txt")
        assert md5_bytes(copied["Body"].read()) == md5_bytes(small)
        assert copied["Metadata"] == {"copied": "yes"}
        assert copied["ContentType"] == "text/x-copy"

    with rec.feature("tagging"):
        tags = [{"Key": "team", "Value": "storage"}, {"Key": "tier", "Value": "hot"}]
        s3.put_object_tagging(Bucket=bucket, Key="dir/small.txt", Tagging={"TagSet": tags})
        read = s3.get_object_tagging(Bucket=bucket, Key="dir/small.txt")["TagSet"]
        assert sorted(read, key=lambda t: t["Key"]) == tags
        s3.delete_object_tagging(Bucket=bucket, Key="dir/small.txt")
        assert s3.get_object_tagging(Bucket=bucket, Key="dir/small.txt")["TagSet"] == []

    with rec.feature("presign"):
        # The default is a SigV2 query string (Signature/Expires); s3v4 gives X-Amz-Signature.
        v2_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/small.txt"})
        assert md5_bytes(fetch(v2_url, server)) == md5_bytes(small)
        v4 = make_client(server, signature_version="s3v4")
        v4_url = v4.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "dir/small.txt"}, ExpiresIn=300
        )
        assert "X-Amz-Signature=" in v4_url
        assert md5_bytes(fetch(v4_url, server)) == md5_bytes(small)

    with rec.feature("delete"):
        s3.delete_object(Bucket=bucket, Key="copies/small.txt")
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket=bucket, Key="copies/small.txt")
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    with rec.feature("bulk-delete"):
        every = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
        ]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in every]})
        assert sorted(d["Key"] for d in answer.get("Deleted", [])) == sorted(every)
        assert not answer.get("Errors")
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    with rec.feature("bucket"):
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)
        with pytest.raises(ClientError) as gone:
            s3.head_bucket(Bucket=bucket)
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_boto3_http(
    server: RunningServer, compat: Compat, tmp_path: Path, big_file: Callable[[int], Path]
) -> None:
    boto3_flow(server, compat, "boto3", tmp_path, big_file)


def test_boto3_https(
    tls_server: RunningServer, compat: Compat, tmp_path: Path, big_file: Callable[[int], Path]
) -> None:
    boto3_flow(tls_server, compat, "boto3-https", tmp_path, big_file)
