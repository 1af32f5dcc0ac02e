"""kill -9 in the middle of 32 concurrent versioned writes and deletes, then restart: every
acknowledged version is listed and reads back with its ETag, every acknowledged delete marker is
listed, a version whose permanent deletion was acknowledged is gone, nothing listed is half there,
and once the reaper ran no blob is orphaned.

Acknowledged means the client got its 200/204 with a version id. A request the server died with
may have committed or not; its version (or marker, or removal) is allowed either way, but what it
left must be whole: a listed version reads back completely, with the bytes its ETag names.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.etree import ElementTree

import aiohttp

from tests.reliability.helpers import BUCKET, StorageSetup, md5
from tests.support.aioclient import Reply, S3Client

WRITERS = 32
KEYS = 16  # two writers per key on average: versions of one key race each other
ACKS_BEFORE_KILL = 150
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
ENABLE = (
    b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Status>Enabled</Status></VersioningConfiguration>"
)
FAILURES = (TimeoutError, aiohttp.ClientError, ConnectionError)


def content(writer: int, n: int) -> bytes:
    """The bytes of writer `writer`'s n-th PUT: small, medium, and now and then a multi-block one."""
    rng = random.Random(f"{writer}/{n}")
    size = rng.choice([rng.randint(1, 16 * 1024), rng.randint(64 * 1024, 512 * 1024), 2 * 1024**2 + 7])
    return rng.randbytes(size)


@dataclass
class Ledger:
    """What the clients know. Events are numbered in the order the clients saw them (one event loop),
    so "acknowledged before that was sent" is a fact about the server's commit order."""

    clock: itertools.count[int] = field(default_factory=itertools.count)
    # version id -> (key, ETag or None for a delete marker, sent at, acknowledged at)
    acked: dict[str, tuple[str, str | None, int, int]] = field(default_factory=dict)
    in_flight_puts: dict[str, set[str]] = field(default_factory=dict)  # key -> ETags
    in_flight_markers: dict[str, int] = field(default_factory=dict)  # key -> unanswered deletes
    removed: set[str] = field(default_factory=set)  # version ids whose deletion was acknowledged
    removing: set[str] = field(default_factory=set)  # version ids whose deletion had no answer
    storm_acks: int = 0


def version_id(reply: Reply) -> str:
    value = reply.headers.get("x-amz-version-id", "")
    assert value and value != "null", f"no version id in {reply.status} {dict(reply.headers)}"
    return value


async def list_versions(s3: S3Client) -> list[tuple[str, str, str | None, bool]]:
    """Every entry of ListObjectVersions in order: (key, version id, ETag or None for a marker,
    is latest)."""
    entries: list[tuple[str, str, str | None, bool]] = []
    query = "versions&max-keys=100"
    while True:
        reply = await s3.request("GET", f"/{BUCKET}?{query}")
        assert reply.status == 200, reply.body[:300]
        root = ElementTree.fromstring(reply.body)
        for entry in root:
            if entry.tag not in (f"{NS}Version", f"{NS}DeleteMarker"):
                continue
            etag = entry.findtext(f"{NS}ETag")
            entries.append(
                (
                    entry.findtext(f"{NS}Key") or "",
                    entry.findtext(f"{NS}VersionId") or "",
                    None if entry.tag == f"{NS}DeleteMarker" else (etag or "").strip('"'),
                    entry.findtext(f"{NS}IsLatest") == "true",
                )
            )
        if root.findtext(f"{NS}IsTruncated") != "true":
            return entries
        key_marker = quote(root.findtext(f"{NS}NextKeyMarker") or "", safe="")
        version_marker = quote(root.findtext(f"{NS}NextVersionIdMarker") or "", safe="")
        query = f"versions&max-keys=100&key-marker={key_marker}&version-id-marker={version_marker}"


async def storm(s3: S3Client, setup: StorageSetup, keys: list[str], ledger: Ledger) -> None:
    """32 writers PUT new versions, write delete markers and remove their own older versions until
    the server is killed under them."""
    killed = asyncio.Event()

    def acknowledged() -> None:
        ledger.storm_acks += 1
        if ledger.storm_acks >= ACKS_BEFORE_KILL and not killed.is_set():
            killed.set()
            setup.kill()

    async def writer(w: int) -> None:
        rng = random.Random(w)
        mine: list[str] = []  # version ids of this writer's acknowledged PUTs
        for n in itertools.count():
            if killed.is_set():
                return
            key = rng.choice(keys)
            roll = rng.random()
            sent = next(ledger.clock)
            if roll < 0.6 or not mine:
                body = content(w, n)
                etag = md5(body)
                ledger.in_flight_puts.setdefault(key, set()).add(etag)
                try:
                    reply = await s3.put(BUCKET, key, body)
                except FAILURES:
                    return  # the server died with this PUT unanswered
                assert reply.status == 200, (reply.status, reply.body[:300])
                assert reply.headers["ETag"].strip('"') == etag
                ledger.in_flight_puts[key].discard(etag)
                ledger.acked[version_id(reply)] = (key, etag, sent, next(ledger.clock))
                mine.append(version_id(reply))
            elif roll < 0.85:
                ledger.in_flight_markers[key] = ledger.in_flight_markers.get(key, 0) + 1
                try:
                    reply = await s3.delete(BUCKET, key)
                except FAILURES:
                    return
                assert reply.status == 204, (reply.status, reply.body[:300])
                assert reply.headers.get("x-amz-delete-marker") == "true"
                ledger.in_flight_markers[key] -= 1
                ledger.acked[version_id(reply)] = (key, None, sent, next(ledger.clock))
            else:
                victim = mine.pop(rng.randrange(len(mine)))
                victim_key = ledger.acked[victim][0]
                ledger.removing.add(victim)
                try:
                    reply = await s3.request("DELETE", f"/{BUCKET}/{victim_key}?versionId={victim}")
                except FAILURES:
                    return
                assert reply.status == 204, (reply.status, reply.body[:300])
                assert version_id(reply) == victim
                ledger.removing.discard(victim)
                ledger.removed.add(victim)
                next(ledger.clock)
            acknowledged()

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    assert killed.is_set() and ledger.storm_acks >= ACKS_BEFORE_KILL


