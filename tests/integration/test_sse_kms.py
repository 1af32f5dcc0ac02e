"""SSE-KMS against a live server with the built-in key service: keys made with `s3server admin kms
key …`, named by id, ARN or alias (or none: the default key), through PutObject, GetObject (ranges),
HeadObject, CopyObject to and from other modes, multipart and UploadPartCopy, bucket default
encryption; the encryption context and S3 Bucket Key headers; rotation and disabled keys; the
error answers; the bytes on disk; the aws cli; and PostObject's encryption fields (every mode)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import BACKENDS, aws_cli_for, backend_args, make_client
from tests.integration.helpers import object_path, send
from tests.support.server import RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
KEY = os.urandom(32)
ADMIN = (sys.executable, "-m", "s3server", "admin", "kms", "key")
ACCOUNT_ARN = "arn:aws:kms:us-east-1:000000000000:key/"
_numbers = itertools.count()


@dataclass
class KmsServer:
    server: RunningServer
    metadata: list[str]  # the --metadata flags the server was started with

    def admin(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`s3server admin kms key …` on the server's database and identity key."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("S3SERVER_")}
        done = subprocess.run(
            [*ADMIN, *args, "--data-dir", str(self.server.data_dir), *self.metadata],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def new_key(self, alias: str | None = None) -> tuple[str, str]:
        """A new key's (id, ARN), as `create` prints them."""
        out = self.admin("create", *(["--alias", alias] if alias else [])).stdout
        key_id, arn = out.strip().split("\t")
        return key_id, arn


@pytest.fixture(scope="module", params=BACKENDS)
def kms(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KmsServer]:
    data_dir = tmp_path_factory.mktemp(f"kms-{request.param}") / "data"
    metadata = backend_args(request, request.param)
    running = start_server(data_dir, args=["--allow-sse-c-over-http", *metadata])
    yield KmsServer(running, metadata)
    assert running.stop() == 0, running.log()[-4000:]


@pytest.fixture(scope="module")
def c3(kms: KmsServer):  # type: ignore[no-untyped-def]
    return make_client(kms.server)


@pytest.fixture(scope="module")
def app_key(kms: KmsServer) -> tuple[str, str]:
    """A key with an alias, shared by the tests that never disable it."""
    return kms.new_key(f"app-{os.getpid()}")


@pytest.fixture
def bkt(c3) -> str:  # type: ignore[no-untyped-def]
    name = f"kms-{os.getpid()}-{next(_numbers)}"
    c3.create_bucket(Bucket=name)
    return name


