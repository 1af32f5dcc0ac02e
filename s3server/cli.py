"""`s3server serve` (and later admin/scrub subcommands): flags, logging, the event loop, signals."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from s3server import __version__
from s3server.app import GATEWAY_KEY, build_app
from s3server.config import Settings, add_arguments, resolve
from s3server.runner import serve_until_signalled
from s3server.tls import ssl_context


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3server", description="An S3-compatible object store.")
    parser.add_argument("--version", action="version", version=f"s3server {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the S3 API server")
    add_arguments(serve)
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def serve(settings: Settings) -> int:
    _configure_logging(settings.log_level)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # uvloop is optional (not on Windows)
        pass
    context, note = ssl_context(settings)
    app = build_app(settings)
    scheme = "https" if context is not None else "http"
    print(f"s3server {__version__}: S3 API on {scheme}://{settings.address}:{settings.port}", flush=True)
    if note:
        print(note, flush=True)
    asyncio.run(
        serve_until_signalled(
            app,
            host=settings.address,
            port=settings.port,
            ssl_context=context,
            shutdown_timeout=settings.shutdown_timeout,
            in_flight=lambda: app[GATEWAY_KEY].in_flight,
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(resolve(args))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
