"""The load generator of `python -m bench compare`: S3 workloads over a raw HTTP/1.1 client on uvloop.

aiohttp's client and botocore spend more CPU per request than a fast server does, so with them the
benchmark measures the client. This one keeps a persistent keep-alive connection per concurrency slot
(`bench.http11`), writes each request with one `write`, parses responses straight out of
`data_received` and signs with `bench.sign`: one core drives well over 15,000 small requests/s.
It checks everything it reads (GET bytes, HEAD lengths, PUT ETags, LIST entries); a mismatch is an
error, and any error fails the run.

It runs as its own process, pinned to a core of its own by `bench.compare`, and prints one JSON
document on stdout (progress goes to stderr):

    python -m bench.loadgen --endpoint http://127.0.0.1:PORT --access-key AK --secret-key SK \
        --server-pid PID [--workloads put-4k-c1,…] [--duration 3] [--large-sizes 256,1024]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from xml.sax.saxutils import unescape

from bench import proc
from bench.client import S3, Slot
from bench.http11 import KIB, MIB, ProtocolError, Response
from bench.sign import canonical_query
from bench.timing import percentile

SMALL = 4 * KIB
CLIENT_BOUND = 0.9  # client CPU / wall time from which a figure is the generator's, not the server's
HANG_GRACE = 60.0  # seconds past a phase's end before its outstanding requests count as hung


class VerifyError(Exception):
    """What was read differs from what was written (or the status says the operation failed)."""


class Exhausted(Exception):
    """No object left for the operation (a DELETE run outpaced the objects written before it)."""


def expect_status(response: Response, *ok: int, what: str) -> None:
    if response.status not in ok:
        raise VerifyError(f"{what}: HTTP {response.status} {response.body[:160]!r}")


def etag_of(response: Response) -> str:
    return response.headers.get(b"etag", b"").strip(b'"').decode()


# --------------------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One workload's figures (JSON-ready)."""

    workload: str
    concurrency: int
    ops: int = 0
    seconds: float = 0.0
    bytes: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peak_rss_max_mib: float | None = None
    peak_rss_sum_mib: float | None = None

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message[:300])

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["ops_per_s"] = self.ops_per_s
        data["mb_per_s"] = self.bytes / self.seconds / 1e6 if self.seconds else 0.0
        data["client_cpu_pct"] = 100 * self.client_cpu_s / self.seconds if self.seconds else 0.0
        data["client_bound"] = self.seconds > 0 and self.client_cpu_s >= CLIENT_BOUND * self.seconds
        return data


Op = Callable[[Slot, int], Awaitable[int]]  # (slot, slot index) → body bytes moved

MAX_ERRORS = 20  # a workload stops after this many errors: the run fails anyway


class Phase:
    """Runs `op` on every slot until a deadline; with `record`, counts operations and latencies."""

    def __init__(self, outcome: Outcome, record: bool = False) -> None:
        self.outcome = outcome
        self.record = record
        self.latencies = array("d")
        self.stopped = False  # too many errors
        self.exhausted = False

    async def drive(self, slots: list[Slot], op: Op, seconds: float) -> None:
        began = time.perf_counter()
        deadline = began + seconds
        outcome, latencies, record = self.outcome, self.latencies, self.record

        async def loop(slot: Slot, index: int) -> None:
            clock = time.perf_counter
            while not self.stopped and (started := clock()) < deadline:
                try:
                    moved = await op(slot, index)
                except Exhausted:
                    if not self.exhausted:
                        self.exhausted = True
                        when = f"{clock() - began:.1f} s into {seconds:g} s" if record else "in the warm-up"
                        outcome.notes.append(f"ran out of objects {when}")
                    return
                except VerifyError as exc:
                    outcome.error(str(exc))
                except (OSError, ProtocolError, ValueError) as exc:
                    outcome.error(f"{type(exc).__name__}: {exc}")
                    slot.reset()
                else:
                    if record:
                        latencies.append(clock() - started)
                        outcome.ops += 1
                        outcome.bytes += moved
                    continue
                if outcome.errors >= MAX_ERRORS:
                    self.stopped = True

        tasks = [asyncio.ensure_future(loop(slot, i)) for i, slot in enumerate(slots)]
        done, pending = await asyncio.wait(tasks, timeout=seconds + HANG_GRACE)
        if pending:
            for task in pending:
                task.cancel()
            for slot in slots:
                slot.reset()
            outcome.error(f"{len(pending)} requests still unanswered {HANG_GRACE:.0f} s after the deadline")
        for task in done:
            if task.exception() is not None:
                outcome.error(f"{type(task.exception()).__name__}: {task.exception()}")


