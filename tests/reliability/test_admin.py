"""The /_admin/ JSON API: who may call it, how it fails, and fault endpoints only with the flag."""

from __future__ import annotations

import json

from s3server.metadata.backends import metadata_stores
from tests.reliability.helpers import StorageSetup
from tests.support.aioclient import S3Client
from tests.support.server import start_server
from tests.support.signer import sign_v4


async def test_admin_api_access_and_errors(setup: StorageSetup) -> None:
    server = setup.start()
    identity = metadata_stores(setup.settings()).identity
    await identity.open()
    try:
        await identity.create_user("alice")
        await identity.create_access_key(
            "alice", "AKIAALICEALICEALICE1", "alice-secret-alice-secret-alice-secret-1"
        )
    finally:
        await identity.close()
    async with S3Client(server) as s3:
        storage = await s3.admin("GET", "/_admin/storage")
        assert storage.status == 200
        assert (
            storage.json()["replicas"] == 3 and [d["online"] for d in storage.json()["drives"]] == [True] * 3
        )
        assert "x-amz-request-id" in storage.headers

        assert s3.session is not None
        async with s3.session.get(server.endpoint + "/_admin/storage") as anonymous:
            assert anonymous.status == 403
            assert (await anonymous.json())["error"]["code"] == "AccessDenied"
        url = server.endpoint + "/_admin/faults"
        bad = sign_v4("GET", url, {}, "UNSIGNED-PAYLOAD", server.access_key, "not-the-secret")
        async with s3.session.get(url, headers=bad.headers) as forged:
            assert forged.status == 403
            assert (await forged.json())["error"]["code"] == "SignatureDoesNotMatch"
        alice = sign_v4(
            "GET",
            url,
            {},
            "UNSIGNED-PAYLOAD",
            "AKIAALICEALICEALICE1",
            "alice-secret-alice-secret-alice-secret-1",
        )
        async with s3.session.get(url, headers=alice.headers) as not_admin:
            assert not_admin.status == 403
            assert "admin" in (await not_admin.json())["error"]["message"]
        # The signed payload hash must match the body.
        body = json.dumps({"target": "metadata"}).encode()
        lying = sign_v4(
            "POST", url, {"content-length": str(len(body))}, "0" * 64, server.access_key, server.secret_key
        )
        async with s3.session.post(url, data=body, headers=lying.headers) as mismatch:
            assert mismatch.status == 400

        for method, path, document, status in [
            ("GET", "/_admin/nothing-here", None, 404),
            ("PUT", "/_admin/faults", None, 405),
            ("POST", "/_admin/faults", {"target": "gremlins"}, 400),
            ("POST", "/_admin/faults", {"target": "metadata", "mode": "sometimes"}, 400),
            ("POST", "/_admin/faults", {"target": "drive", "drive": 7}, 404),
            ("POST", "/_admin/faults", {"target": "replica", "bucket": "nope", "key": "k"}, 404),
            ("POST", "/_admin/faults", {"target": "replica", "blob_id": "../../etc/passwd"}, 404),
        ]:
            reply = await s3.admin(method, path, document)
            assert reply.status == status, (method, path, document, reply.body)
            assert set(reply.json()["error"]) == {"code", "message"}
        raw = await s3.request("POST", "/_admin/faults", b"[1, 2", {"content-type": "application/json"})
        assert raw.status == 400
        # A bucket may not be called _admin, so the S3 side never sees these paths.
        assert (await s3.request("PUT", "/_admin")).status == 400


async def test_fault_endpoints_need_the_flag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path / "data")
    try:
        async with S3Client(server) as s3:
            for method in ("GET", "POST", "DELETE"):
                reply = await s3.admin(
                    method, "/_admin/faults", {"target": "metadata"} if method == "POST" else None
                )
                assert reply.status == 404 and "--enable-fault-injection" in reply.json()["error"]["message"]
            assert (await s3.admin("GET", "/_admin/storage")).status == 200
    finally:
        assert server.stop() == 0
