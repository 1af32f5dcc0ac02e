"""Builds the aiohttp Application: opens the layers, wires them into the gateway, closes them on exit."""

from __future__ import annotations

import json
import logging
import os
import secrets
import string
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from s3server.config import Settings
from s3server.faults import Faults, FaultyMetadataStore
from s3server.gateway.server import Gateway
from s3server.identity.base import IdentityStoreBase
from s3server.identity.keys import Keys, MasterKey
from s3server.identity.kms import BuiltinKeyService
from s3server.identity.secrets import identity_material
from s3server.lifecycle import LifecycleWorker
from s3server.metadata.backends import metadata_stores
from s3server.metadata.base import MetadataStore
from s3server.node.client import parse_nodes
from s3server.node.cluster import ClusterReaper, NodeGauges, ReplicaRepair
from s3server.node.remote import RemoteBlobStore, build_remote_store
from s3server.ops.admin import AdminApi
from s3server.ops.gauges import StorageGauges
from s3server.ops.metrics import Metrics
from s3server.ops.routes import ADMIN_ROUTES
from s3server.reaper import BlobReaper, Pass, Reaper, UploadReaper
from s3server.s3.context import Services
from s3server.saga import Saga
from s3server.storage import build_blob_store
from s3server.storage.drives import Drive
from s3server.storage.replicated import ReplicatedBlobStore

log = logging.getLogger("s3server")

ROOT_CREDENTIALS_FILE = "root-credentials.json"
IO_THREADS = 32  # disk writes block in fsync; enough threads that concurrent PUTs fsync in parallel
SERVICES_KEY = web.AppKey("services", Services)
GATEWAY_KEY = web.AppKey("gateway", Gateway)


def root_credentials(settings: Settings) -> tuple[str, str, bool]:
    """Root access key and secret: from the environment, else generated once and kept in the data dir.

    Returns (access_key, secret, generated_now).
    """
    if settings.root_user and settings.root_password:
        return settings.root_user, settings.root_password, False
    path = settings.data_path / ROOT_CREDENTIALS_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        return stored["access_key"], stored["secret_key"], False
    alphabet = string.ascii_uppercase + string.digits
    access_key = "AK" + "".join(secrets.choice(alphabet) for _ in range(18))
    secret = secrets.token_urlsafe(30)[:40]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"access_key": access_key, "secret_key": secret}, fh)
    return access_key, secret, True


async def open_services(settings: Settings, faults: Faults | None = None) -> Services:
    """Open every layer; with `faults` (--enable-fault-injection) metadata and drives can be made to fail."""
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    executor = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="s3io")
    backend = metadata_stores(settings)
    meta, identity = backend.meta, backend.identity
    await meta.open()
    blobs: ReplicatedBlobStore | RemoteBlobStore
    try:
        nodes = await storage_nodes(settings, meta)
        if nodes:
            blobs = build_remote_store(settings, executor, nodes)
        else:
            blobs = build_blob_store(settings, executor, faults.drive_factory() if faults else Drive)
    except BaseException:
        await meta.close()
        raise
    await identity.open()
    await blobs.open()
    await install_root(settings, identity)
    if faults is not None:
        meta = FaultyMetadataStore(meta, faults)  # type: ignore[assignment]
    material = identity_material(data)
    return Services(
        settings=settings,
        meta=meta,
        blobs=blobs,
        saga=Saga(meta, blobs, executor),
        identity=identity,
        keys=Keys(MasterKey(material), BuiltinKeyService(meta, material, settings.region)),
    )


async def storage_nodes(settings: Settings, meta: MetadataStore) -> list[tuple[str, str]]:
    """The storage nodes as (name, URL) pairs, empty for local drives: --storage-nodes when it is
    given (it wins: a list in the database is then only reported), else the list that
    `s3server admin nodes` keeps in the metadata database."""
    listed = [(node.name, node.url) for node in await meta.storage_nodes()]
    if not settings.storage_nodes:
        if listed:
            log.info("storage nodes from the metadata database: %s", ", ".join(f"{n}={u}" for n, u in listed))
        return listed
    flagged = parse_nodes(settings.storage_nodes)
    if listed and sorted(listed) != sorted(flagged):
        log.warning(
            "--storage-nodes differs from the node list in the metadata database (s3server admin nodes "
            "list); using --storage-nodes"
        )
    return flagged


