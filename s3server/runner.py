"""Serve an aiohttp application until SIGTERM/SIGINT, then let in-flight requests finish.

aiohttp's own shutdown marks every connection closed before it waits for handlers, and a closed
connection drops the rest of a request body still arriving, so an upload in flight would hang. Here a
signal stops the listening sockets, requests in flight run to completion (bounded by the shutdown
timeout), and only then does aiohttp's cleanup close connections and the stores.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable

from aiohttp import web, web_protocol

from s3server.gateway.protocol import Handler, S3AppRunner

log = logging.getLogger("s3server")


def serving_stack(loop: asyncio.AbstractEventLoop) -> str:
    """Which HTTP parser and event loop this process serves with: aiohttp silently falls back to its
    pure-Python parser (no C extension, or AIOHTTP_NO_EXTENSIONS set) and the loop to asyncio's own,
    either of which costs small requests much of their speed, so the start-up log says which."""
    parser = web_protocol.HttpRequestParser.__module__
    kind = "Python" if parser == "aiohttp.http_parser" else "C"
    module = type(loop).__module__
    event_loop = "uvloop" if module.startswith("uvloop") else f"asyncio ({type(loop).__name__})"
    return f"http parser: {kind} ({parser}), event loop: {event_loop}"


async def serve_until_signalled(
    app: web.Application,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    ssl_context: ssl.SSLContext | None = None,
    shutdown_timeout: float = 60.0,
    reuse_port: bool = False,
    in_flight: Callable[[], int] = lambda: 0,
    handler: Handler | None = None,
) -> None:
    """Listen on host:port (or an already bound socket) until a signal; then drain and clean up.
    `handler`: the one handler of every request, in place of the application's router."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = S3AppRunner(
        app, handler=handler, access_log=None, shutdown_timeout=shutdown_timeout, handle_signals=False
    )
    await runner.setup()
    try:
        site: web.BaseSite
        if sock is not None:
            site = web.SockSite(runner, sock, ssl_context=ssl_context)
        else:
            site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_port=reuse_port or None)
        await site.start()
        log.info("process %d serving; %s", os.getpid(), serving_stack(loop))
        await stop.wait()
        for running_site in list(runner.sites):
            await running_site.stop()
        deadline = time.monotonic() + shutdown_timeout
        while in_flight() > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
