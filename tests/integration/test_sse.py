"""Server-side encryption against a live server: SSE-S3 and SSE-C through PutObject, GetObject (ranges),
HeadObject, CopyObject between modes, multipart and UploadPartCopy; bucket default encryption; the
error answers; and the bytes on disk, which must never hold the plaintext."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import BACKENDS, aws_cli_for, backend_args, make_client
from tests.integration.helpers import send
from tests.support.server import RunningServer, start_server

KEY = os.urandom(32)
OTHER_KEY = os.urandom(32)
MiB = 1024 * 1024
_numbers = itertools.count()


def ssec(key: bytes = KEY, prefix: str = "") -> dict[str, str]:
    """boto3's SSE-C parameters (it adds the key MD5 itself)."""
    return {f"{prefix}SSECustomerAlgorithm": "AES256", f"{prefix}SSECustomerKey": key}  # type: ignore[dict-item]


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


@pytest.fixture(scope="module", params=BACKENDS)
def sse_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server that takes SSE-C keys over plain HTTP (the flag tests use)."""
    data_dir = tmp_path_factory.mktemp(f"sse-{request.param}") / "data"
    running = start_server(data_dir, args=["--allow-sse-c-over-http", *backend_args(request, request.param)])
    yield running
    assert running.stop() == 0, running.log()[-4000:]


@pytest.fixture(scope="module")
def c3(sse_server: RunningServer):  # type: ignore[no-untyped-def]
    return make_client(sse_server)


@pytest.fixture
def bkt(c3) -> str:  # type: ignore[no-untyped-def]
    name = f"sse-{os.getpid()}-{next(_numbers)}"
    c3.create_bucket(Bucket=name)
    return name


def body(size: int, seed: int = 0) -> bytes:
    """Recognisable plaintext: a repeated marker that must never appear on disk."""
    unit = f"PLAINTEXT-MARKER-{seed:04d}-".encode()
    return (unit * (size // len(unit) + 1))[:size]


def replica_files(server: RunningServer) -> list[Path]:
    return [p for p in server.data_dir.rglob("*") if p.is_file() and "blobs" in {q.name for q in p.parents}]


# -- SSE-S3


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 64 * 1024 + 1, 3 * MiB + 5])
def test_sse_s3_round_trip(c3, bkt: str, size: int) -> None:  # type: ignore[no-untyped-def]
    data = body(size)
    put = c3.put_object(Bucket=bkt, Key="k", Body=data, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'  # SSE-S3 keeps the plaintext MD5
    got = c3.get_object(Bucket=bkt, Key="k")
    assert got["Body"].read() == data
    assert got["ServerSideEncryption"] == "AES256" and got["ContentLength"] == size
    head = c3.head_object(Bucket=bkt, Key="k")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == size
    [listed] = c3.list_objects_v2(Bucket=bkt)["Contents"]
    assert listed["Size"] == size
    attrs = c3.get_object_attributes(Bucket=bkt, Key="k", ObjectAttributes=["ObjectSize", "ETag"])
    assert attrs["ObjectSize"] == size


@pytest.mark.parametrize(
    "rng", ["bytes=0-0", "bytes=65535-65536", "bytes=100-200000", "bytes=-10", "bytes=196600-"]
)
def test_sse_s3_ranges(c3, bkt: str, rng: str) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(3 * 65536 + 123)
    c3.put_object(Bucket=bkt, Key="r", Body=data, ServerSideEncryption="AES256")
    first, _, last = rng.removeprefix("bytes=").partition("-")
    want = data[-int(last) :] if first == "" else data[int(first) : int(last) + 1 if last else None]
    got = c3.get_object(Bucket=bkt, Key="r", Range=rng)
    assert got["Body"].read() == want
    assert got["ContentLength"] == len(want)


def test_checksums_are_of_the_plaintext(c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    data = body(100_000)
    put = c3.put_object(
        Bucket=bkt, Key="c", Body=data, ServerSideEncryption="AES256", ChecksumAlgorithm="SHA256"
    )
    want = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert put["ChecksumSHA256"] == want
    got = c3.get_object(Bucket=bkt, Key="c", ChecksumMode="ENABLED")
    assert got["ChecksumSHA256"] == want and got["Body"].read() == data
    attrs = c3.get_object_attributes(Bucket=bkt, Key="c", ObjectAttributes=["Checksum", "ObjectSize"])
    assert attrs["Checksum"]["ChecksumSHA256"] == want and attrs["ObjectSize"] == len(data)


def test_unknown_algorithm_is_refused(c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        c3.put_object(Bucket=bkt, Key="x", Body=b"x", ServerSideEncryption="AES512")  # type: ignore[arg-type]
    assert code_of(exc) == (400, "InvalidArgument")
    assert "Contents" not in c3.list_objects_v2(Bucket=bkt)


# -- SSE-C


def test_sse_c_round_trip_and_key_rules(c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    data = body(200_000, 1)
    put = c3.put_object(Bucket=bkt, Key="c", Body=data, **ssec())
    md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
    assert put["SSECustomerAlgorithm"] == "AES256" and put["SSECustomerKeyMD5"] == md5
    assert put["ETag"] != f'"{hashlib.md5(data).hexdigest()}"'
    got = c3.get_object(Bucket=bkt, Key="c", **ssec())
    assert got["Body"].read() == data and got["SSECustomerKeyMD5"] == md5
    part = c3.get_object(Bucket=bkt, Key="c", Range="bytes=70000-70009", **ssec())
    assert part["Body"].read() == data[70000:70010]
    assert c3.head_object(Bucket=bkt, Key="c", **ssec())["ContentLength"] == len(data)
    with pytest.raises(ClientError) as exc:
        c3.get_object(Bucket=bkt, Key="c")
    assert code_of(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:
        c3.get_object(Bucket=bkt, Key="c", **ssec(OTHER_KEY))
    assert code_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        c3.head_object(Bucket=bkt, Key="c", **ssec(OTHER_KEY))
    assert code_of(exc)[0] == 403
    c3.put_object(Bucket=bkt, Key="plain", Body=b"clear")
    with pytest.raises(ClientError) as exc:
        c3.get_object(Bucket=bkt, Key="plain", **ssec())
    assert code_of(exc) == (400, "InvalidRequest")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


GOOD = {
    "x-amz-server-side-encryption-customer-algorithm": "AES256",
    "x-amz-server-side-encryption-customer-key": _b64(KEY),
    "x-amz-server-side-encryption-customer-key-MD5": _b64(hashlib.md5(KEY).digest()),
}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"x-amz-server-side-encryption-customer-algorithm": "AES128"}, "InvalidEncryptionAlgorithmError"),
        ({"x-amz-server-side-encryption-customer-key": _b64(b"k" * 16)}, "InvalidArgument"),
        ({"x-amz-server-side-encryption-customer-key": "not base64!"}, "InvalidArgument"),
        ({"x-amz-server-side-encryption-customer-key": ""}, "InvalidArgument"),
        (
            {"x-amz-server-side-encryption-customer-key-MD5": _b64(hashlib.md5(b"x").digest())},
            "InvalidArgument",
        ),
        ({"x-amz-server-side-encryption-customer-key-MD5": None}, "InvalidArgument"),
        ({"x-amz-server-side-encryption-customer-algorithm": None}, "InvalidArgument"),
        ({"x-amz-server-side-encryption": "AES256"}, "InvalidArgument"),
    ],
    ids=["algorithm", "short-key", "not-base64", "empty-key", "wrong-md5", "no-md5", "no-algorithm", "both"],
)
def test_sse_c_malformed_keys(
    sse_server: RunningServer, c3, bkt: str, change: dict[str, str | None], code: str
) -> None:  # type: ignore[no-untyped-def]
    headers = {**GOOD, **change}
    sent = {name: value for name, value in headers.items() if value is not None}
    reply = send(sse_server, "PUT", f"/{bkt}/bad", headers=sent, body=b"x")
    assert (reply.status, reply.error_code()) == (400, code)
    assert "Contents" not in c3.list_objects_v2(Bucket=bkt)


def test_sse_c_needs_tls(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """Without --allow-sse-c-over-http a plain-HTTP SSE-C request is refused, as AWS refuses it."""
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="c", Body=b"x", **ssec())
    assert code_of(exc) == (400, "InvalidRequest")
    assert "secure connection" in exc.value.response["Error"]["Message"]


def test_sse_c_over_https(tls_server: RunningServer) -> None:
    client = make_client(tls_server)
    name = f"sse-tls-{os.getpid()}"
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="c", Body=b"secret bytes", **ssec())
    assert client.get_object(Bucket=name, Key="c", **ssec())["Body"].read() == b"secret bytes"
    client.delete_object(Bucket=name, Key="c")
    client.delete_bucket(Bucket=name)


# -- copies between modes


@pytest.mark.parametrize(
    ("source", "target"),
    [("none", "s3"), ("s3", "none"), ("s3", "c"), ("c", "s3"), ("c", "c2"), ("none", "c")],
)
def test_copy_between_modes(c3, bkt: str, source: str, target: str) -> None:  # type: ignore[no-untyped-def]
    data = body(150_000, 2)
    modes: dict[str, dict[str, object]] = {
        "none": {},
        "s3": {"ServerSideEncryption": "AES256"},
        "c": ssec(),
        "c2": ssec(OTHER_KEY),
    }
    c3.put_object(Bucket=bkt, Key="src", Body=data, **modes[source])
    copy_args: dict[str, object] = dict(modes[target])
    if source.startswith("c"):
        copy_args.update(ssec(KEY, "CopySource"))
    c3.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"}, **copy_args)
    got = c3.get_object(Bucket=bkt, Key="dst", **(modes[target] if target.startswith("c") else {}))
    assert got["Body"].read() == data
    assert got.get("ServerSideEncryption") == ("AES256" if target == "s3" else None)
    if source.startswith("c"):
        with pytest.raises(ClientError) as exc:  # the source's key is needed to read it
            c3.copy_object(Bucket=bkt, Key="dst2", CopySource={"Bucket": bkt, "Key": "src"})
        assert code_of(exc) == (400, "InvalidRequest")


# -- multipart


@pytest.mark.parametrize("mode", ["s3", "c"])
def test_multipart(c3, bkt: str, mode: str) -> None:  # type: ignore[no-untyped-def]
    args: dict[str, object] = {"ServerSideEncryption": "AES256"} if mode == "s3" else ssec()
    part_args: dict[str, object] = {} if mode == "s3" else ssec()
    parts = [body(5 * MiB, 10), body(5 * MiB + 3, 11), body(1000, 12)]
    created = c3.create_multipart_upload(Bucket=bkt, Key="mp", **args)
    uid = created["UploadId"]
    assert created.get("ServerSideEncryption") == ("AES256" if mode == "s3" else None)
    done = []
    for n, data in enumerate(parts[:2], 1):
        etag = c3.upload_part(Bucket=bkt, Key="mp", UploadId=uid, PartNumber=n, Body=data, **part_args)[
            "ETag"
        ]
        done.append({"PartNumber": n, "ETag": etag})
    c3.put_object(Bucket=bkt, Key="piece", Body=parts[2], ServerSideEncryption="AES256")
    copied = c3.upload_part_copy(
        Bucket=bkt,
        Key="mp",
        UploadId=uid,
        PartNumber=3,
        CopySource={"Bucket": bkt, "Key": "piece"},
        **part_args,
    )
    done.append({"PartNumber": 3, "ETag": copied["CopyPartResult"]["ETag"]})
    if mode == "c":
        with pytest.raises(ClientError) as exc:
            c3.upload_part(Bucket=bkt, Key="mp", UploadId=uid, PartNumber=4, Body=b"x", **ssec(OTHER_KEY))
        assert code_of(exc)[0] == 403
    c3.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=uid, MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    got = c3.get_object(Bucket=bkt, Key="mp", **part_args)
    assert got["Body"].read() == whole and got["ContentLength"] == len(whole)
    cut = c3.get_object(Bucket=bkt, Key="mp", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}", **part_args)
    assert cut["Body"].read() == whole[5 * MiB - 10 : 5 * MiB + 10]
    second = c3.get_object(Bucket=bkt, Key="mp", PartNumber=2, **part_args)
    assert second["Body"].read() == parts[1]


# -- bucket default encryption


def test_bucket_default_encryption(c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        c3.get_bucket_encryption(Bucket=bkt)
    assert code_of(exc) == (404, "ServerSideEncryptionConfigurationNotFoundError")
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}
    c3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [rule]})
    got = c3.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]["Rules"]
    assert got == [rule]
    c3.put_object(Bucket=bkt, Key="d", Body=b"defaulted")
    assert c3.head_object(Bucket=bkt, Key="d")["ServerSideEncryption"] == "AES256"
    c3.put_object(Bucket=bkt, Key="own", Body=b"customer", **ssec())  # a write's own choice wins
    assert c3.head_object(Bucket=bkt, Key="own", **ssec()).get("ServerSideEncryption") is None
    c3.delete_bucket_encryption(Bucket=bkt)
    c3.put_object(Bucket=bkt, Key="after", Body=b"clear")
    assert "ServerSideEncryption" not in c3.head_object(Bucket=bkt, Key="after")
    with pytest.raises(ClientError) as exc:
        c3.get_bucket_encryption(Bucket=bkt)
    assert code_of(exc)[1] == "ServerSideEncryptionConfigurationNotFoundError"


@pytest.mark.parametrize(
    "config",
    [
        b"<ServerSideEncryptionConfiguration/>",
        b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
        b"<SSEAlgorithm>DES</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
        b"</ServerSideEncryptionConfiguration>",
        b"not xml",
    ],
    ids=["no-rule", "bad-algorithm", "not-xml"],
)
def test_bad_bucket_encryption_is_malformed(sse_server: RunningServer, c3, bkt: str, config: bytes) -> None:  # type: ignore[no-untyped-def]
    reply = send(sse_server, "PUT", f"/{bkt}", query="encryption", body=config)
    assert (reply.status, reply.error_code()) == (400, "MalformedXML")
    with pytest.raises(ClientError):
        c3.get_bucket_encryption(Bucket=bkt)


# -- on disk


def test_no_replica_holds_the_plaintext(sse_server: RunningServer, c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    marker = body(2 * MiB, 99)
    c3.put_object(Bucket=bkt, Key="s3", Body=marker, ServerSideEncryption="AES256")
    c3.put_object(Bucket=bkt, Key="c", Body=marker, **ssec())
    up = c3.create_multipart_upload(Bucket=bkt, Key="mp", ServerSideEncryption="AES256")["UploadId"]
    etag = c3.upload_part(Bucket=bkt, Key="mp", UploadId=up, PartNumber=1, Body=marker)["ETag"]
    c3.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    needle = b"PLAINTEXT-MARKER-0099-"
    files = replica_files(sse_server)
    assert files  # the test looks where the bytes are
    assert [p for p in files if needle in p.read_bytes()] == []
    c3.put_object(Bucket=bkt, Key="clear", Body=marker)  # and it would see them, were they there
    assert [p for p in replica_files(sse_server) if needle in p.read_bytes()]
    c3.delete_object(Bucket=bkt, Key="clear")


# -- aws cli


def test_aws_cli_sse_flows(sse_server: RunningServer, c3, bkt: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    aws = aws_cli_for(sse_server, tmp_path)
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(9 * MiB + 7))  # over 8 MiB: the cli uploads it in parts
    aws("s3", "cp", str(src), f"s3://{bkt}/sse.bin", "--sse", "AES256")
    assert c3.head_object(Bucket=bkt, Key="sse.bin")["ServerSideEncryption"] == "AES256"
    aws("s3", "cp", f"s3://{bkt}/sse.bin", str(tmp_path / "sse.out"))
    assert (tmp_path / "sse.out").read_bytes() == src.read_bytes()
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(KEY)
    ssec_args = ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]
    aws("s3", "cp", str(src), f"s3://{bkt}/c.bin", *ssec_args)
    aws("s3", "cp", f"s3://{bkt}/c.bin", str(tmp_path / "c.out"), *ssec_args)
    assert (tmp_path / "c.out").read_bytes() == src.read_bytes()
    failed = aws("s3", "cp", f"s3://{bkt}/c.bin", str(tmp_path / "nokey.out"), check=False)
    assert failed.returncode != 0
