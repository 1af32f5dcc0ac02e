"""What access decisions read about a bucket: owner, ACL, policy, CORS, ownership, public access block.

Every request that names a bucket reads its row afresh (so no worker or gateway acts on a change it
has not seen); parsing the policy and CORS rules is what is remembered, keyed by the row's content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from s3server.access import cors, public_block
from s3server.access.ownership import ENFORCED
from s3server.access.policy import Policy, parse_policy
from s3server.access.public_block import PublicAccessBlock
from s3server.metadata.base import Bucket, MetadataStore
from s3server.s3.errors import S3Error

log = logging.getLogger("s3server.access")

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class BucketConfig:
    bucket: Bucket
    policy: Policy | None
    cors: tuple[cors.CorsRule, ...] | None  # None: no CORS configuration
    block: PublicAccessBlock = public_block.NONE

    @property
    def name(self) -> str:
        return self.bucket.name

    @property
    def owner(self) -> str:
        return self.bucket.owner

    @property
    def acl(self) -> str:
        return self.bucket.acl

    @property
    def acls_disabled(self) -> bool:
        """Object Ownership BucketOwnerEnforced: ACLs grant nothing."""
        return self.bucket.ownership == ENFORCED


def config_of(bucket: Bucket) -> BucketConfig:
    """Parse the stored policy and CORS rules once."""
    policy = None
    if bucket.policy:
        try:
            policy = parse_policy(bucket.policy, bucket.name)
        except S3Error:
            # Validated when it was put; only a hand-edited database gets here. Refuse everyone but
            # the owner rather than guess what the document meant.
            log.error("bucket %s: its stored policy no longer parses; only its owner has access", bucket.name)
            policy = Policy(document=bucket.policy, statements=())
    rules = None
    if bucket.cors:
        try:
            rules = cors.loads(bucket.cors)
        except (ValueError, KeyError, TypeError):
            log.error("bucket %s: its stored CORS rules do not load; CORS requests are refused", bucket.name)
            rules = ()
    block = public_block.NONE
    if bucket.public_access_block:
        try:
            block = public_block.loads(bucket.public_access_block)
        except (ValueError, TypeError):
            # As with a policy: refuse what cannot be read rather than open the bucket.
            log.error("bucket %s: its stored public access block does not load; blocking all", bucket.name)
            block = PublicAccessBlock(True, True, True, True)
    return BucketConfig(bucket=bucket, policy=policy, cors=rules, block=block)


class BucketConfigs:
    """name → BucketConfig: the bucket's row read for every request, its parse remembered.

    Nothing is trusted from an earlier request: every call reads the bucket row (a point lookup by
    primary key), so a change made by any worker or gateway on the same database governs the very
    next request. Only the parse (policy document, CORS rules) is kept, per bucket name, and reused
    while the row read is equal to the one it was parsed from.
    """

    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta
        self._parsed: dict[str, BucketConfig] = {}

    async def get(self, name: str) -> BucketConfig | None:
        bucket = await self.meta.get_bucket(name)
        if bucket is None:
            self._parsed.pop(name, None)
            return None
        known = self._parsed.get(name)
        if known is not None and known.bucket == bucket:
            return known
        config = config_of(bucket)
        if len(self._parsed) >= MAX_ENTRIES:
            self._parsed.clear()
        self._parsed[name] = config
        return config
