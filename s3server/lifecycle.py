"""The lifecycle worker: applies buckets' lifecycle rules (`s3server.s3.lifecycle`) in periodic passes.

One pass at a time, across every process and gateway on the metadata database: a pass runs only
while its process holds the "lifecycle" lease (a row in the metadata store, `take_lease` /
`keep_lease`, timed by the database). Every process tries every few seconds; the holder renews the
lease at each page it finishes (and every RENEW_EVERY removals), and stops the moment a renewal
fails, so a stalled holder's successor never works beside it.

A pass is resumable: the lease row also holds the pass's cursor (bucket, rule, phase, key and upload
markers), saved with each renewal, so after a crash the next holder continues where the last page
ended; what that page removed is not found again (it is gone, or no longer current).

A pass walks each bucket's enabled rules, one ordered scan per rule and phase over the rule's prefix:
- current versions (list_objects) for Expiration Days/Date: removed, or in a versioned bucket given a
  delete marker, through the saga's DeleteObject;
- versions (list_object_versions, only in buckets that have had versioning) for
  NoncurrentVersionExpiration and ExpiredObjectDeleteMarker: each key's versions are collected
  (newest first), decided, then removed by version id. A version became noncurrent when its successor
  was written, so the successor's last_modified is when its noncurrent days start;
- uploads (list_uploads) for AbortIncompleteMultipartUpload: aborted through the saga.
Size filters are checked on listed entries; tag filters read the candidate's record (listings carry
no tags), and so does every current-version candidate, to skip a key rewritten since it was listed.
Locked versions (ObjectLockedError) are skipped and counted, never removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from s3server.metadata.base import MetadataStore, ObjectLockedError, ObjectRecord
from s3server.metadata.errors import DomainError, NoSuchUploadError
from s3server.reaper import cancel
from s3server.s3.common import new_version_id
from s3server.s3.lifecycle import Rule, due, rules_of
from s3server.saga import Saga

if TYPE_CHECKING:
    from s3server.ops.metrics import Metrics

log = logging.getLogger("s3server.lifecycle")

LEASE = "lifecycle"
LEASE_TTL = 60.0  # seconds a holder that stopped renewing keeps others waiting
PAGE = 1000  # entries per listing
RENEW_EVERY = 100  # removals between lease renewals inside a page
MAX_CHECK = 30.0  # seconds between a process's attempts to take the lease
MAX_LISTED = 10_000  # removals a report names one by one (the counts are always complete)
PHASES = ("current", "versions", "uploads")
CONCURRENCY = 32  # removals in flight within a page
ATTEMPTS = 3  # tries of one removal that failed


async def _each(items: list[ObjectRecord], act: Callable[[ObjectRecord], Awaitable[None]]) -> None:
    """act(item) for every item, CONCURRENCY at a time: removals of distinct keys commit together
    (the metadata store's group commit) instead of one durable transaction after another.

    Every act runs to its end (none is cancelled halfway, so what committed is also counted); a
    failed one is tried again (a transaction the database rolled back, such as a deadlock victim,
    changed nothing, and `act` looks again before it removes), then its error is raised."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(item: ObjectRecord) -> None:
        async with limit:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    await act(item)
                    return
                except (LeaseLost, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    if attempt == ATTEMPTS or isinstance(exc, DomainError):
                        raise  # only a failed backend (a rolled-back transaction) is worth another try
                    log.info("lifecycle: retrying %s after %s", item.key, exc)
                    await asyncio.sleep(0.05 * attempt)

    outcomes = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


class LeaseLost(Exception):
    """Another process took the lease (this one stalled past LEASE_TTL): stop at once."""


class LeaseBusy(Exception):
    """Another process holds the lease and did not let go in time."""


@dataclass
class LifecycleReport:
    """What a pass did."""

    expired: int = 0  # current versions expired (removed, or hidden behind a delete marker)
    expired_bytes: int = 0
    noncurrent_removed: int = 0
    noncurrent_bytes: int = 0
    delete_markers_removed: int = 0
    uploads_aborted: int = 0
    locked_skipped: int = 0  # versions a rule selected but Object Lock protects
    buckets: int = 0
    resumed: bool = False  # the pass continued one a stopped process left unfinished
    seconds: float = 0.0
    removed: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_LISTED, when asked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Cursor:
    """Where a pass is: the bucket, its rule and phase, and the listing markers within them."""

    bucket: str = ""
    rule: int = 0
    phase: str = PHASES[0]
    key: str = ""
    upload: str = ""

    def reached(self, rule: int, phase: str) -> bool:
        """Whether (rule, phase) is at or past the cursor; moving past it clears the markers."""
        here, there = (rule, PHASES.index(phase)), (self.rule, PHASES.index(self.phase))
        if here < there:
            return False
        if here > there:
            self.rule, self.phase, self.key, self.upload = rule, phase, "", ""
        return True


@dataclass
class _Run:
    """One pass in progress: its report, cursor and the lease state it saves."""

    report: LifecycleReport
    cursor: Cursor
    state: dict[str, Any]
    collect: bool
    resumable: bool  # a full pass saves its cursor; a one-bucket run leaves the saved state alone
    since_renewal: int = 0
    began: float = field(default_factory=time.monotonic)


class LifecycleWorker:
    """Runs lifecycle passes: periodically (`start`), or now (`run_now`, the admin API's)."""

    name = "lifecycle"

    def __init__(
        self,
        saga: Saga,
        meta: MetadataStore,
        *,
        interval: float,
        day_seconds: float,
        metrics: Metrics | None = None,
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        self.saga = saga
        self.meta = meta
        self.interval = interval
        self.day_seconds = day_seconds
        self.metrics = metrics
        self.lease_ttl = lease_ttl
        self.holder = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self.check_every = min(MAX_CHECK, interval)
        self._lock = asyncio.Lock()  # one pass per process (the lease is per holder, not per task)
        self._task: asyncio.Task[None] | None = None

    # -- scheduling

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="lifecycle")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a metadata hiccup: the next attempt resumes from the saved cursor
                log.exception("lifecycle pass failed")
            await asyncio.sleep(self.check_every)

    async def tick(self) -> LifecycleReport | None:
        """Run a pass if this process gets the lease and one is due (or one was left unfinished)."""
        async with self._lock:
            lease = await self.meta.take_lease(LEASE, self.holder, self.lease_ttl)
            if lease is None:
                return None
            state = json.loads(lease.state or "{}")
            if state.get("pass") is None and (state.get("finished") or 0.0) + self.interval > time.time():
                await self.meta.keep_lease(LEASE, self.holder, 0, lease.state)
                return None
            return await self._full_pass(state, collect=False)

    async def run_now(self, bucket: str | None = None, wait: float = 30.0) -> LifecycleReport:
        """A pass now (over one bucket, or all: continuing an unfinished one), naming what it removed.
        Waits up to `wait` seconds for a pass in another process to finish; then LeaseBusy."""
        async with self._lock:
            deadline = time.monotonic() + wait
            while (lease := await self.meta.take_lease(LEASE, self.holder, self.lease_ttl)) is None:
                if time.monotonic() > deadline:
                    raise LeaseBusy("a lifecycle pass is running in another process")
                await asyncio.sleep(0.2)
            state = json.loads(lease.state or "{}")
            if bucket is None:
                return await self._full_pass(state, collect=True)
            run = _Run(LifecycleReport(), Cursor(bucket=bucket), state, collect=True, resumable=False)
            try:
                config = await self.meta.get_bucket_lifecycle(bucket)
                if config is not None:
                    await self._bucket(bucket, config, run)
            finally:
                await self._release(run)
            return self._finish(run)

    # -- a pass

    async def _full_pass(self, state: dict[str, Any], collect: bool) -> LifecycleReport:
        saved = state.get("pass")
        cursor = Cursor(**saved) if saved else Cursor()
        run = _Run(LifecycleReport(resumed=saved is not None), cursor, state, collect, resumable=True)
        try:
            if cursor.bucket:
                config = await self.meta.get_bucket_lifecycle(cursor.bucket)
                if config is not None:
                    await self._bucket(cursor.bucket, config, run)
            after = cursor.bucket
            while True:
                batch = await self.meta.lifecycle_buckets(after, 100)
                for name, config in batch:
                    run.cursor = Cursor(bucket=name)
                    await self._checkpoint(run)
                    await self._bucket(name, config, run)
                if len(batch) < 100:
                    break
                after = batch[-1][0]
        except LeaseLost:
            log.warning("lifecycle: lost the lease mid-pass; its new holder continues")
            return self._finish(run)
        except BaseException:
            await self._release(run)  # keep the cursor, let anyone resume at once
            raise
        run.state = {"finished": time.time(), "pass": None}
        run.resumable = False
        await self._release(run)
        report = self._finish(run)
        if self.metrics is not None:
            self.metrics.lifecycle_pass.observe(report.seconds)
        return report

    def _finish(self, run: _Run) -> LifecycleReport:
        report = run.report
        report.seconds = time.monotonic() - run.began
        if any(
            (report.expired, report.noncurrent_removed, report.delete_markers_removed, report.uploads_aborted)
        ):
            log.info("lifecycle pass: %s", {k: v for k, v in report.as_dict().items() if k != "removed"})
        return report

    async def _bucket(self, name: str, config: str, run: _Run) -> None:
        bucket = await self.meta.get_bucket(name)
        if bucket is None:
            return
        run.report.buckets += 1
        for index, rule in enumerate(rules_of(config)):
            if not rule.enabled:
                continue
            wanted = {
                "current": rule.expires_current,
                "versions": rule.expires_versions and bool(bucket.versioning),
                "uploads": rule.abort_days is not None,
            }
            for phase in PHASES:
                if wanted[phase] and run.cursor.reached(index, phase):
                    await getattr(self, f"_{phase}")(name, rule, run)

    async def _current(self, bucket: str, rule: Rule, run: _Run) -> None:
        """Expiration: current versions under the rule's prefix whose expiry date has passed."""
        cursor = run.cursor
        while True:
            page = await self.meta.list_objects(bucket, prefix=rule.prefix, after=cursor.key, max_keys=PAGE)
            cutoff = rule.expired_before(datetime.now(UTC), self.day_seconds)
            candidates = [
                listed
                for listed in page.objects
                if cutoff is not None and listed.last_modified <= cutoff and rule.size_matches(listed.size)
            ]

            async def expire(listed: ObjectRecord) -> None:
                record = await self.meta.get_object(bucket, listed.key)
                same = record is not None and record.etag == listed.etag
                if record is None or not same or record.last_modified != listed.last_modified:
                    return  # rewritten (or removed) since it was listed
                if rule.tags_match(record.tags):
                    await self._remove(run, record, None, "Expiration", rule)

            await _each(candidates, expire)
            if page.next_marker is not None:
                cursor.key = page.next_marker
            await self._checkpoint(run)
            if not page.is_truncated:
                return

    async def _versions(self, bucket: str, rule: Rule, run: _Run) -> None:
        """NoncurrentVersionExpiration and ExpiredObjectDeleteMarker, one key's versions at a time.

        A key's versions are settled only once the listing has moved past the key, so the version a
        page ended on (the next page's marker) is never one this walk already removed."""
        cursor = run.cursor
        key_marker, version_marker = cursor.key, ""
        pending: list[ObjectRecord] = []
        while True:
            page = await self.meta.list_object_versions(
                bucket,
                prefix=rule.prefix,
                key_marker=key_marker,
                version_id_marker=version_marker,
                max_keys=PAGE,
            )
            for entry in page.versions:
                if pending and entry.key != pending[0].key:
                    await self._settle(bucket, rule, pending, run)
                    cursor.key = pending[0].key
                    pending = []
                pending.append(entry)
            if not page.is_truncated:
                break
            key_marker, version_marker = page.next_key_marker or "", page.next_version_id_marker or ""
            await self._checkpoint(run)
        if pending:
            await self._settle(bucket, rule, pending, run)
            cursor.key = pending[0].key
        await self._checkpoint(run)

    async def _settle(self, bucket: str, rule: Rule, entries: list[ObjectRecord], run: _Run) -> None:
        """Decide one key's versions (newest first) under the rule, and remove the doomed ones."""
        now = datetime.now(UTC)
        left = len(entries)
        if rule.noncurrent_days is not None:
            for rank, (newer, entry) in enumerate(itertools.pairwise(entries), start=1):
                if rank <= rule.newer_noncurrent or not rule.size_matches(entry.size):
                    continue
                if due(newer.last_modified, rule.noncurrent_days, self.day_seconds) > now:
                    continue
                if rule.tags:
                    if entry.delete_marker:
                        continue
                    full = await self.meta.get_object(bucket, entry.key, entry.version_id)
                    if full is None or not rule.tags_match(full.tags):
                        continue
                if await self._remove(run, entry, entry.version_id, "NoncurrentVersionExpiration", rule):
                    left -= 1
        latest = entries[0]
        if rule.expired_markers and latest.is_latest and latest.delete_marker and left == 1:
            await self._remove(run, latest, latest.version_id, "ExpiredObjectDeleteMarker", rule)

    async def _uploads(self, bucket: str, rule: Rule, run: _Run) -> None:
        """AbortIncompleteMultipartUpload: uploads under the prefix initiated long enough ago."""
        assert rule.abort_days is not None
        cursor = run.cursor
        while True:
            page = await self.meta.list_uploads(
                bucket,
                prefix=rule.prefix,
                key_marker=cursor.key,
                upload_id_marker=cursor.upload,
                max_uploads=PAGE,
            )
            now = datetime.now(UTC)
            for upload in page.uploads:
                when = rule.upload_due(upload.initiated, self.day_seconds)
                if when is None or when > now:
                    continue
                try:
                    await self.saga.abort_upload(bucket, upload.key, upload.upload_id)
                except NoSuchUploadError:
                    continue  # completed or aborted meanwhile
                run.report.uploads_aborted += 1
                if self.metrics is not None:
                    self.metrics.lifecycle_uploads.inc()
                self._listed(
                    run, bucket, upload.key, upload.upload_id, "AbortIncompleteMultipartUpload", rule, 0
                )
                await self._counted(run)
            if page.next_key_marker is not None:
                cursor.key, cursor.upload = page.next_key_marker, page.next_upload_id_marker or ""
            await self._checkpoint(run)
            if not page.is_truncated:
                return

    # -- removing, reporting, the lease

    async def _remove(
        self, run: _Run, record: ObjectRecord, version_id: str | None, action: str, rule: Rule
    ) -> bool:
        """DeleteObject through the saga (with a version id: that version); whether it did."""
        try:
            done = await self.saga.delete_object(
                record.bucket, record.key, version_id, marker_id=new_version_id()
            )
        except ObjectLockedError:
            run.report.locked_skipped += 1
            return False
        if version_id is not None and done.removed is None:
            return False  # removed meanwhile
        if version_id is None and done.removed is None and not done.delete_marker:
            return False
        report = run.report
        size = 0 if record.delete_marker else record.size
        if action == "Expiration":
            report.expired += 1
            report.expired_bytes += size
        elif record.delete_marker and action == "ExpiredObjectDeleteMarker":
            report.delete_markers_removed += 1
        else:
            report.noncurrent_removed += 1
            report.noncurrent_bytes += size
        if self.metrics is not None:
            self.metrics.lifecycle_objects.labels(action).inc()
            if size:
                self.metrics.lifecycle_bytes.labels(action).inc(size)
        self._listed(run, record.bucket, record.key, version_id, action, rule, size)
        await self._counted(run)
        return True

    @staticmethod
    def _listed(
        run: _Run, bucket: str, key: str, version: str | None, action: str, rule: Rule, size: int
    ) -> None:
        if run.collect and len(run.report.removed) < MAX_LISTED:
            entry = {"bucket": bucket, "key": key, "action": action, "rule": rule.id, "size": size}
            entry["upload_id" if action == "AbortIncompleteMultipartUpload" else "version_id"] = version
            run.report.removed.append(entry)

    async def _counted(self, run: _Run) -> None:
        run.since_renewal += 1
        if run.since_renewal >= RENEW_EVERY:
            await self._checkpoint(run)

    def _state(self, run: _Run) -> str:
        if run.resumable:
            run.state = {"finished": run.state.get("finished"), "pass": asdict(run.cursor)}
        return json.dumps(run.state, separators=(",", ":"))

    async def _checkpoint(self, run: _Run) -> None:
        """Save the cursor and renew the lease; LeaseLost when another process holds it now."""
        run.since_renewal = 0
        if not await self.meta.keep_lease(LEASE, self.holder, self.lease_ttl, self._state(run)):
            raise LeaseLost()

    async def _release(self, run: _Run) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(self.meta.keep_lease(LEASE, self.holder, 0, self._state(run)))
