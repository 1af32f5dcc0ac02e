"""Running the console: next to the S3 API inside `s3server serve`, or alone (`s3server console`).

Inside `serve` the console is a second aiohttp runner on the same event loop, started after the S3
layers open and stopped before they close. It reaches the S3 API over loopback HTTP(S) like any
other client, and serves HTTPS itself when the S3 API does (same certificate).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from s3server.config import Settings
from ui.app import ConsoleConfig, build_console
from ui.client import Endpoint
from ui.routes import ROUTES

log = logging.getLogger("s3server.console")

WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def _host_for_url(host: str) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def loopback_endpoint(settings: Settings, tls: bool) -> str:
    """The URL at which this process's own S3 API answers."""
    host = WILDCARDS.get(settings.address, settings.address)
    return f"{'https' if tls else 'http'}://{_host_for_url(host)}:{settings.port}"


def own_certificate(settings: Settings) -> Path | None:
    if settings.tls_cert:
        return Path(settings.tls_cert)
    if settings.tls == "auto":
        from s3server.tls import CERT_FILE

        return settings.data_path / "tls" / CERT_FILE
    return None


def trust_own_certificate(cert: Path) -> ssl.SSLContext:
    """Client context for the loopback connection: trust exactly our certificate (self-signed or a
    leaf of some chain), and skip the host-name check, as the address is our own loopback."""
    context = ssl.create_default_context(cafile=str(cert))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.check_hostname = False
    return context


def console_url(settings: Settings, tls: bool) -> str:
    return f"{'https' if tls else 'http'}://{_host_for_url(settings.address)}:{settings.console_port}"


def attach_console(app: web.Application, settings: Settings, server_ssl: ssl.SSLContext | None) -> None:
    """Serve the console on --console-port for as long as `app` (the S3 application) runs."""
    tls = server_ssl is not None
    cert = own_certificate(settings) if tls else None

    async def console(_app: web.Application) -> AsyncIterator[None]:
        ep = Endpoint(
            loopback_endpoint(settings, tls),
            region=settings.region,
            ssl_context=trust_own_certificate(cert) if cert is not None else None,
        )
        cfg = ConsoleConfig(
            endpoint=ep, public_endpoint=settings.public_endpoint, same_host_port=settings.port
        )
        runner = web.AppRunner(build_console(cfg, ROUTES), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, settings.address, settings.console_port, ssl_context=server_ssl)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        log.info("console on %s", console_url(settings, tls))
        yield
        await runner.cleanup()

    app.cleanup_ctx.append(console)


def build_standalone(settings: Settings) -> web.Application:
    """The console alone, for `s3server console --endpoint URL`."""
    ep = Endpoint(settings.endpoint, region=settings.region)
    return build_console(ConsoleConfig(endpoint=ep, public_endpoint=settings.public_endpoint), ROUTES)