def body(size: int, seed: int = 0) -> bytes:
    unit = f"KMS-PLAINTEXT-{seed:04d}-".encode()
    return (unit * (size // len(unit) + 1))[:size]


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"].get("Message", "")


def kms_args(key: str | None = None, **extra: object) -> dict[str, object]:
    args: dict[str, object] = {"ServerSideEncryption": "aws:kms", **extra}
    if key is not None:
        args["SSEKMSKeyId"] = key
    return args


def context_of(answer: dict[str, object]) -> dict[str, str]:
    return json.loads(base64.b64decode(str(answer["SSEKMSEncryptionContext"])))


def ssec(prefix: str = "") -> dict[str, object]:
    return {f"{prefix}SSECustomerAlgorithm": "AES256", f"{prefix}SSECustomerKey": KEY}


# -- PutObject, GetObject, HeadObject


@pytest.mark.parametrize("size", [0, 1, 64 * 1024 + 1, 3 * MiB + 5])
@pytest.mark.parametrize("form", ["id", "arn", "alias"])
def test_round_trip_by_id_arn_and_alias(c3, bkt: str, app_key: tuple[str, str], size: int, form: str) -> None:  # type: ignore[no-untyped-def]
    key_id, arn = app_key
    alias = f"alias/app-{os.getpid()}"
    name = {"id": key_id, "arn": arn, "alias": alias}[form]
    data = body(size)
    put = c3.put_object(Bucket=bkt, Key="k", Body=data, **kms_args(name))
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == arn
    assert arn == ACCOUNT_ARN + key_id
    assert put["ETag"] != f'"{hashlib.md5(data).hexdigest()}"'  # not the plaintext MD5, as on AWS
    assert context_of(put) == {"aws:s3:arn": f"arn:aws:s3:::{bkt}/k"}
    got = c3.get_object(Bucket=bkt, Key="k")
    assert got["Body"].read() == data and got["ContentLength"] == size
    assert got["ServerSideEncryption"] == "aws:kms" and got["SSEKMSKeyId"] == arn
    assert got["ETag"] == put["ETag"] and "BucketKeyEnabled" not in got
    head = c3.head_object(Bucket=bkt, Key="k")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == arn
    assert head["ContentLength"] == size
    assert "x-amz-server-side-encryption-context" not in head["ResponseMetadata"]["HTTPHeaders"]


@pytest.mark.parametrize("rng", ["bytes=0-0", "bytes=65535-65536", "bytes=100-200000", "bytes=-10"])
def test_ranges(c3, bkt: str, app_key: tuple[str, str], rng: str) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(3 * 65536 + 123)
    c3.put_object(Bucket=bkt, Key="r", Body=data, **kms_args(app_key[0]))
    first, _, last = rng.removeprefix("bytes=").partition("-")
    want = data[-int(last) :] if first == "" else data[int(first) : int(last) + 1]
    got = c3.get_object(Bucket=bkt, Key="r", Range=rng)
    assert got["Body"].read() == want and got["SSEKMSKeyId"] == app_key[1]


def test_default_key_is_made_on_first_use(kms: KmsServer, c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    first = c3.put_object(Bucket=bkt, Key="a", Body=b"one", ServerSideEncryption="aws:kms")
    second = c3.put_object(Bucket=bkt, Key="b", Body=b"two", ServerSideEncryption="aws:kms")
    assert first["SSEKMSKeyId"] == second["SSEKMSKeyId"]
    listed = json.loads(kms.admin("list", "--json").stdout)
    [default] = [k for k in listed if k["Alias"] == "alias/aws/s3"]
    assert default["Arn"] == first["SSEKMSKeyId"] and default["KeyState"] == "Enabled"
    assert c3.get_object(Bucket=bkt, Key="b")["Body"].read() == b"two"
    named = c3.put_object(Bucket=bkt, Key="c", Body=b"3", **kms_args("alias/aws/s3"))
    assert named["SSEKMSKeyId"] == default["Arn"]


def test_encryption_context_is_kept_and_bound(c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    given = {"project": "x", "tier": "gold"}
    encoded = base64.b64encode(json.dumps(given).encode()).decode()
    put = c3.put_object(
        Bucket=bkt, Key="ctx", Body=b"bound", **kms_args(app_key[0], SSEKMSEncryptionContext=encoded)
    )
    assert context_of(put) == {**given, "aws:s3:arn": f"arn:aws:s3:::{bkt}/ctx"}
    assert c3.get_object(Bucket=bkt, Key="ctx")["Body"].read() == b"bound"
    # A context naming another object's ARN is refused: the server binds the real one.
    wrong = base64.b64encode(json.dumps({"aws:s3:arn": "arn:aws:s3:::other/key"}).encode()).decode()
    with pytest.raises(ClientError) as exc:
        c3.put_object(Bucket=bkt, Key="w", Body=b"x", **kms_args(app_key[0], SSEKMSEncryptionContext=wrong))
    assert code_of(exc)[:2] == (400, "InvalidArgument")


@pytest.mark.parametrize(
    "context",
    [
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b'{"n": 1}').decode(),
        base64.b64encode(b'["a"]').decode(),
    ],
    ids=["not-base64", "not-json", "not-a-string", "not-an-object"],
)
def test_malformed_context_is_refused(kms: KmsServer, c3, bkt: str, context: str) -> None:  # type: ignore[no-untyped-def]
    reply = send(
        kms.server,
        "PUT",
        object_path(bkt, "m"),
        headers={"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-context": context},
        body=b"x",
    )
    assert (reply.status, reply.error_code()) == (400, "InvalidArgument")
    assert "Contents" not in c3.list_objects_v2(Bucket=bkt)


def test_bucket_key_header(kms: KmsServer, c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    put = c3.put_object(
        Bucket=bkt, Key="bk", Body=b"bucket key", **kms_args(app_key[0], BucketKeyEnabled=True)
    )
    assert put["BucketKeyEnabled"] is True
    assert context_of(put) == {"aws:s3:arn": f"arn:aws:s3:::{bkt}"}  # the bucket's ARN, as on AWS
    assert c3.head_object(Bucket=bkt, Key="bk")["BucketKeyEnabled"] is True
    got = c3.get_object(Bucket=bkt, Key="bk")
    assert got["BucketKeyEnabled"] is True and got["Body"].read() == b"bucket key"
    off = c3.put_object(Bucket=bkt, Key="off", Body=b"x", **kms_args(app_key[0], BucketKeyEnabled=False))
    assert "BucketKeyEnabled" not in off
    reply = send(
        kms.server,
        "PUT",
        object_path(bkt, "bad"),
        headers={
            "x-amz-server-side-encryption": "aws:kms",
            "x-amz-server-side-encryption-bucket-key-enabled": "maybe",
        },
        body=b"x",
    )
    assert (reply.status, reply.error_code()) == (400, "InvalidArgument")


# -- refusals


def test_unknown_keys_are_refused(c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    missing = "11111111-2222-3333-4444-555555555555"
    cases = {
        missing: f"Invalid keyId '{missing}'",
        ACCOUNT_ARN + missing: f"Invalid keyId '{missing}'",
        "alias/nobody": "Alias arn:aws:kms:us-east-1:000000000000:alias/nobody is not found.",
        "arn:aws:kms:eu-west-1:123456789012:key/" + missing: "Invalid arn",
    }
    for name, message in cases.items():
        with pytest.raises(ClientError) as exc:
            c3.put_object(Bucket=bkt, Key="x", Body=b"x", **kms_args(name))
        status, code, said = code_of(exc)
        assert (status, code) == (400, "KMS.NotFoundException"), name
        assert said.startswith(message), said
    with pytest.raises(ClientError) as exc:
        c3.create_multipart_upload(Bucket=bkt, Key="x", **kms_args(missing))
    assert code_of(exc)[:2] == (400, "KMS.NotFoundException")
    assert "Contents" not in c3.list_objects_v2(Bucket=bkt)
    assert "Uploads" not in c3.list_multipart_uploads(Bucket=bkt)


def test_kms_and_customer_keys_together_are_refused(c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        c3.put_object(Bucket=bkt, Key="x", Body=b"x", **kms_args(app_key[0]), **ssec())
    assert code_of(exc)[:2] == (400, "InvalidArgument")
    for args in ({"SSEKMSKeyId": app_key[0]}, {"ServerSideEncryption": "AES256", "SSEKMSKeyId": app_key[0]}):
        with pytest.raises(ClientError) as exc:
            c3.put_object(Bucket=bkt, Key="x", Body=b"x", **args)
        assert code_of(exc)[:2] == (400, "InvalidArgument")
    c3.put_object(Bucket=bkt, Key="k", Body=b"x", **kms_args(app_key[0]))
    with pytest.raises(ClientError) as exc:  # a KMS object refuses a customer key on read
        c3.get_object(Bucket=bkt, Key="k", **ssec())
    assert code_of(exc)[:2] == (400, "InvalidRequest")
    assert [o["Key"] for o in c3.list_objects_v2(Bucket=bkt)["Contents"]] == ["k"]


# -- the key lifecycle, end to end through the CLI


def test_cli_create_rotate_disable_enable(kms: KmsServer, c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    alias = f"life-{os.getpid()}"
    key_id, arn = kms.new_key(alias)
    old = body(100_000, 1)
    c3.put_object(Bucket=bkt, Key="old", Body=old, **kms_args(key_id))
    rotated = kms.admin("rotate", key_id)
    assert rotated.stdout == f"rotated {key_id}: version 2\n"
    new = body(100_000, 2)
    c3.put_object(Bucket=bkt, Key="new", Body=new, **kms_args(f"alias/{alias}"))
    assert c3.get_object(Bucket=bkt, Key="old")["Body"].read() == old  # under version 1
    assert c3.get_object(Bucket=bkt, Key="new")["Body"].read() == new  # under version 2
    [listed] = [k for k in json.loads(kms.admin("list", "--json").stdout) if k["KeyId"] == key_id]
    assert listed == {**listed, "Arn": arn, "Alias": f"alias/{alias}", "Versions": 2, "KeyState": "Enabled"}
    table = kms.admin("list").stdout.splitlines()
    assert table[0].split() == ["KEY", "ID", "ALIAS", "STATE", "VERSIONS", "CREATED", "ARN"]
    [row] = [line.split() for line in table[1:] if line.startswith(key_id)]
    assert row[1:4] == [f"alias/{alias}", "Enabled", "2"] and row[-1] == arn

    assert kms.admin("disable", arn).stdout == f"disabled {key_id}\n"
    with pytest.raises(ClientError) as exc:
        c3.put_object(Bucket=bkt, Key="refused", Body=b"x", **kms_args(key_id))
    assert code_of(exc) == (400, "KMS.DisabledException", f"{arn} is disabled.")
    for key in ("old", "new"):
        with pytest.raises(ClientError) as exc:
            c3.get_object(Bucket=bkt, Key=key)
        assert code_of(exc) == (400, "KMS.DisabledException", f"{arn} is disabled.")
    with pytest.raises(ClientError) as exc:  # nor may a copy read it
        c3.copy_object(Bucket=bkt, Key="copy", CopySource={"Bucket": bkt, "Key": "old"})
    assert code_of(exc)[:2] == (400, "KMS.DisabledException")
    assert c3.head_object(Bucket=bkt, Key="old")["SSEKMSKeyId"] == arn  # HEAD asks no key service
    assert sorted(o["Key"] for o in c3.list_objects_v2(Bucket=bkt)["Contents"]) == ["new", "old"]

    assert kms.admin("enable", f"alias/{alias}").stdout == f"enabled {key_id}\n"
    assert c3.get_object(Bucket=bkt, Key="old")["Body"].read() == old


def test_cli_refusals(kms: KmsServer) -> None:
    missing = kms.admin("disable", "11111111-2222-3333-4444-555555555555", check=False)
    assert missing.returncode == 1 and "Invalid keyId" in missing.stderr
    alias = f"twice-{os.getpid()}"
    kms.new_key(alias)
    taken = kms.admin("create", "--alias", alias, check=False)
    assert taken.returncode == 1 and alias in taken.stderr
    for bad in ("has space", "aws/s3"):
        malformed = kms.admin("create", "--alias", bad, check=False)
        assert malformed.returncode == 2 and malformed.stdout == ""
    assert [k["Alias"] for k in json.loads(kms.admin("list", "--json").stdout)].count(f"alias/{alias}") == 1


# -- copies


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("none", "kms"),
        ("s3", "kms"),
        ("kms", "none"),
        ("kms", "s3"),
        ("kms", "kms2"),
        ("kms", "c"),
        ("c", "kms"),
    ],
)
def test_copy_between_modes(
    kms: KmsServer, c3, bkt: str, app_key: tuple[str, str], source: str, target: str
) -> None:  # type: ignore[no-untyped-def]
    other_id, other_arn = kms.new_key() if target == "kms2" else (None, None)
    modes: dict[str, dict[str, object]] = {
        "none": {},
        "s3": {"ServerSideEncryption": "AES256"},
        "kms": kms_args(app_key[0]),
        "kms2": kms_args(other_id),
        "c": ssec(),
    }
    data = body(150_000, 3)
    c3.put_object(Bucket=bkt, Key="src", Body=data, **modes[source])
    args = dict(modes[target])
    if source == "c":
        args.update(ssec("CopySource"))
    copied = c3.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"}, **args)
    got = c3.get_object(Bucket=bkt, Key="dst", **(ssec() if target == "c" else {}))
    assert got["Body"].read() == data
    want_arn = {"kms": app_key[1], "kms2": other_arn}.get(target)
    assert copied.get("SSEKMSKeyId") == want_arn and got.get("SSEKMSKeyId") == want_arn
    if want_arn is not None:
        assert got["ServerSideEncryption"] == "aws:kms"
        assert context_of(copied) == {"aws:s3:arn": f"arn:aws:s3:::{bkt}/dst"}
        assert copied["CopyObjectResult"]["ETag"] != f'"{hashlib.md5(data).hexdigest()}"'


# -- multipart


def test_multipart_and_upload_part_copy(c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    key_id, arn = app_key
    parts = [body(5 * MiB, 10), body(5 * MiB + 3, 11), body(1000, 12)]
    created = c3.create_multipart_upload(Bucket=bkt, Key="mp", **kms_args(key_id, BucketKeyEnabled=True))
    uid = created["UploadId"]
    assert created["ServerSideEncryption"] == "aws:kms" and created["SSEKMSKeyId"] == arn
    assert created["BucketKeyEnabled"] is True and context_of(created) == {
        "aws:s3:arn": f"arn:aws:s3:::{bkt}"
    }
    done = []
    for n, data in enumerate(parts[:2], 1):
        part = c3.upload_part(Bucket=bkt, Key="mp", UploadId=uid, PartNumber=n, Body=data)
        assert part["ServerSideEncryption"] == "aws:kms" and part["SSEKMSKeyId"] == arn
        done.append({"PartNumber": n, "ETag": part["ETag"]})
    c3.put_object(Bucket=bkt, Key="piece", Body=parts[2], **kms_args())  # under the default key
    copied = c3.upload_part_copy(
        Bucket=bkt, Key="mp", UploadId=uid, PartNumber=3, CopySource={"Bucket": bkt, "Key": "piece"}
    )
    assert copied["SSEKMSKeyId"] == arn
    done.append({"PartNumber": 3, "ETag": copied["CopyPartResult"]["ETag"]})
    completed = c3.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=uid, MultipartUpload={"Parts": done}
    )
    assert completed["ServerSideEncryption"] == "aws:kms" and completed["SSEKMSKeyId"] == arn
    whole = b"".join(parts)
    got = c3.get_object(Bucket=bkt, Key="mp")
    assert got["Body"].read() == whole and got["SSEKMSKeyId"] == arn and got["BucketKeyEnabled"] is True
    cut = c3.get_object(Bucket=bkt, Key="mp", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert cut["Body"].read() == whole[5 * MiB - 10 : 5 * MiB + 10]
    assert c3.get_object(Bucket=bkt, Key="mp", PartNumber=3)["Body"].read() == parts[2]


# -- bucket default encryption


def test_bucket_default_kms(kms: KmsServer, c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    alias = f"alias/app-{os.getpid()}"
    rule = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": alias},
        "BucketKeyEnabled": False,
    }
    c3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [rule]})
    assert c3.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]["Rules"] == [rule]
    put = c3.put_object(Bucket=bkt, Key="d", Body=b"defaulted")
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == app_key[1]
    head = c3.head_object(Bucket=bkt, Key="d")
    assert head["SSEKMSKeyId"] == app_key[1]
    mp = c3.create_multipart_upload(Bucket=bkt, Key="m")
    assert mp["SSEKMSKeyId"] == app_key[1]
    c3.abort_multipart_upload(Bucket=bkt, Key="m", UploadId=mp["UploadId"])
    s3 = c3.put_object(Bucket=bkt, Key="own", Body=b"x", ServerSideEncryption="AES256")  # its own choice wins
    assert s3["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in s3
    # Without KMSMasterKeyID: the default key. Naming an unknown key is accepted by
    # PutBucketEncryption (S3 does not check it) and refused by the writes under it.
    plain = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}
    c3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [plain]})
    default_arn = c3.put_object(Bucket=bkt, Key="p", Body=b"x")["SSEKMSKeyId"]
    assert default_arn.startswith(ACCOUNT_ARN) and default_arn != app_key[1]
    unknown = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/none"}
    }
    c3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [unknown]})
    with pytest.raises(ClientError) as exc:
        c3.put_object(Bucket=bkt, Key="u", Body=b"x")
    assert code_of(exc)[:2] == (400, "KMS.NotFoundException")
    assert sorted(o["Key"] for o in c3.list_objects_v2(Bucket=bkt)["Contents"]) == ["d", "own", "p"]


