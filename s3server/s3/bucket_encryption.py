"""A bucket's default encryption: PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption.

The one rule is kept as JSON on the bucket (Bucket.encryption); writes that name no encryption of
their own are sealed as it says (`s3.sse.for_write`).
"""

from __future__ import annotations

import json

from s3server.s3 import xml
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, clear_bucket_setting, require_bucket
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error
from s3server.s3.sse import MODES, SSE_KMS, default_of

MAX_BODY = 64 * 1024


def parse_xml(body: bytes) -> dict[str, object]:
    """A ServerSideEncryptionConfiguration → its rule, or AWS's error for it."""
    root = xml.parse(body)
    if xml.local(root) != "ServerSideEncryptionConfiguration":
        raise S3Error("MalformedXML")
    rules = xml.children(root, "Rule")
    if len(rules) != 1:
        raise S3Error("MalformedXML")
    applied = xml.children(rules[0], "ApplyServerSideEncryptionByDefault")
    if len(applied) != 1:
        raise S3Error("MalformedXML")
    algorithm = (xml.child_text(applied[0], "SSEAlgorithm") or "").strip()
    if algorithm not in MODES:
        raise S3Error("MalformedXML")
    rule: dict[str, object] = {"SSEAlgorithm": algorithm}
    key_id = xml.child_text(applied[0], "KMSMasterKeyID")
    if key_id is not None:
        if algorithm != SSE_KMS:
            raise S3Error(
                "InvalidArgument",
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms",
                ArgumentName="ApplyServerSideEncryptionByDefault",
            )
        rule["KMSMasterKeyID"] = key_id.strip()
    enabled = xml.child_text(rules[0], "BucketKeyEnabled")
    if enabled is not None:
        if enabled.strip().lower() not in ("true", "false"):
            raise S3Error("MalformedXML")
        rule["BucketKeyEnabled"] = enabled.strip().lower() == "true"
    return rule


def render_xml(rule: dict[str, object]) -> bytes:
    root = xml.element("ServerSideEncryptionConfiguration")
    element = xml.sub(root, "Rule")
    applied = xml.sub(element, "ApplyServerSideEncryptionByDefault")
    xml.sub(applied, "SSEAlgorithm", str(rule["SSEAlgorithm"]))
    if "KMSMasterKeyID" in rule:
        xml.sub(applied, "KMSMasterKeyID", str(rule["KMSMasterKeyID"]))
    xml.sub(element, "BucketKeyEnabled", bool(rule.get("BucketKeyEnabled", False)))
    return xml.render(root)


async def put_bucket_encryption(req: S3Request) -> S3Response:
    assert req.bucket is not None
    await require_bucket(req)
    body = await read_verified_body(req, MAX_BODY, integrity_required=False)
    rule = parse_xml(body)
    await req.services.meta.set_bucket_encryption(req.bucket, json.dumps(rule, separators=(",", ":")))
    return S3Response()


async def get_bucket_encryption(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    rule = default_of(bucket)
    if rule is None:
        raise S3Error("ServerSideEncryptionConfigurationNotFoundError", BucketName=bucket.name)
    return S3Response(body=render_xml(rule), headers=dict(XML_HEADERS))


async def delete_bucket_encryption(req: S3Request) -> S3Response:
    return await clear_bucket_setting(req, lambda meta, name: meta.set_bucket_encryption(name, None))


HANDLERS = {
    "PutBucketEncryption": put_bucket_encryption,
    "GetBucketEncryption": get_bucket_encryption,
    "DeleteBucketEncryption": delete_bucket_encryption,
}
