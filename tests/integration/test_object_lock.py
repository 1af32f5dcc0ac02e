"""Object Lock against the live server, on both metadata backends: lock-enabled buckets, default
retention, per-version retention and legal hold, and that no path that deletes bytes removes a
locked version.

Buckets made here keep their locked versions (nothing may delete them), so they are left behind on
the session's server.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import backend_args, make_client
from tests.integration.helpers import client_error, send
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer, start_server
from tests.support.users import client_for, create_user

_numbers = itertools.count()
GOVERNANCE_RULE = {
    "ObjectLockEnabled": "Enabled",
    "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
}


def error_of(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return client_error(info.value)


def new_name() -> str:
    return f"lock-{os.getpid()}-{next(_numbers)}"


@pytest.fixture
def locked(s3) -> str:  # type: ignore[no-untyped-def]
    """A bucket created with Object Lock enabled (and so versioned), without a default rule."""
    name = new_name()
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def in_an_hour() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


def test_lock_enabled_bucket(s3, locked: str) -> None:  # type: ignore[no-untyped-def]
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    # Versioning can no longer be suspended.
    code = error_of(
        lambda: s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    )
    assert code == ("InvalidBucketState", 409)
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=GOVERNANCE_RULE)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == GOVERNANCE_RULE
    years = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=years)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == years


def test_lock_configuration_errors(s3, server: RunningServer, bucket: str, locked: str) -> None:  # type: ignore[no-untyped-def]
    assert error_of(lambda: s3.get_object_lock_configuration(Bucket=bucket)) == (
        "ObjectLockConfigurationNotFoundError",
        404,
    )
    # An unversioned bucket cannot take a lock configuration.
    code = error_of(
        lambda: s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=GOVERNANCE_RULE)
    )
    assert code == ("InvalidBucketState", 409)
    enabled = b"<ObjectLockEnabled>Enabled</ObjectLockEnabled>"

    def document(inner: bytes) -> bytes:
        return b"<ObjectLockConfiguration>" + inner + b"</ObjectLockConfiguration>"

    def rule(retention: bytes) -> bytes:
        return document(enabled + b"<Rule><DefaultRetention>" + retention + b"</DefaultRetention></Rule>")

    bad_documents = {
        rule(b"<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"): "MalformedXML",
        rule(b"<Mode>GOVERNANCE</Mode><Days>0</Days>"): "InvalidArgument",
        rule(b"<Mode>GOVERNANCE</Mode><Years>-1</Years>"): "InvalidArgument",
        rule(b"<Mode>FOREVER</Mode><Days>1</Days>"): "MalformedXML",
        rule(b"<Mode>GOVERNANCE</Mode>"): "MalformedXML",
        document(b"<ObjectLockEnabled>Disabled</ObjectLockEnabled>"): "MalformedXML",
        b"<ObjectLockConfiguration><Rule>": "MalformedXML",
    }
    for body, expected in bad_documents.items():
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        resp = send(server, "PUT", f"/{locked}", query="object-lock", body=body, headers={"Content-MD5": md5})
        assert resp.status == 400 and f"<Code>{expected}</Code>".encode() in resp.body, (body, resp.body)
    # Nothing changed.
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"
    }


def test_compliance_retention(s3, server: RunningServer, locked: str) -> None:  # type: ignore[no-untyped-def]
    until = in_an_hour()
    put = s3.put_object(
        Bucket=locked, Key="k", Body=b"kept", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until
    )
    version = put["VersionId"]
    head = s3.head_object(Bucket=locked, Key="k")
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] == until
    retention = s3.get_object_retention(Bucket=locked, Key="k", VersionId=version)["Retention"]
    assert retention == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    blobs = stored_blobs(server)
    # Deleting the version is refused, bypass or not; a delete marker is fine.
    for call in (
        lambda: s3.delete_object(Bucket=locked, Key="k", VersionId=version),
        lambda: s3.delete_object(Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=True),
    ):
        assert error_of(call) == ("AccessDenied", 403)
    result = s3.delete_objects(Bucket=locked, Delete={"Objects": [{"Key": "k", "VersionId": version}]})
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("k", "AccessDenied")]
    assert s3.delete_object(Bucket=locked, Key="k")["DeleteMarker"] is True
    # Shortening or changing the mode is refused; lengthening is allowed.
    for mode, when in (
        ("COMPLIANCE", until - timedelta(minutes=5)),
        ("GOVERNANCE", until + timedelta(days=1)),
    ):
        code = error_of(
            lambda m=mode, w=when: s3.put_object_retention(
                Bucket=locked,
                Key="k",
                VersionId=version,
                Retention={"Mode": m, "RetainUntilDate": w},
                BypassGovernanceRetention=True,
            )
        )
        assert code == ("AccessDenied", 403)
    later = until + timedelta(days=1)
    s3.put_object_retention(
        Bucket=locked, Key="k", VersionId=version, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later}
    )
    assert (
        s3.get_object_retention(Bucket=locked, Key="k", VersionId=version)["Retention"]["RetainUntilDate"]
        == later
    )
    # The bytes are all still there.
    assert s3.get_object(Bucket=locked, Key="k", VersionId=version)["Body"].read() == b"kept"
    assert stored_blobs(server) >= blobs


def test_governance_retention_and_bypass(s3, server: RunningServer, locked: str) -> None:  # type: ignore[no-untyped-def]
    until = in_an_hour()
    version = s3.put_object(
        Bucket=locked, Key="g", Body=b"gov", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until
    )["VersionId"]
    assert error_of(lambda: s3.delete_object(Bucket=locked, Key="g", VersionId=version)) == (
        "AccessDenied",
        403,
    )
    # Shortening needs the bypass header.
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": until - timedelta(minutes=30)}
    code = error_of(
        lambda: s3.put_object_retention(Bucket=locked, Key="g", VersionId=version, Retention=shorter)
    )
    assert code == ("AccessDenied", 403)
    s3.put_object_retention(
        Bucket=locked, Key="g", VersionId=version, Retention=shorter, BypassGovernanceRetention=True
    )
    # With the bypass header the owner may delete it.
    s3.delete_object(Bucket=locked, Key="g", VersionId=version, BypassGovernanceRetention=True)
    assert error_of(lambda: s3.head_object(Bucket=locked, Key="g", VersionId=version))[1] == 404


def test_bypass_needs_its_permission(s3, server: RunningServer, locked: str) -> None:  # type: ignore[no-untyped-def]
    name, access, secret = create_user(server)
    other = client_for(server, access, secret)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [name]},
                "Action": ["s3:PutObject", "s3:DeleteObject", "s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{locked}/*"],
            }
        ],
    }
    s3.put_bucket_policy(Bucket=locked, Policy=json.dumps(policy))
    until = in_an_hour()
    version = s3.put_object(
        Bucket=locked, Key="p", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until
    )["VersionId"]
    call = lambda: other.delete_object(  # noqa: E731
        Bucket=locked, Key="p", VersionId=version, BypassGovernanceRetention=True
    )
    assert error_of(call) == ("AccessDenied", 403)
    assert s3.head_object(Bucket=locked, Key="p", VersionId=version)["ContentLength"] == 1
    policy["Statement"][0]["Action"].append("s3:BypassGovernanceRetention")  # type: ignore[union-attr]
    s3.put_bucket_policy(Bucket=locked, Policy=json.dumps(policy))
    call()
    assert error_of(lambda: s3.head_object(Bucket=locked, Key="p", VersionId=version))[1] == 404


def test_legal_hold(s3, locked: str) -> None:  # type: ignore[no-untyped-def]
    version = s3.put_object(Bucket=locked, Key="h", Body=b"held", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.head_object(Bucket=locked, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    assert s3.get_object_legal_hold(Bucket=locked, Key="h", VersionId=version)["LegalHold"] == {
        "Status": "ON"
    }
    # A legal hold stops even a bypassing delete.
    call = lambda: s3.delete_object(  # noqa: E731
        Bucket=locked, Key="h", VersionId=version, BypassGovernanceRetention=True
    )
    assert error_of(call) == ("AccessDenied", 403)
    s3.put_object_legal_hold(Bucket=locked, Key="h", VersionId=version, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="h")["LegalHold"] == {"Status": "OFF"}
    call()  # no retention, no hold: the version may go
    # A version without retention has none to report.
    other = s3.put_object(Bucket=locked, Key="h2", Body=b"x")["VersionId"]
    code = error_of(lambda: s3.get_object_retention(Bucket=locked, Key="h2", VersionId=other))
    assert code == ("NoSuchObjectLockConfiguration", 404)


def test_default_retention_applies(s3, locked: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=GOVERNANCE_RULE)
    before = datetime.now(UTC)
    version = s3.put_object(Bucket=locked, Key="d", Body=b"default")["VersionId"]
    retention = s3.get_object_retention(Bucket=locked, Key="d", VersionId=version)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert (
        before + timedelta(days=1) - timedelta(minutes=1)
        < retention["RetainUntilDate"]
        < before + timedelta(days=1, minutes=1)
    )
    # Multipart uploads and copies get it too, or the lock their headers name.
    upload = s3.create_multipart_upload(
        Bucket=locked, Key="mp", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=in_an_hour()
    )["UploadId"]
    part = s3.upload_part(Bucket=locked, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
    done = s3.complete_multipart_upload(
        Bucket=locked,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert (
        s3.head_object(Bucket=locked, Key="mp", VersionId=done["VersionId"])["ObjectLockMode"] == "COMPLIANCE"
    )
    copied = s3.copy_object(Bucket=locked, Key="cp", CopySource={"Bucket": locked, "Key": "d"})
    assert (
        s3.head_object(Bucket=locked, Key="cp", VersionId=copied["VersionId"])["ObjectLockMode"]
        == "GOVERNANCE"
    )


def test_lock_header_errors(s3, server: RunningServer, bucket: str, locked: str) -> None:  # type: ignore[no-untyped-def]
    until = in_an_hour().strftime("%Y-%m-%dT%H:%M:%SZ")
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    cases: list[tuple[str, dict[str, str], str]] = [
        # A bucket without Object Lock refuses lock headers.
        (
            bucket,
            {
                "x-amz-object-lock-mode": "GOVERNANCE",
                "x-amz-object-lock-retain-until-date": until,
                "Content-MD5": md5,
            },
            "InvalidRequest",
        ),
        # Mode and date go together.
        (locked, {"x-amz-object-lock-mode": "GOVERNANCE", "Content-MD5": md5}, "InvalidArgument"),
        (locked, {"x-amz-object-lock-retain-until-date": until, "Content-MD5": md5}, "InvalidArgument"),
        (
            locked,
            {
                "x-amz-object-lock-mode": "FOREVER",
                "x-amz-object-lock-retain-until-date": until,
                "Content-MD5": md5,
            },
            "InvalidArgument",
        ),
        (
            locked,
            {
                "x-amz-object-lock-mode": "GOVERNANCE",
                "x-amz-object-lock-retain-until-date": "2001-01-01T00:00:00Z",
                "Content-MD5": md5,
            },
            "InvalidArgument",
        ),
        (locked, {"x-amz-object-lock-legal-hold": "MAYBE", "Content-MD5": md5}, "InvalidArgument"),
        # A lock-bearing PUT needs Content-MD5 or a checksum.
        (
            locked,
            {"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until},
            "InvalidRequest",
        ),
    ]
    for name, headers, code in cases:
        resp = send(server, "PUT", f"/{name}/bad", body=b"x", headers=headers)
        assert resp.status == 400 and f"<Code>{code}</Code>".encode() in resp.body, (headers, resp.body)
    # Retention and legal hold need a lock-enabled bucket.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert error_of(lambda: s3.get_object_retention(Bucket=bucket, Key="plain")) == ("InvalidRequest", 400)
    assert error_of(lambda: s3.get_object_legal_hold(Bucket=bucket, Key="plain")) == ("InvalidRequest", 400)
    assert error_of(
        lambda: s3.put_object_legal_hold(Bucket=bucket, Key="plain", LegalHold={"Status": "ON"})
    ) == ("InvalidRequest", 400)
    # A missing version and a delete marker by id.
    assert error_of(lambda: s3.get_object_retention(Bucket=locked, Key="nope", VersionId="C" * 32)) == (
        "NoSuchVersion",
        404,
    )
    s3.put_object(Bucket=locked, Key="m", Body=b"x")
    marker = s3.delete_object(Bucket=locked, Key="m")["VersionId"]
    assert error_of(lambda: s3.get_object_legal_hold(Bucket=locked, Key="m", VersionId=marker)) == (
        "MethodNotAllowed",
        405,
    )
    assert error_of(lambda: s3.get_object_retention(Bucket=locked, Key="m")) == ("NoSuchKey", 404)
    # A retention date in the past is refused.
    version = s3.put_object(Bucket=locked, Key="r", Body=b"x")["VersionId"]
    past = {"Mode": "GOVERNANCE", "RetainUntilDate": datetime(2001, 1, 1, tzinfo=UTC)}
    code = error_of(
        lambda: s3.put_object_retention(Bucket=locked, Key="r", VersionId=version, Retention=past)
    )
    assert code == ("InvalidArgument", 400)


@pytest.fixture(params=["sqlite", "postgres"])
def reaping_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """A server whose reaper runs every second and removes unreferenced blobs at once."""
    args = ["--reaper-interval", "1", "--reaper-grace", "0", "--upload-expiry", "0"]
    running = start_server(tmp_path / "data", args=[*args, *backend_args(request, request.param)])
    yield running
    running.stop()


def test_no_path_removes_a_locked_version(reaping_server: RunningServer) -> None:
    """DeleteObject by id, DeleteObjects, overwrite, abort and the reaper all leave a locked version's
    bytes where they are."""
    s3: Any = make_client(reaping_server)
    name = new_name()
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    until = in_an_hour()
    kept = s3.put_object(
        Bucket=name,
        Key="k",
        Body=b"locked bytes",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]
    held = s3.put_object(Bucket=name, Key="h", Body=b"held bytes", ObjectLockLegalHoldStatus="ON")[
        "VersionId"
    ]
    blobs = stored_blobs(reaping_server)
    assert len(blobs) == 2
    for key, version in (("k", kept), ("h", held)):
        assert error_of(lambda k=key, v=version: s3.delete_object(Bucket=name, Key=k, VersionId=v)) == (
            "AccessDenied",
            403,
        )
        errors = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": key, "VersionId": version}]})[
            "Errors"
        ]
        assert [e["Code"] for e in errors] == ["AccessDenied"]
        s3.put_object(Bucket=name, Key=key, Body=b"overwrite")  # a new version; the locked one stays
        s3.delete_object(Bucket=name, Key=key)  # a delete marker; the locked one stays
        upload = s3.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
        s3.upload_part(Bucket=name, Key=key, UploadId=upload, PartNumber=1, Body=b"part")
        s3.abort_multipart_upload(Bucket=name, Key=key, UploadId=upload)
    time.sleep(3)  # several reaper passes with no grace
    assert blobs <= stored_blobs(reaping_server)
    assert s3.get_object(Bucket=name, Key="k", VersionId=kept)["Body"].read() == b"locked bytes"
    assert s3.get_object(Bucket=name, Key="h", VersionId=held)["Body"].read() == b"held bytes"
    versions = s3.list_object_versions(Bucket=name)
    assert {v["VersionId"] for v in versions["Versions"]} >= {kept, held}
