"""The two ceilings `python -m bench compare` prints under its table, measured on the server's core.

- **bare aiohttp**: a tiny `aiohttp.web` app (uvloop, no access log, no middleware) answering every GET
  with the same 4 KiB, driven by the same load generator. No aiohttp server, s3server included, can
  answer more small requests per second on that core.
- **MD5 + write + fsync**: hash and write N MiB in 1 MiB pieces to a file in the bench data directory,
  then fsync. A durable single PUT of a large object must do at least that much, so it bounds its MB/s.

Each runs as its own process (`python -m bench.ceilings bare-app|disk …`), pinned by the caller.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

BARE_BODY = bytes(range(256)) * 16  # 4 KiB the load generator knows


def serve_bare(port: int) -> None:
    import uvloop
    from aiohttp import web

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=BARE_BODY, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", answer)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def disk_mb_per_s(directory: Path, mib: int) -> float:
    """MD5 + write + fsync of `mib` MiB in 1 MiB pieces, in MB/s (10^6 bytes per second)."""
    block = os.urandom(1024 * 1024)
    path = directory / f"ceiling-{os.getpid()}.bin"
    md5 = hashlib.md5()
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(mib):
            md5.update(block)
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - started
    path.unlink()
    return mib * 1024 * 1024 / seconds / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    bare = sub.add_parser("bare-app", help="serve the bare aiohttp app on 127.0.0.1:PORT")
    bare.add_argument("--port", type=int, required=True)
    disk = sub.add_parser("disk", help="print {'mb_per_s': …} for MD5 + write + fsync")
    disk.add_argument("--dir", type=Path, required=True)
    disk.add_argument("--mib", type=int, default=256)
    args = parser.parse_args(argv)
    if args.what == "bare-app":
        serve_bare(args.port)
    else:
        print(json.dumps({"mb_per_s": disk_mb_per_s(args.dir, args.mib), "mib": args.mib}))


if __name__ == "__main__":
    main()