class RepeatedBlock:
    """Checks a streamed body against one block repeated, at memory speed."""

    def __init__(self, block: bytes) -> None:
        self.block = block
        self.position = 0
        self.mismatch: int | None = None  # offset of the first piece that differed

    def __call__(self, piece: bytes) -> None:
        size, i = len(self.block), 0
        while i < len(piece):
            offset = self.position % size
            take = min(size - offset, len(piece) - i)
            if self.mismatch is None and piece[i : i + take] != self.block[offset : offset + take]:
                self.mismatch = self.position
            i += take
            self.position += take


class Bench:
    """All workloads against one server; objects written by one workload are read by the next."""

    def __init__(
        self,
        s3: S3,
        server_pid: int,
        duration: float,
        warmup: float,
        seed: int = 1,
        list_keys: int = 10_000,
        tag: str = "",
    ) -> None:
        """`tag` goes into every key, so that load generators sharing a cluster never collide."""
        self.s3 = s3
        self.tag = tag
        self.server_pid = server_pid
        self.duration = duration
        self.warmup = warmup
        self.rng = random.Random(seed)
        self.list_keys = list_keys
        block = random.Random(seed).randbytes(64 * SMALL)
        self.small = [block[i * SMALL : (i + 1) * SMALL] for i in range(64)]
        self.small_md5 = [hashlib.md5(b).hexdigest() for b in self.small]
        self.medium = [random.Random(seed + i).randbytes(MIB) for i in range(8)]
        self.medium_md5 = [hashlib.md5(b).hexdigest() for b in self.medium]
        self.pool_small: list[tuple[str, int]] = []
        self.pool_medium: list[tuple[str, int]] = []
        self.rates: dict[str, float] = {}  # ops/s by workload, to size later preparations
        self.counter = 0
        self.buckets: set[str] = set()

    def next_key(self, prefix: str) -> str:
        self.counter += 1
        n = self.counter
        return f"{prefix}/{(n * 2654435761) & 0xFFFFFFFF:08x}-{self.tag}{n}"  # spread, unique

    async def bucket(self, name: str) -> str:
        if name not in self.buckets:
            slot = Slot(self.s3)
            response = await slot.call("PUT", name)
            slot.reset()
            if response.status not in (200, 409):
                raise VerifyError(f"CreateBucket {name}: HTTP {response.status} {response.body[:200]!r}")
            self.buckets.add(name)
        return name

    # the timed frame

    async def timed(self, name: str, concurrency: int, op: Op, signed_payload: bool = False) -> Outcome:
        outcome = Outcome(name, concurrency)
        slots = [Slot(self.s3, signed_payload) for _ in range(concurrency)]
        await asyncio.gather(*(slot.open() for slot in slots))
        warm = Phase(outcome)
        await warm.drive(slots, op, self.warmup)
        phase = Phase(outcome, record=True)
        server = proc.TreeCpu(self.server_pid)
        cpu, started = time.process_time(), time.perf_counter()
        if not warm.stopped:
            await phase.drive(slots, op, self.duration)
        outcome.seconds = time.perf_counter() - started
        outcome.client_cpu_s = time.process_time() - cpu
        outcome.server_cpu_s = server.seconds()
        for slot in slots:
            slot.reset()
        if phase.latencies:
            ordered = sorted(phase.latencies)
            outcome.p50_ms = percentile(ordered, 0.50) * 1000
            outcome.p99_ms = percentile(ordered, 0.99) * 1000
        return outcome

    async def fill(self, count: int, concurrency: int, put: Callable[[Slot, int], Awaitable[None]]) -> None:
        """Untimed preparation: `count` calls of put(slot, n) with `concurrency` in flight."""
        numbers = iter(range(count))
        slots = [Slot(self.s3) for _ in range(min(concurrency, count))]

        async def loop(slot: Slot) -> None:
            for n in numbers:
                await put(slot, n)
            slot.reset()

        await asyncio.gather(*(loop(slot) for slot in slots))

    # 4 KiB objects

    async def put_small(self, slot: Slot, bucket: str, key: str, index: int) -> None:
        response = await slot.call("PUT", bucket, key, body=self.small[index])
        expect_status(response, 200, what=f"PUT {key}")
        if etag_of(response) != self.small_md5[index]:
            raise VerifyError(f"PUT {key}: ETag {etag_of(response)!r} is not the body's MD5")

    async def get_small(self, slot: Slot, bucket: str, key: str, index: int) -> None:
        response = await slot.call("GET", bucket, key)
        expect_status(response, 200, what=f"GET {key}")
        if response.body != self.small[index]:
            raise VerifyError(f"GET {key}: {response.length} bytes differ from the {SMALL} PUT")

    async def head_small(self, slot: Slot, bucket: str, key: str) -> None:
        response = await slot.call("HEAD", bucket, key)
        expect_status(response, 200, what=f"HEAD {key}")
        if response.headers.get(b"content-length") != b"4096":
            raise VerifyError(f"HEAD {key}: Content-Length {response.headers.get(b'content-length')!r}")

    async def delete(self, slot: Slot, bucket: str, key: str) -> None:
        response = await slot.call("DELETE", bucket, key)
        expect_status(response, 204, 200, what=f"DELETE {key}")

    async def ensure_small(self, bucket: str, count: int) -> None:
        missing = count - len(self.pool_small)
        if missing > 0:

            async def put(slot: Slot, _n: int) -> None:
                key, index = self.next_key("o"), self.rng.randrange(64)
                await self.put_small(slot, bucket, key, index)
                self.pool_small.append((key, index))

            await self.fill(missing, 32, put)

    async def small_workload(self, verb: str, concurrency: int, signed: bool = False) -> Outcome:
        bucket = await self.bucket("bench")
        name = f"{verb.lower()}-4k-c{concurrency}{'-signed' if signed else ''}"
        pool, rng = self.pool_small, self.rng
        if verb in ("GET", "HEAD"):
            await self.ensure_small(bucket, 1000)
        elif verb == "DELETE":
            # enough objects for twice the fastest small-object rate seen so far (deletes often
            # outrun puts); a run that still runs dry ends early and says so
            fastest = max(
                (r for w, r in self.rates.items() if w.startswith(("put-4k", "delete-4k"))), default=0
            )
            needed = 2 * fastest * (self.duration + self.warmup)
            await self.ensure_small(bucket, int(min(max(needed, 500), 200_000)))
            rng.shuffle(pool)

        async def op(slot: Slot, _i: int) -> int:
            if verb == "PUT":
                key, index = self.next_key("o"), rng.randrange(64)
                await self.put_small(slot, bucket, key, index)
                pool.append((key, index))
                return SMALL
            if verb == "DELETE":
                if not pool:
                    raise Exhausted
                await self.delete(slot, bucket, pool.pop()[0])
                return 0
            key, index = pool[rng.randrange(len(pool))]
            if verb == "GET":
                await self.get_small(slot, bucket, key, index)
                return SMALL
            await self.head_small(slot, bucket, key)
            return 0

        outcome = await self.timed(name, concurrency, op, signed_payload=signed)
        self.rates[name] = outcome.ops_per_s
        return outcome

    # 1 MiB objects

    async def medium_workload(self, verb: str, concurrency: int) -> Outcome:
        bucket = await self.bucket("bench")
        pool, rng = self.pool_medium, self.rng

        async def put(slot: Slot, _i: int) -> int:
            key, index = self.next_key("m"), rng.randrange(len(self.medium))
            response = await slot.call("PUT", bucket, key, body=self.medium[index])
            expect_status(response, 200, what=f"PUT {key}")
            if etag_of(response) != self.medium_md5[index]:
                raise VerifyError(f"PUT {key}: ETag {etag_of(response)!r} is not the body's MD5")
            pool.append((key, index))
            return MIB

        async def get(slot: Slot, _i: int) -> int:
            key, index = pool[rng.randrange(len(pool))]
            response = await slot.call("GET", bucket, key)
            expect_status(response, 200, what=f"GET {key}")
            if response.body != self.medium[index]:
                raise VerifyError(f"GET {key}: {response.length} bytes differ from the {MIB} PUT")
            return MIB

        if verb == "GET" and len(pool) < 32:

            async def fill_one(slot: Slot, _n: int) -> None:
                await put(slot, 0)

            await self.fill(32 - len(pool), concurrency, fill_one)
        name = f"{verb.lower()}-1m-c{concurrency}"
        return await self.timed(name, concurrency, put if verb == "PUT" else get)

    # listing

    def list_key(self, n: int) -> str:
        """10 keys in each of 1,000 "directories": a delimiter listing rolls 10,000 keys into one page
        of 1,000 common prefixes; a plain listing walks 10 pages of 1,000 keys."""
        return f"dir{n // 10:04d}/obj{n % 10}"

    async def ensure_listing(self) -> str:
        bucket = "bench-list"
        if bucket not in self.buckets:
            await self.bucket(bucket)
            body = self.small[0][:64]

            async def put(slot: Slot, n: int) -> None:
                response = await slot.call("PUT", bucket, self.list_key(n), body=body)
                expect_status(response, 200, what=f"PUT {self.list_key(n)}")

            await self.fill(self.list_keys, 64, put)
        return bucket

    async def list_workload(self, delimiter: bool, concurrency: int = 4) -> Outcome:
        bucket = await self.ensure_listing()
        pages = -(-self.list_keys // 1000)
        dirs = -(-self.list_keys // 10)
        tokens: list[tuple[int, str]] = [(0, "")] * concurrency  # per slot: (page, continuation token)
        deviations: set[str] = set()

        async def op(slot: Slot, index: int) -> int:
            params = {"list-type": "2", "max-keys": "1000"}
            if delimiter:
                params["delimiter"] = "/"
                response = await slot.call("GET", bucket, query=canonical_query(params))
                expect_status(response, 200, what="ListObjectsV2 delimiter=/")
                _token, deviation = check_listing(
                    response.body, keys=0, prefixes=min(dirs, 1000), truncated=dirs > 1000, first="dir0000/"
                )
                if deviation:
                    deviations.add(deviation)
                return 0
            page, token = tokens[index]
            if token:
                params["continuation-token"] = token
            response = await slot.call("GET", bucket, query=canonical_query(params))
            expect_status(response, 200, what=f"ListObjectsV2 page {page}")
            last = page == pages - 1
            keys = self.list_keys - 1000 * page if last else 1000
            token, deviation = check_listing(
                response.body, keys=keys, prefixes=0, truncated=not last, first=self.list_key(page * 1000)
            )
            if deviation:
                deviations.add(deviation)
            tokens[index] = (0, "") if last else (page + 1, token)
            return 0

        name = f"list-1000-{'delimiter' if delimiter else 'flat'}-c{concurrency}"
        outcome = await self.timed(name, concurrency, op)
        outcome.notes.extend(sorted(deviations))
        return outcome

    # mixed, after `warp mixed`

    async def mixed_workload(self, concurrency: int = 32, objects: int = 2500) -> Outcome:
        bucket = await self.bucket("bench-mixed")
        owned: list[list[tuple[str, int]]] = [[] for _ in range(concurrency)]  # each slot its own keys
        rng = self.rng

        async def put(slot: Slot, n: int) -> None:
            key, index = self.next_key("x"), rng.randrange(64)
            await self.put_small(slot, bucket, key, index)
            owned[n % concurrency].append((key, index))

        await self.fill(objects, 32, put)

        async def op(slot: Slot, i: int) -> int:
            mine = owned[i]
            roll = rng.random()
            if roll < 0.15 or not mine:  # PUT 15 %
                key, index = self.next_key("x"), rng.randrange(64)
                await self.put_small(slot, bucket, key, index)
                mine.append((key, index))
                return SMALL
            if roll < 0.25:  # DELETE 10 %
                key, _index = mine.pop(rng.randrange(len(mine)))
                await self.delete(slot, bucket, key)
                return 0
            key, index = mine[rng.randrange(len(mine))]
            if roll < 0.70:  # GET 45 %
                await self.get_small(slot, bucket, key, index)
                return SMALL
            await self.head_small(slot, bucket, key)  # HEAD 30 %
            return 0

        return await self.timed(f"mixed-4k-c{concurrency}", concurrency, op)

    # one large object, streamed

    async def large_workload(self, size_mib: int) -> list[Outcome]:
        """PUT then GET one object of `size_mib` MiB made of a repeated random 1 MiB block: MB/s, peak
        RSS of the server tree (its VmHWM reset before each direction); the PUT's ETag is checked
        against the MD5, the GET byte for byte against the block (an MD5 here would cap the GET at
        the client's MD5 speed)."""
        bucket = await self.bucket("bench-large")
        size, block = size_mib * MIB, self.medium[0]
        expected = hashlib.md5()
        for offset in range(0, size, MIB):
            expected.update(block[: min(MIB, size - offset)])
        digest, key = expected.hexdigest(), f"large-{self.tag}{size_mib}m"
        put_outcome, get_outcome = Outcome(f"put-{size_mib}m", 1), Outcome(f"get-{size_mib}m", 1)
        slot = Slot(self.s3)
        await slot.open()

        async def once(outcome: Outcome, call: Callable[[], Awaitable[None]]) -> None:
            if not proc.reset_peak_rss(self.server_pid):
                outcome.notes.append("VmHWM could not be reset: peak RSS covers the run so far")
            server = proc.TreeCpu(self.server_pid)
            cpu, started = time.process_time(), time.perf_counter()
            try:
                await asyncio.wait_for(call(), timeout=max(600.0, size_mib * 2.0))
            except VerifyError as exc:
                outcome.error(str(exc))
            except (OSError, ProtocolError, ValueError, TimeoutError) as exc:
                outcome.error(f"{type(exc).__name__}: {exc}")
                slot.reset()
            else:
                outcome.ops, outcome.bytes = 1, size
            outcome.seconds = time.perf_counter() - started
            outcome.client_cpu_s = time.process_time() - cpu
            outcome.server_cpu_s = server.seconds()
            outcome.p50_ms = outcome.p99_ms = outcome.seconds * 1000
            outcome.peak_rss_max_mib, outcome.peak_rss_sum_mib = proc.peak_rss_mib(self.server_pid)

        async def upload() -> None:
            response = await slot.stream_put(bucket, key, size, block)
            expect_status(response, 200, what=f"PUT {key}")
            if etag_of(response) != digest:
                raise VerifyError(f"PUT {key}: ETag {etag_of(response)!r}, expected the MD5 {digest}")

        async def download() -> None:
            check = RepeatedBlock(block)
            response = await slot.call("GET", bucket, key, sink=check)
            expect_status(response, 200, what=f"GET {key}")
            if response.length != size or check.mismatch is not None:
                raise VerifyError(f"GET {key}: {response.length} bytes, first wrong byte at {check.mismatch}")

        await once(put_outcome, upload)
        if not put_outcome.errors:
            await once(get_outcome, download)
            await self.delete(slot, bucket, key)
        else:
            get_outcome.error("skipped: the PUT failed")
        slot.reset()
        return [put_outcome, get_outcome]

    # the bare aiohttp ceiling

    async def bare_get(self, concurrency: int = 32) -> Outcome:
        """GETs against `bench.ceilings`' tiny app, which answers every GET with the same 4 KiB."""
        from bench.ceilings import BARE_BODY

        async def op(slot: Slot, _i: int) -> int:
            response = await slot.call("GET", "bare", "x")
            expect_status(response, 200, what="bare GET")
            if response.body != BARE_BODY:
                raise VerifyError(f"bare GET: {response.length} bytes differ")
            return SMALL

        return await self.timed(f"bare-get-4k-c{concurrency}", concurrency, op)


def check_listing(
    body: bytes, *, keys: int, prefixes: int, truncated: bool, first: str
) -> tuple[str, str | None]:
    """Check a ListObjectsV2 page against what the bucket must give: the keys and common prefixes it
    holds (counted), the first of them, IsTruncated. Returns the next continuation token and, when
    KeyCount disagrees with the entries while they are right, that deviation from AWS (who counts
    keys and common prefixes) as a note rather than an error: the listing itself is correct."""
    got_keys, got_prefixes = body.count(b"<Key>"), body.count(b"<CommonPrefixes>")
    match = re.search(rb"<KeyCount>(\d+)</KeyCount>", body)
    key_count = int(match.group(1)) if match else None
    is_truncated = b"<IsTruncated>true</IsTruncated>" in body
    problems = []
    if (got_keys, got_prefixes) != (keys, prefixes):
        problems.append(f"{got_keys} keys and {got_prefixes} prefixes, expected {keys} and {prefixes}")
    if is_truncated != truncated:
        problems.append(f"IsTruncated {is_truncated}, expected {truncated}")
    tag = b"<Key>" if keys else b"<Prefix>"
    start = body.find(tag, body.find(b"<Contents>" if keys else b"<CommonPrefixes>"))
    found = body[start + len(tag) : body.find(b"<", start + len(tag))].decode() if start >= 0 else None
    if found is None or unescape(found) != first:
        problems.append(f"first entry {found!r}, expected {first!r}")
    if problems:
        raise VerifyError("ListObjectsV2: " + "; ".join(problems))
    token = re.search(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
    if truncated and not token:
        raise VerifyError("ListObjectsV2: truncated page without NextContinuationToken")
    deviation = None
    if key_count != keys + prefixes:
        shown = "no KeyCount" if key_count is None else f"KeyCount {key_count}"
        deviation = f"{shown} for {keys} keys and {prefixes} common prefixes"
    return (unescape(token.group(1).decode()) if token else ""), deviation


# --------------------------------------------------------------------------------------------------------
# the workload table and the command line
# --------------------------------------------------------------------------------------------------------

SMALL_WORKLOADS = {
    f"{verb.lower()}-4k-c{c}": (verb, c) for verb in ("PUT", "GET", "HEAD", "DELETE") for c in (1, 32)
}
# in the order they run: writes before the reads and deletes that use their objects
WORKLOADS = [
    "put-4k-c1", "put-4k-c32", "put-4k-c32-signed", "get-4k-c1", "get-4k-c32", "head-4k-c1",
    "head-4k-c32", "delete-4k-c1", "delete-4k-c32", "put-1m-c8", "get-1m-c8",
    "list-1000-flat-c4", "list-1000-delimiter-c4", "mixed-4k-c32", "large",
]  # fmt: skip
TITLES = {
    "put-4k-c1": "PUT 4 KiB, c=1",
    "put-4k-c32": "PUT 4 KiB, c=32",
    "put-4k-c32-signed": "PUT 4 KiB, c=32, signed payload",
    "get-4k-c1": "GET 4 KiB, c=1",
    "get-4k-c32": "GET 4 KiB, c=32",
    "head-4k-c1": "HEAD 4 KiB, c=1",
    "head-4k-c32": "HEAD 4 KiB, c=32",
    "delete-4k-c1": "DELETE 4 KiB, c=1",
    "delete-4k-c32": "DELETE 4 KiB, c=32",
    "put-1m-c8": "PUT 1 MiB, c=8",
    "get-1m-c8": "GET 1 MiB, c=8",
    "list-1000-flat-c4": "ListObjectsV2, 1,000 keys a page, c=4",
    "list-1000-delimiter-c4": "ListObjectsV2, delimiter /, 1,000 prefixes a page, c=4",
    "mixed-4k-c32": "mixed 4 KiB (GET 45 %, PUT 15 %, HEAD 30 %, DELETE 10 %), c=32",
    "bare-get-4k-c32": "bare aiohttp GET 4 KiB, c=32",
}


async def run_one(bench: Bench, name: str, large_sizes: list[int]) -> list[Outcome]:
    """The outcomes of one workload (the large one gives a PUT and a GET per size)."""
    if name == "large":
        return [o for size in large_sizes for o in await bench.large_workload(size)]
    if name == "put-4k-c32-signed":
        return [await bench.small_workload("PUT", 32, signed=True)]
    if name in SMALL_WORKLOADS:
        return [await bench.small_workload(*SMALL_WORKLOADS[name])]
    if name in ("put-1m-c8", "get-1m-c8"):
        return [await bench.medium_workload(name[:3].upper(), 8)]
    if name.startswith("list-"):
        return [await bench.list_workload(delimiter="delimiter" in name)]
    if name == "mixed-4k-c32":
        return [await bench.mixed_workload()]
    raise ValueError(f"unknown workload {name!r}")


async def run_workloads(bench: Bench, workloads: list[str], large_sizes: list[int]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for name in WORKLOADS:
        if name not in workloads:
            continue
        print(f"  {name} …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            outcomes.extend(await run_one(bench, name, large_sizes))
        except VerifyError as exc:
            # A server that fails a workload's preparation (say, a PUT filling the listed bucket)
            # gets that workload counted as an error; the workloads after it still run.
            failed = Outcome(name, 0)
            failed.error(f"preparation failed: {exc}")
            outcomes.append(failed)
        last, seconds = outcomes[-1], max(outcomes[-1].seconds, 1e-9)
        print(
            f"    {last.workload}: {last.ops_per_s:,.0f} ops/s, {last.bytes / seconds / 1e6:,.1f} MB/s,"
            f" client CPU {100 * last.client_cpu_s / seconds:.0f} %"
            f" ({time.perf_counter() - started:.1f} s with preparation)"
            + (f", {last.errors} errors: {last.error_samples[:1]}" if last.errors else ""),
            file=sys.stderr,
            flush=True,
        )
    if "bare-get-4k-c32" in workloads:
        outcomes.append(await bench.bare_get())
    return outcomes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--access-key", default=os.environ.get("BENCH_ACCESS_KEY", ""))
    parser.add_argument("--secret-key", default=os.environ.get("BENCH_SECRET_KEY", ""))
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--server-pid", type=int, required=True, help="root of the server's process tree")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, of: %(default)s")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per workload")
    parser.add_argument("--warmup", type=float, default=None, help="default: a quarter of --duration, ≤ 1 s")
    parser.add_argument("--large-sizes", default="256,1024", help="MiB, comma-separated")
    parser.add_argument("--list-keys", type=int, default=10_000, help="objects in the listed bucket")
    parser.add_argument("--tag", default="", help="in every key (several load generators, one cluster)")
    args = parser.parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS) - {"bare-get-4k-c32"}
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    warmup = min(1.0, args.duration / 4) if args.warmup is None else args.warmup
    sizes = [int(s) for s in args.large_sizes.split(",") if s]

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        uvloop = None

    async def go() -> list[Outcome]:
        s3 = S3(args.endpoint, args.access_key, args.secret_key, args.region)
        bench = Bench(s3, args.server_pid, args.duration, warmup, list_keys=args.list_keys, tag=args.tag)
        return await run_workloads(bench, workloads, sizes)

    outcomes = uvloop.run(go()) if uvloop else asyncio.run(go())
    errors = sum(o.errors for o in outcomes)
    json.dump({"outcomes": [o.as_json() for o in outcomes], "errors": errors}, sys.stdout)
    sys.stdout.write("\n")
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