async def install_root(settings: Settings, identity: IdentityStoreBase) -> None:
    """Make the configured (or generated, once) root credentials the root user's; print generated ones."""
    access_key, secret, generated = root_credentials(settings)
    await identity.ensure_root(access_key, secret)
    if generated:
        print(
            "s3server: generated root credentials, stored in "
            f"{settings.data_path / ROOT_CREDENTIALS_FILE}:\n"
            f"  S3SERVER_ROOT_USER={access_key}\n  S3SERVER_ROOT_PASSWORD={secret}",
            flush=True,
        )


async def prepare(settings: Settings) -> None:
    """What must happen once before worker processes start: schema migrations, and root credentials
    generated (and printed) at most once. Each worker then opens up-to-date stores."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    backend = metadata_stores(settings)
    await backend.meta.open()
    try:
        await backend.identity.open()
        try:
            await install_root(settings, backend.identity)
        finally:
            await backend.identity.close()
    finally:
        await backend.meta.close()


async def close_services(services: Services) -> None:
    await services.blobs.close()
    await services.identity.close()
    await services.meta.close()


def build_app(settings: Settings, *, housekeeping: bool = True) -> web.Application:
    """The S3 application; layers open on startup and close after in-flight requests finish.

    With several worker processes only one runs the periodic housekeeping (`housekeeping=True`).
    """
    app = web.Application(client_max_size=1024**2, handler_args={"max_field_size": 65536})
    gateway = Gateway(settings)
    gateway.metrics = Metrics()
    app[GATEWAY_KEY] = gateway

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        faults = Faults() if settings.enable_fault_injection else None
        services = await open_services(settings, faults)
        app[SERVICES_KEY] = services
        gateway.bind(services)
        extras: dict[str, object] = {"gateway": gateway}
        blob_reaper: BlobReaper | ClusterReaper
        repair: ReplicaRepair | None = None
        if isinstance(services.blobs, RemoteBlobStore):
            blob_reaper = ClusterReaper(
                services.blobs, services.meta, settings.reaper_grace, settings.reaper_interval
            )
            repair = extras["repair"] = ReplicaRepair(services.blobs, services.meta, settings.reaper_interval)
            if housekeeping:
                services.blobs.on_node_back = repair.kick
        else:
            blob_reaper = BlobReaper(
                services.blobs,  # type: ignore[arg-type]
                services.meta,
                grace=settings.reaper_grace,
                interval=settings.reaper_interval,
            )
        passes: list[Pass] = [UploadReaper(services.saga, settings.upload_expiry), blob_reaper]
        reaper = Reaper(passes + ([repair] if repair is not None else []))
        # Every process takes part: the metadata lease picks the one that runs each pass.
        lifecycle_worker = LifecycleWorker(
            services.saga,
            services.meta,
            interval=settings.lifecycle_interval,
            day_seconds=settings.lifecycle_day_seconds,
            metrics=gateway.metrics,
        )
        extras["lifecycle"] = lifecycle_worker
        gateway.admin = AdminApi(
            services,
            faults=faults,
            reaper=blob_reaper,  # type: ignore[arg-type]
            routes=ADMIN_ROUTES,
            limiter=gateway.limiter,
            extras=extras,
        )
        if gateway.metrics is not None:
            gauges = (
                NodeGauges(services.blobs)
                if isinstance(services.blobs, RemoteBlobStore)
                else StorageGauges(services.blobs)  # type: ignore[arg-type]
            )
            gateway.metrics.add_refresher(gauges.refresh)
            gateway.metrics.add_source(gauges.collect)
        if housekeeping:
            reaper.start()
        lifecycle_worker.start()
        yield
        await lifecycle_worker.stop()
        await reaper.stop()
        if repair is not None:
            await repair.stop()
        await close_services(services)
        if gateway.limiter is not None:
            await gateway.limiter.close()
        if gateway.access_log is not None:
            gateway.access_log.close()

    app.cleanup_ctx.append(lifecycle)
    # No routes: the runner hands every request to gateway.handle itself (runner.serve_until_signalled).
    return app
