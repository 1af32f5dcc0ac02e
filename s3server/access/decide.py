"""The one access decision: may this principal (or an anonymous caller) do this to this bucket or key?

Every request goes through `Authorizer.check` with the IAM action its router row names
(`Operation.permission`); handlers use the same check for the second resource some operations touch
(the source of a copy, each key of DeleteObjects). In order:

    1. an admin (root included) may do anything;
    2. service-level calls (ListBuckets) and CreateBucket need a signature, nothing more;
    3. a bucket that does not exist is left to the handler (NoSuchBucket);
    4. the bucket's owner may do anything to it and in it (a policy cannot lock its owner out);
    5. the bucket policy: an explicit Deny refuses, an Allow grants (not when the public access
       block's RestrictPublicBuckets is on and the policy is public);
    6. the bucket's ACL: READ lists it, WRITE writes and deletes objects in it, READ_ACP / WRITE_ACP
       read and replace its ACL (FULL_CONTROL is all four);
    7. for object operations, the object itself: its uploader has full control of it, and its ACL's
       READ, READ_ACP and WRITE_ACP grant reads and its ACL (this needs the object's record, so it
       is asked for last);
    8. otherwise AccessDenied.

ACLs (steps 6 and 7) count for nothing when the bucket's Object Ownership is BucketOwnerEnforced,
and their public grants for nothing under the public access block's IgnorePublicAcls.

More lenient than AWS: the bucket owner owns every object in the bucket, whoever uploaded it (AWS's
"bucket owner enforced" object ownership), while object ACLs keep granting reads as with ACLs enabled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from urllib.parse import parse_qsl

from s3server.access import acl
from s3server.access.configs import BucketConfig, BucketConfigs
from s3server.access.policy import EXISTING_TAG, Decision
from s3server.identity.model import Credential
from s3server.metadata.base import MetadataStore, ObjectRecord
from s3server.s3.errors import S3Error

__all__ = ["Authorizer", "Outcome", "decide", "policy_context"]

# ACL permission → the IAM actions it grants (AWS's "ACL permission → policy action" mapping).
BUCKET_ACL_ACTIONS: dict[str, frozenset[str]] = {
    "READ": frozenset({"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"}),
    "WRITE": frozenset(
        {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
    ),
    "READ_ACP": frozenset({"s3:GetBucketAcl"}),
    "WRITE_ACP": frozenset({"s3:PutBucketAcl"}),
}
OBJECT_ACL_ACTIONS: dict[str, frozenset[str]] = {
    "READ": frozenset({"s3:GetObject", "s3:GetObjectAttributes"}),
    "READ_ACP": frozenset({"s3:GetObjectAcl"}),
    "WRITE_ACP": frozenset({"s3:PutObjectAcl"}),
}
BUCKET_PERMISSION = {action: perm for perm, actions in BUCKET_ACL_ACTIONS.items() for action in actions}
OBJECT_PERMISSION = {action: perm for perm, actions in OBJECT_ACL_ACTIONS.items() for action in actions}
# Object-level actions the object's own record (its uploader, its ACL) can grant.
OBJECT_GRANTS = frozenset(OBJECT_PERMISSION) | frozenset(
    {"s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"}
)
# Operations that need nothing but a signature: what they touch is the caller's own (or checked by
# the handler, as CreateBucket's name clash is).
SIGNED_ONLY = frozenset({"ListBuckets", "CreateBucket"})
# Operations authorized per key by their handler: DeleteObjects each key as its own DeleteObject,
# PostObject once its form has named the key and its signer.
PER_KEY = frozenset({"DeleteObjects", "PostObject"})
POLICY_QUERY_KEYS = ("prefix", "delimiter", "max-keys")
POLICY_HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-server-side-encryption",
    "x-amz-storage-class",
)


class Outcome(Enum):
    ALLOW = "allow"
    DENY = "deny"
    CHECK_OBJECT = "check-object"  # only the object's record can still allow it


def _no_context() -> Mapping[str, str]:
    return {}


def decide(
    principal: Credential | None,
    permission: str,
    config: BucketConfig | None,
    key: str | None,
    context: Callable[[], Mapping[str, str]] = _no_context,
    *,
    obj: ObjectRecord | None = None,
    object_checked: bool = False,
) -> Outcome:
    """Steps 1 and 3-8 above, for one bucket (or key); `context` builds the policy condition keys
    only when a policy needs them. CHECK_OBJECT asks the caller to come back with the object's
    record (`obj`, None if there is no such key) and `object_checked=True`."""
    if principal is not None and principal.is_admin:
        return Outcome.ALLOW
    if config is None:
        return Outcome.ALLOW
    user = principal.user if principal is not None else None
    if user is not None and user == config.owner:
        return Outcome.ALLOW
    if config.policy is not None:
        resource = config.name if key is None else f"{config.name}/{key}"
        decision = config.policy.evaluate(user, permission, resource, context())
        if decision is Decision.DENY:
            return Outcome.DENY
        if decision is Decision.ALLOW and not (
            config.block.restrict_public_buckets and config.policy.is_public
        ):
            return Outcome.ALLOW
    if config.acls_disabled:
        return Outcome.DENY
    ignore_public = config.block.ignore_public_acls
    bucket_permission = BUCKET_PERMISSION.get(permission)
    if bucket_permission is not None and acl.allows(config.acl, user, bucket_permission, ignore_public):
        return Outcome.ALLOW
    if key is not None and permission in OBJECT_GRANTS:
        if not object_checked:
            return Outcome.CHECK_OBJECT
        if obj is not None:
            if user is not None and obj.owner == user:
                return Outcome.ALLOW
            object_permission = OBJECT_PERMISSION.get(permission)
            if object_permission is not None and acl.allows(obj.acl, user, object_permission, ignore_public):
                return Outcome.ALLOW
    return Outcome.DENY


def policy_context(
    query: Mapping[str, str],
    headers: Mapping[str, str],
    principal: Credential | None,
    remote: str | None,
    secure: bool,
) -> Mapping[str, str]:
    """The condition keys a bucket policy may test (s3:ExistingObjectTag/… is added by `Authorizer`)."""
    context = {f"s3:{name}": query[name] for name in POLICY_QUERY_KEYS if name in query}
    for name in POLICY_HEADER_KEYS:
        if name in headers:
            context[f"s3:{name}"] = headers[name]
    tagging = headers.get("x-amz-tagging")
    if tagging:
        for tag, value in parse_qsl(tagging, keep_blank_values=True):
            context[f"s3:RequestObjectTag/{tag}"] = value
    if principal is not None:
        context["aws:username"] = principal.user
    if remote:
        context["aws:SourceIp"] = remote
    context["aws:SecureTransport"] = "true" if secure else "false"
    return context


class Authorizer:
    """`decide` with the bucket's configuration and, when needed, the object's record."""

    def __init__(self, configs: BucketConfigs, meta: MetadataStore) -> None:
        self.configs = configs
        self.meta = meta

    async def check(
        self,
        principal: Credential | None,
        permission: str,
        bucket: str,
        key: str | None,
        context: Callable[[], Mapping[str, str]] = _no_context,
    ) -> BucketConfig | None:
        """Raise AccessDenied unless allowed; returns the bucket's configuration (None: no bucket)."""
        config = await self.configs.get(bucket)
        await self.check_config(principal, permission, config, bucket, key, context)
        return config

    async def check_config(
        self,
        principal: Credential | None,
        permission: str,
        config: BucketConfig | None,
        bucket: str,
        key: str | None,
        context: Callable[[], Mapping[str, str]] = _no_context,
    ) -> None:
        """`check` with the bucket's configuration already looked up (None: there is no bucket)."""
        if (
            key is not None
            and config is not None
            and config.policy is not None
            and config.policy.needs_object_tags
        ):
            context = await self._with_object_tags(bucket, key, context)
        outcome = decide(principal, permission, config, key, context)
        if outcome is Outcome.CHECK_OBJECT:
            assert key is not None
            record = await self.meta.get_object(bucket, key)
            outcome = decide(principal, permission, config, key, context, obj=record, object_checked=True)
            if record is None and outcome is Outcome.DENY and permission in OBJECT_ACL_ACTIONS["READ"]:
                # As on AWS: a missing key is NoSuchKey (404) to a caller who may list the bucket,
                # AccessDenied to anyone else (so keys cannot be probed).
                outcome = decide(principal, "s3:ListBucket", config, None, context)
        if outcome is not Outcome.ALLOW:
            raise S3Error("AccessDenied")

    async def _with_object_tags(
        self, bucket: str, key: str, context: Callable[[], Mapping[str, str]]
    ) -> Callable[[], Mapping[str, str]]:
        """`context` with the object's tags as s3:ExistingObjectTag/<key> (none for a missing key)."""
        record = await self.meta.get_object(bucket, key)
        tags = {f"{EXISTING_TAG}{k}": v for k, v in (record.tags if record is not None else {}).items()}

        def with_tags() -> Mapping[str, str]:
            return {**context(), **tags}

        return with_tags