def test_kms_writes_take_the_buckets_bucket_key_setting(c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
    c3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [rule]})
    inherited = c3.put_object(Bucket=bkt, Key="i", Body=b"x", **kms_args(app_key[0]))
    assert inherited["BucketKeyEnabled"] is True
    assert context_of(inherited) == {"aws:s3:arn": f"arn:aws:s3:::{bkt}"}
    own = c3.put_object(Bucket=bkt, Key="o", Body=b"x", **kms_args(app_key[0], BucketKeyEnabled=False))
    assert "BucketKeyEnabled" not in own
    assert c3.get_object(Bucket=bkt, Key="i")["Body"].read() == b"x"


# -- on disk, and the aws cli


def test_no_replica_holds_the_plaintext(kms: KmsServer, c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    marker = body(2 * MiB, 99)
    c3.put_object(Bucket=bkt, Key="kms", Body=marker, **kms_args(app_key[0]))
    up = c3.create_multipart_upload(Bucket=bkt, Key="mp", **kms_args())["UploadId"]
    etag = c3.upload_part(Bucket=bkt, Key="mp", UploadId=up, PartNumber=1, Body=marker)["ETag"]
    c3.complete_multipart_upload(
        Bucket=bkt, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    needle = b"KMS-PLAINTEXT-0099-"
    blobs = [
        p for p in kms.server.data_dir.rglob("*") if p.is_file() and "blobs" in {q.name for q in p.parents}
    ]
    assert blobs
    assert [p for p in blobs if needle in p.read_bytes()] == []
    c3.put_object(Bucket=bkt, Key="clear", Body=marker)  # and the grep would see them, were they there
    assert [p for p in kms.server.data_dir.rglob("*") if p.is_file() and needle in p.read_bytes()]
    c3.delete_object(Bucket=bkt, Key="clear")


def test_aws_cli_sse_kms(kms: KmsServer, c3, bkt: str, app_key: tuple[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    aws = aws_cli_for(kms.server, tmp_path)
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(9 * MiB + 7))  # over 8 MiB: the cli uploads it in parts
    aws("s3", "cp", str(src), f"s3://{bkt}/kms.bin", "--sse", "aws:kms", "--sse-kms-key-id", app_key[0])
    head = c3.head_object(Bucket=bkt, Key="kms.bin")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == app_key[1]
    aws("s3", "cp", f"s3://{bkt}/kms.bin", str(tmp_path / "kms.out"))
    assert (tmp_path / "kms.out").read_bytes() == src.read_bytes()
    small = tmp_path / "small.txt"
    small.write_bytes(b"small and default-keyed")
    aws("s3", "cp", str(small), f"s3://{bkt}/small.txt", "--sse", "aws:kms")
    assert c3.head_object(Bucket=bkt, Key="small.txt")["ServerSideEncryption"] == "aws:kms"
    aws("s3", "cp", f"s3://{bkt}/small.txt", str(tmp_path / "small.out"))
    assert (tmp_path / "small.out").read_bytes() == small.read_bytes()


# -- PostObject


def post_form(c3, bkt: str, key: str, fields: dict[str, str], data: bytes) -> requests.Response:  # type: ignore[no-untyped-def]
    """A presigned browser upload whose policy names every field, sent as a browser does."""
    form = c3.generate_presigned_post(bkt, key, Fields=fields, Conditions=[{k: v} for k, v in fields.items()])
    return requests.post(form["url"], data=form["fields"], files={"file": ("f.bin", data)}, timeout=60)


def test_post_object_with_kms_fields(c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    context = base64.b64encode(json.dumps({"form": "yes"}).encode()).decode()
    fields = {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": app_key[0],
        "x-amz-server-side-encryption-context": context,
        "x-amz-server-side-encryption-bucket-key-enabled": "true",
    }
    data = body(70_000, 5)
    resp = post_form(c3, bkt, "form-kms", fields, data)
    assert resp.status_code == 204, resp.text
    assert resp.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert resp.headers["x-amz-server-side-encryption-aws-kms-key-id"] == app_key[1]
    assert resp.headers["x-amz-server-side-encryption-bucket-key-enabled"] == "true"
    assert json.loads(base64.b64decode(resp.headers["x-amz-server-side-encryption-context"])) == {
        "form": "yes",
        "aws:s3:arn": f"arn:aws:s3:::{bkt}",
    }
    got = c3.get_object(Bucket=bkt, Key="form-kms")
    assert got["Body"].read() == data and got["SSEKMSKeyId"] == app_key[1] and got["BucketKeyEnabled"]


def test_post_object_with_s3_and_customer_fields(c3, bkt: str) -> None:  # type: ignore[no-untyped-def]
    resp = post_form(c3, bkt, "form-s3", {"x-amz-server-side-encryption": "AES256"}, b"sse-s3 form")
    assert resp.status_code == 204 and resp.headers["x-amz-server-side-encryption"] == "AES256"
    assert c3.head_object(Bucket=bkt, Key="form-s3")["ServerSideEncryption"] == "AES256"
    md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
    customer = {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY).decode(),
        "x-amz-server-side-encryption-customer-key-MD5": md5,
    }
    resp = post_form(c3, bkt, "form-c", customer, b"sse-c form")
    assert resp.status_code == 204, resp.text
    assert resp.headers["x-amz-server-side-encryption-customer-key-MD5"] == md5
    assert c3.get_object(Bucket=bkt, Key="form-c", **ssec())["Body"].read() == b"sse-c form"
    with pytest.raises(ClientError) as exc:
        c3.get_object(Bucket=bkt, Key="form-c")
    assert code_of(exc)[:2] == (400, "InvalidRequest")


def test_post_object_takes_the_bucket_default(c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": app_key[1]}}
    c3.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration={"Rules": [rule]})
    resp = post_form(c3, bkt, "form-default", {}, b"defaulted form")
    assert resp.status_code == 204, resp.text
    assert c3.head_object(Bucket=bkt, Key="form-default")["SSEKMSKeyId"] == app_key[1]
    assert c3.get_object(Bucket=bkt, Key="form-default")["Body"].read() == b"defaulted form"


def test_post_object_encryption_refusals(c3, bkt: str, app_key: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    unknown = {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "alias/nobody",
    }
    resp = post_form(c3, bkt, "refused", unknown, b"x")
    assert resp.status_code == 400 and b"<Code>KMS.NotFoundException</Code>" in resp.content
    both = {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY).decode(),
        "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(KEY).digest()).decode(),
    }
    resp = post_form(c3, bkt, "refused", both, b"x")
    assert resp.status_code == 400 and b"<Code>InvalidArgument</Code>" in resp.content
    malformed = {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-context": "%%%"}
    resp = post_form(c3, bkt, "refused", malformed, b"x")
    assert resp.status_code == 400 and b"<Code>InvalidArgument</Code>" in resp.content
    assert "Contents" not in c3.list_objects_v2(Bucket=bkt)
