"""`s3server serve`, `console`, `scrub` and `admin …`: flags, logging, the event loop, signals, worker
processes."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import logging
import os
import shutil
import ssl
import sys
from collections.abc import Sequence

from s3server import __version__, admin_cli, kms_cli, nodes_cli
from s3server.app import GATEWAY_KEY, build_app, prepare
from s3server.config import OPTIONS, Settings, add_arguments, resolve
from s3server.metadata.backends import describe, metadata_stores, migrate
from s3server.metadata.base import MetadataError
from s3server.runner import serve_until_signalled
from s3server.tls import ssl_context
from s3server.workers import check_port_free, run_workers, worker_count

log = logging.getLogger("s3server")
M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)

METRICS_DIR = "metrics-multiproc"  # under the data dir, with --workers N > 1
SCRUB_OPTIONS = ("data_dir", "drives", "replicas", "log_level")
# `s3server console` alone: where it listens and which S3 endpoint it talks to.
CONSOLE_OPTIONS = ("address", "console_port", "endpoint", "public_endpoint", "region", "log_level")
SERVE_OPTIONS = tuple(opt.name for opt in OPTIONS if opt.name != "endpoint" and not opt.node_only)
# `s3server storage-node`: where it listens, its drives, the secret gateways sign with.
NODE_OPTIONS = (
    "address",
    "node_port",
    "node_id",
    "data_dir",
    "drives",
    "replicas",
    "cluster_secret",
    "reaper_interval",
    "reaper_grace",
    "shutdown_timeout",
    "log_level",
)
# What `s3server admin …` commands read: where the metadata lives, and how much to log.
ADMIN_OPTIONS = ("data_dir", "metadata", "log_level")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3server", description="An S3-compatible object store.")
    parser.add_argument("--version", action="version", version=f"s3server {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the S3 API server")
    add_arguments(serve, only=SERVE_OPTIONS)
    console_parser = commands.add_parser(
        "console",
        help="run the web console alone, against any s3server",
        description="Serve the web console on --console-port (on --address), signing requests to the "
        "S3 endpoint at --endpoint on behalf of whoever signs in.",
    )
    add_arguments(console_parser, only=CONSOLE_OPTIONS)
    scrub = commands.add_parser(
        "scrub",
        help="verify every replica against its checksums and repair from good copies",
        description="Check every blob on the drives (of a stopped or running server), rewrite damaged "
        "replicas from good copies, and print a summary; exit status 1 if some blob is unrecoverable.",
    )
    add_arguments(scrub, only=SCRUB_OPTIONS)
    scrub.add_argument("--no-repair", action="store_true", help="only check and report")
    scrub.add_argument(
        "--progress", action="store_true", help="show the progress bar even when not on a terminal"
    )
    node = commands.add_parser(
        "storage-node",
        help="serve this machine's drives to gateways (started with --storage-nodes)",
        description="Serve blob reads, writes, deletes and listings from --drive directories over "
        "HTTP, to gateways that sign their requests with the cluster secret. --replicas here counts "
        "copies on this node's own drives (default 1: gateways place copies on distinct nodes).",
    )
    add_arguments(node, only=NODE_OPTIONS)
    admin = commands.add_parser("admin", help="administrative commands")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    migrate_parser = admin_commands.add_parser(
        "migrate", help="bring the metadata and identity schemas up to date (every start does this too)"
    )
    add_arguments(migrate_parser, only=ADMIN_OPTIONS)
    admin_cli.add_parsers(admin_commands)
    nodes_cli.add_parsers(admin_commands, ADMIN_OPTIONS)
    kms_cli.add_parsers(admin_commands, ADMIN_OPTIONS)
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _limit_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core), and pages
    freed in one are never reused by another: with dozens of I/O threads a server's resident memory
    creeps up by tens of MiB. Two arenas are plenty when the threads mostly wait on disks."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _use_uvloop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # uvloop is optional (not on Windows)
        pass


def _serve_one(
    settings: Settings,
    context: ssl.SSLContext | None,
    *,
    reuse_port: bool,
    housekeeping: bool,
    console: bool = False,
) -> int:
    """Run one server process until SIGTERM/SIGINT (the only one, or one of several workers); with
    `console`, the web console runs in it too."""
    _limit_malloc_arenas()
    _use_uvloop()
    app = build_app(settings, housekeeping=housekeeping)
    if console:
        from ui.server import attach_console

        attach_console(app, settings, context)
    asyncio.run(
        serve_until_signalled(
            app,
            host=settings.address,
            port=settings.port,
            ssl_context=context,
            shutdown_timeout=settings.shutdown_timeout,
            reuse_port=reuse_port,
            in_flight=lambda: app[GATEWAY_KEY].in_flight,
            handler=app[GATEWAY_KEY].handle,
        )
    )
    return 0


def serve(settings: Settings) -> int:
    _configure_logging(settings.log_level)
    try:
        workers = worker_count(settings.workers)
        metadata_stores(settings)  # a malformed --metadata fails here, before anything starts
        if settings.storage_nodes:
            from s3server.node.remote import build_remote_store

            build_remote_store(settings)
    except ValueError as exc:
        print(f"s3server: {exc}", file=sys.stderr)
        return 2
    context, note = ssl_context(settings)
    scheme = "https" if context is not None else "http"
    with_console = not settings.no_console
    if with_console:
        from ui.server import console_url

        if settings.console_port == settings.port:
            print("s3server: --console-port must differ from --port (or pass --no-console)", file=sys.stderr)
            return 2
        try:
            check_port_free(settings.address, settings.console_port)
        except OSError as exc:
            print(
                f"s3server: cannot start the console on port {settings.console_port}: {exc} "
                "(choose another with --console-port, or pass --no-console)",
                file=sys.stderr,
            )
            return 1
    print(
        f"s3server {__version__}: S3 API on {scheme}://{settings.address}:{settings.port}; "
        + (f"console on {console_url(settings, context is not None)}; " if with_console else "")
        + f"{workers} worker{'s' if workers > 1 else ''}; metadata: {describe(settings)}"
        + (f"; storage nodes: {', '.join(settings.storage_nodes)}" if settings.storage_nodes else ""),
        flush=True,
    )
    if note:
        print(note, flush=True)
    if workers == 1:
        return _serve_one(settings, context, reuse_port=False, housekeeping=True, console=with_console)
    # Once, before forking: migrations, root credentials (generated and printed at most once), and a
    # port that nothing else listens on (SO_REUSEPORT would otherwise share it silently).
    try:
        asyncio.run(prepare(settings))
        check_port_free(settings.address, settings.port)
    except (MetadataError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    _multiprocess_metrics(settings)
    # Worker 0 also runs the console (sessions live in one process's memory).
    return run_workers(
        lambda index: _serve_one(
            settings, context, reuse_port=True, housekeeping=index == 0, console=with_console and index == 0
        ),
        workers,
        settings.shutdown_timeout,
    )


def _multiprocess_metrics(settings: Settings) -> None:
    """Workers count requests in files that /metrics sums (prometheus-client's multiprocess mode): a
    fresh directory under the data dir, unless the operator set PROMETHEUS_MULTIPROC_DIR already."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    path = settings.data_path / METRICS_DIR
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def admin(args: argparse.Namespace) -> int:
    """`s3server admin migrate`, `admin nodes …` and `admin kms …` (on the stores directly), and `admin
    user|key|lifecycle …` (through a running server's admin API)."""
    if args.admin_command in ("user", "key", "lifecycle"):
        return admin_cli.run(args)
    settings = resolve(args)
    _configure_logging(settings.log_level)
    if args.admin_command == "nodes":
        return nodes_cli.run(settings, args)
    if args.admin_command == "kms":
        return kms_cli.run(settings, args)
    if args.admin_command == "migrate":
        try:
            versions = asyncio.run(migrate(settings))
        except ValueError as exc:
            print(f"s3server: {exc}", file=sys.stderr)
            return 2
        except MetadataError as exc:
            print(f"s3server: migration failed: {exc}", file=sys.stderr)
            return 1
        for found in versions:
            print(f"{found.component} schema: version {found.version} ({found.location})")
        return 0
    return 2


def console(settings: Settings) -> int:
    """`s3server console --endpoint URL`: the web console alone, until SIGTERM/SIGINT."""
    from ui.server import build_standalone, console_url

    _configure_logging(settings.log_level)
    try:
        app = build_standalone(settings)
    except ValueError as exc:
        print(f"s3server: {exc}", file=sys.stderr)
        return 2
    print(
        f"s3server {__version__}: console on {console_url(settings, False)} for the S3 endpoint "
        f"{settings.endpoint}",
        flush=True,
    )
    _use_uvloop()
    try:
        asyncio.run(serve_until_signalled(app, host=settings.address, port=settings.console_port))
    except OSError as exc:
        print(f"s3server: cannot start the console: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(resolve(args))
    if args.command == "console":
        return console(resolve(args))
    if args.command == "admin":
        return admin(args)
    if args.command == "storage-node":
        from s3server.node.server import serve_node

        settings = resolve(args)
        _configure_logging(settings.log_level)
        _limit_malloc_arenas()
        _use_uvloop()
        return serve_node(settings)
    if args.command == "scrub":
        from s3server.storage.scrub import run_scrub  # tqdm is only needed here

        settings = resolve(args)
        _configure_logging(settings.log_level)
        return run_scrub(settings, repair=not args.no_repair, show_progress=args.progress or None)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
