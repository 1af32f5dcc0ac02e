"""Encryption at rest side by side: PUT and GET of one large object and of many 4 KiB objects, unencrypted,
SSE-S3 and SSE-C, against one fresh `s3server serve` (one worker), in one run.

Modes alternate round by round, so drift in the machine's load falls on all of them alike; the report
gives each mode's best round and its rate as a share of the unencrypted one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import server as bench_server

CUSTOMER_KEY = hashlib.sha256(b"s3server bench customer key").digest()
MODES: dict[str, dict[str, object]] = {
    "none": {},
    "SSE-S3": {"ServerSideEncryption": "AES256"},
    "SSE-C": {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": CUSTOMER_KEY},
}


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sse", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256, help="the large object's size")
    parser.add_argument("--small", type=int, default=300, help="4 KiB objects per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "large.bin"
        with open(src, "wb") as fh:
            block = os.urandom(1024 * 1024)
            for _ in range(args.size_mib):
                fh.write(block)
        small = os.urandom(4096)
        # SSE-C keys over plain HTTP: a benchmark on loopback
        with bench_server.running(Path(tmp) / "data", ["--allow-sse-c-over-http"]) as server:
            s3 = server.boto3_client(retries={"max_attempts": 1})
            s3.create_bucket(Bucket="bench")
            best: dict[tuple[str, str], float] = {}

            def note(what: str, mode: str, rate: float) -> None:
                best[(what, mode)] = max(best.get((what, mode), 0.0), rate)

            for round_no in range(args.rounds):
                for mode, extra in MODES.items():
                    # GET names only a customer key (SSE-S3 objects need nothing to be read).
                    read = {} if mode == "SSE-S3" else extra

                    def put_large(mode: str = mode, extra: dict[str, object] = extra) -> None:
                        with open(src, "rb") as fh:
                            s3.put_object(Bucket="bench", Key=f"large-{mode}", Body=fh, **extra)

                    def get_large(mode: str = mode, read: dict[str, object] = read) -> None:
                        body = s3.get_object(Bucket="bench", Key=f"large-{mode}", **read)["Body"]
                        got = sum(len(p) for p in iter(lambda: body.read(1024 * 1024), b""))
                        assert got == size, "short read"

                    def put_small(mode: str = mode, extra: dict[str, object] = extra) -> None:
                        for i in range(args.small):
                            s3.put_object(Bucket="bench", Key=f"small-{mode}-{i}", Body=small, **extra)

                    def get_small(mode: str = mode, read: dict[str, object] = read) -> None:
                        for i in range(args.small):
                            s3.get_object(Bucket="bench", Key=f"small-{mode}-{i}", **read)["Body"].read()

                    note("PUT large MB/s", mode, args.size_mib / timed(put_large))
                    note("GET large MB/s", mode, args.size_mib / timed(get_large))
                    note("PUT 4 KiB ops/s", mode, args.small / timed(put_small))
                    note("GET 4 KiB ops/s", mode, args.small / timed(get_small))
                print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{args.size_mib} MiB object and {args.small} x 4 KiB objects, best of {args.rounds} rounds")
    print(f"{'':18}" + "".join(f"{mode:>18}" for mode in MODES))
    for what in ("PUT large MB/s", "GET large MB/s", "PUT 4 KiB ops/s", "GET 4 KiB ops/s"):
        base = best[(what, "none")]
        cells = [f"{best[(what, m)]:8.0f} ({best[(what, m)] / base:4.0%})" for m in MODES]
        print(f"{what:18}" + "".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
