"""Operation name → handler, gathered from each operation family's module."""

from __future__ import annotations

from s3server.s3 import (
    acl,
    attributes,
    bucket_encryption,
    buckets,
    copy,
    cors,
    delete_objects,
    lifecycle,
    listing,
    multipart,
    object_lock,
    objects,
    ownership,
    policy,
    post_object,
    public_access,
    tagging,
    versioning,
)
from s3server.s3.context import Handler

HANDLERS: dict[str, Handler] = {
    **buckets.HANDLERS,
    **objects.HANDLERS,
    **listing.HANDLERS,
    **attributes.HANDLERS,
    **multipart.HANDLERS,
    **copy.HANDLERS,
    **delete_objects.HANDLERS,
    **tagging.HANDLERS,
    **acl.HANDLERS,
    **policy.HANDLERS,
    **cors.HANDLERS,
    **bucket_encryption.HANDLERS,
    **versioning.HANDLERS,
    **object_lock.HANDLERS,
    **post_object.HANDLERS,
    **lifecycle.HANDLERS,
    **ownership.HANDLERS,
    **public_access.HANDLERS,
}