async def test_kill_9_during_concurrent_versioned_writes_and_deletes(setup: StorageSetup) -> None:
    server = setup.start()
    keys = [f"doc-{n:02d}" for n in range(KEYS)]
    ledger = Ledger()
    async with S3Client(server, connections=WRITERS + 8) as s3:
        await s3.create_bucket(BUCKET)
        reply = await s3.request("PUT", f"/{BUCKET}?versioning", ENABLE)
        assert reply.status == 200, reply.body[:300]
        await storm(s3, setup, keys, ledger)
    unanswered = sum(map(len, ledger.in_flight_puts.values())) + sum(ledger.in_flight_markers.values())
    assert unanswered + len(ledger.removing) > 0, "the kill should catch requests in flight"

    # Restart with no grace (no client writes from here on), let the reaper walk the drives.
    server = setup.start("--reaper-grace", "0", "--reaper-interval", "1")
    async with S3Client(server) as s3:
        listed = await list_versions(s3)
        position = {vid: i for i, (_, vid, _, _) in enumerate(listed)}
        assert len(position) == len(listed), "a version id listed twice"

        # Every acknowledged version and marker is there (unless its removal may have committed),
        # and a version whose removal was acknowledged is not.
        for vid, (key, etag, _, _) in ledger.acked.items():
            if vid in ledger.removed:
                assert vid not in position, f"{key} {vid}: its deletion was acknowledged, yet it is listed"
            elif vid not in ledger.removing:
                assert vid in position, (
                    f"{key} {vid}: acknowledged {'marker' if etag is None else 'version'} lost"
                )
                assert listed[position[vid]][:3] == (key, vid, etag)

        # Whatever else is listed was in flight when the server died.
        markers_left = dict(ledger.in_flight_markers)
        for key, vid, etag, _ in listed:
            if vid in ledger.acked:
                continue
            assert key in keys, f"unknown key {key}"
            if etag is None:
                markers_left[key] = markers_left.get(key, 0) - 1
                assert markers_left[key] >= 0, f"{key}: more unacknowledged markers than deletes in flight"
            else:
                assert etag in ledger.in_flight_puts.get(key, set()), f"{key} {vid}: ETag of no PUT"

        # A key's versions are newest first: one acknowledged before another was sent is older.
        by_key: dict[str, list[str]] = {}
        for key, vid, _, _ in listed:
            by_key.setdefault(key, []).append(vid)
        for key, vids in by_key.items():
            known = [v for v in vids if v in ledger.acked]
            for newer, older in itertools.combinations(known, 2):  # listed order: newer first
                assert not ledger.acked[newer][3] < ledger.acked[older][2], (
                    f"{key}: {newer} was acknowledged before {older} was sent, yet is listed newer"
                )

        # Every listed version reads back whole, and the newest entry decides what GET answers.
        for key, vid, etag, _ in listed:
            reply = await s3.request("GET", f"/{BUCKET}/{key}?versionId={vid}")
            if etag is None:
                assert reply.status == 405 and reply.headers.get("x-amz-delete-marker") == "true"
                continue
            assert reply.status == 200, (key, vid, reply.status, reply.body[:300])
            assert md5(reply.body) == etag == reply.headers["ETag"].strip('"'), f"{key} {vid}: half there"
            assert reply.headers["x-amz-version-id"] == vid
        for key in keys:
            newest = [entry for entry in listed if entry[0] == key and entry[3]]
            reply = await s3.get(BUCKET, key)
            if not newest or newest[0][2] is None:
                assert reply.status == 404, (key, reply.status)
            else:
                assert reply.status == 200 and md5(reply.body) == newest[0][2], key

        report = await s3.admin("POST", "/_admin/reaper", {"walk": True})
        assert report.status == 200, report.body
    rows = await setup.audit()  # every blob file is indexed and referenced, and nothing more
    assert len(rows) >= sum(
        1
        for vid, (_, etag, _, _) in ledger.acked.items()
        if etag and vid not in ledger.removed | ledger.removing
    )
