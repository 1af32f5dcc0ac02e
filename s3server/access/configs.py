"""Per-process cache of what access decisions read about a bucket: owner, canned ACL, policy, CORS.

Every request that names a bucket needs these before its handler runs, so they are kept in memory
(parsed: a `Policy`, `CorsRule`s) rather than read from the metadata store each time. A change made
through this process invalidates its entry at once (the gateway does so after every operation that
changes a bucket's configuration); a change made by another worker process or gateway is seen within
`ttl` seconds. Missing buckets are not cached, so a bucket created elsewhere is usable at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from s3server.access import cors
from s3server.access.policy import Policy, parse_policy
from s3server.metadata.base import Bucket, MetadataStore
from s3server.s3.errors import S3Error

log = logging.getLogger("s3server.access")

DEFAULT_TTL = 2.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class BucketConfig:
    bucket: Bucket
    policy: Policy | None
    cors: tuple[cors.CorsRule, ...] | None  # None: no CORS configuration

    @property
    def name(self) -> str:
        return self.bucket.name

    @property
    def owner(self) -> str:
        return self.bucket.owner

    @property
    def acl(self) -> str:
        return self.bucket.acl


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
    return BucketConfig(bucket=bucket, policy=policy, cors=rules)


class BucketConfigs:
    """name → BucketConfig, read through to the metadata store."""

    def __init__(
        self, meta: MetadataStore, *, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.meta = meta
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[BucketConfig, float]] = {}
        self._generation = 0

    async def get(self, name: str) -> BucketConfig | None:
        hit = self._entries.get(name)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        generation = self._generation
        bucket = await self.meta.get_bucket(name)
        if bucket is None:
            self._entries.pop(name, None)
            return None
        config = config_of(bucket)
        # A change that committed while we read may have made this answer stale: don't keep it.
        if generation == self._generation:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[name] = (config, self._clock() + self.ttl)
        return config

    def peek(self, name: str) -> BucketConfig | None:
        """The cached configuration, however old, without a read (None when not cached)."""
        hit = self._entries.get(name)
        return hit[0] if hit is not None else None

    def invalidate(self, name: str | None = None) -> None:
        """Forget one bucket (or all): its next request reads the store again."""
        self._generation += 1
        if name is None:
            self._entries.clear()
        else:
            self._entries.pop(name, None)
