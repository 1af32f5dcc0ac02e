"""One home for configuration: every option is a flag, an S3SERVER_* environment variable and a default.

Precedence is flag > environment > default. The README's option table mirrors OPTIONS.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Option:
    """One setting of `s3server serve`."""

    name: str  # Settings attribute, and the flag --name-with-dashes
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    metavar: str | None = None
    flag: str | None = None  # when the flag is not --name-with-dashes (e.g. --drive for `drives`)
    repeatable: bool = False  # the flag may be given several times; the env var is comma-separated
    switch: bool = False  # the flag alone means true (`--enable-fault-injection`); a value may follow
    node_only: bool = False  # only `s3server storage-node` takes it (its --port is not the S3 port)


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


# -- --rate-limit N/unit (the gateway's RateLimiter takes the parsed Rate)

UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}


@dataclass(frozen=True, slots=True)
class Rate:
    requests: int
    period: float  # seconds

    @property
    def per_second(self) -> float:
        return self.requests / self.period


def parse_rate(text: str) -> Rate | None:
    """'100/min' → Rate(100, 60); '' or 'off' → None (no limit)."""
    text = text.strip().lower()
    if text in ("", "off", "none", "0"):
        return None
    count, _, unit = text.partition("/")
    try:
        requests = int(count)
    except ValueError as exc:
        raise ValueError(f"rate limit {text!r}: expected N/unit such as 100/min") from exc
    if requests <= 0 or unit.strip() not in UNITS:
        raise ValueError(f"rate limit {text!r}: expected N/unit such as 100/min (units s, min, hour)")
    return Rate(requests, UNITS[unit.strip()])


def _positive(text: str) -> float:
    """A number of seconds that must be above zero."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def _rate(text: str) -> str:
    """`--rate-limit`: checked here (N/unit, or off), kept as written."""
    try:
        parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text.strip()


OPTIONS: tuple[Option, ...] = (
    Option("address", "S3SERVER_ADDRESS", "127.0.0.1", "address to listen on", metavar="ADDR"),
    Option("port", "S3SERVER_PORT", 7841, "S3 API port", int, "PORT"),
    Option(
        "data_dir", "S3SERVER_DATA_DIR", "./data", "where metadata, identity and objects live", metavar="DIR"
    ),
    Option(
        "metadata",
        "S3SERVER_METADATA_URL",
        "",
        "postgresql://USER:PASSWORD@HOST:PORT/DB to keep metadata and identity in PostgreSQL "
        "(default: embedded SQLite in the data dir)",
        metavar="URL",
    ),
    Option(
        "workers",
        "S3SERVER_WORKERS",
        0,
        "server processes sharing the port (SO_REUSEPORT), metadata and storage (0: one per CPU core)",
        int,
        "N",
    ),
    Option(
        "domain",
        "S3SERVER_DOMAIN",
        "",
        "base domain for virtual-hosted-style requests (BUCKET.DOMAIN); path style always works",
        metavar="DOMAIN",
    ),
    Option("region", "S3SERVER_REGION", "us-east-1", "region reported by GetBucketLocation/HeadBucket"),
    Option(
        "shutdown_timeout",
        "S3SERVER_SHUTDOWN_TIMEOUT",
        60.0,
        "seconds in-flight requests get to finish on SIGTERM/SIGINT",
        float,
        "SECONDS",
    ),
    Option(
        "tls",
        "S3SERVER_TLS",
        "",
        "'auto': HTTPS with a self-signed certificate kept in the data dir",
        metavar="auto",
    ),
    Option(
        "tls_cert",
        "S3SERVER_TLS_CERT",
        "",
        "PEM certificate (chain) for HTTPS; with --tls-key",
        metavar="FILE",
    ),
    Option("tls_key", "S3SERVER_TLS_KEY", "", "PEM private key for HTTPS; with --tls-cert", metavar="FILE"),
    Option(
        "tls_hostnames",
        "S3SERVER_TLS_HOSTNAMES",
        "",
        "extra comma-separated host names/IPs for the --tls auto certificate",
        metavar="NAMES",
    ),
    Option(
        "upload_expiry",
        "S3SERVER_UPLOAD_EXPIRY",
        168.0,
        "hours after which an unfinished multipart upload is aborted and its parts deleted (0: never)",
        float,
        "HOURS",
    ),
    Option(
        "drives",
        "S3SERVER_DRIVES",
        (),
        "a directory holding object replicas; repeat for several drives (default: DATA_DIR/storage)",
        metavar="PATH",
        flag="--drive",
        repeatable=True,
    ),
    Option(
        "replicas",
        "S3SERVER_REPLICAS",
        0,
        "copies of each object, on distinct drives, or distinct nodes with --storage-nodes "
        "(0: min(3, number of drives or nodes); a storage node: 1)",
        int,
        "N",
    ),
    Option(
        "storage_nodes",
        "S3SERVER_STORAGE_NODES",
        (),
        "storage node URLs (http://HOST:7881, or ID=URL), comma-separated or repeated: objects live on "
        "these nodes, --replicas copies on distinct nodes, instead of on local drives (without it: the "
        "nodes `s3server admin nodes` lists in the metadata database, if any)",
        metavar="URL,URL,…",
        repeatable=True,
    ),
    Option(
        "cluster_secret",
        "S3SERVER_CLUSTER_SECRET",
        "",
        "the secret that signs every request between gateways and storage nodes (same on all; prefer "
        "the environment variable, which `ps` does not show)",
        metavar="SECRET",
    ),
    Option(
        "node_id",
        "S3SERVER_NODE_ID",
        "",
        "`storage-node`: this node's name in logs, health and metrics (default: its host name and port)",
        metavar="ID",
        node_only=True,
    ),
    Option(
        "node_port",
        "S3SERVER_NODE_PORT",
        7881,
        "`storage-node`: the port it serves blobs on",
        int,
        "PORT",
        flag="--port",
        node_only=True,
    ),
    Option(
        "reaper_interval",
        "S3SERVER_REAPER_INTERVAL",
        3600.0,
        "seconds between passes of the reaper that removes unreferenced blobs",
        float,
        "SECONDS",
    ),
    Option(
        "reaper_grace",
        "S3SERVER_REAPER_GRACE",
        3600.0,
        "seconds an unreferenced blob or temporary file is left alone before the reaper removes it",
        float,
        "SECONDS",
    ),
    Option(
        "lifecycle_interval",
        "S3SERVER_LIFECYCLE_INTERVAL",
        3600.0,
        "seconds between lifecycle passes, which apply buckets' lifecycle rules (one process at a time)",
        _positive,
        "SECONDS",
    ),
    Option(
        "lifecycle_day_seconds",
        "S3SERVER_LIFECYCLE_DAY_SECONDS",
        86400.0,
        "how many seconds count as one day in lifecycle rules (shorter for tests and demos)",
        _positive,
        "N",
    ),
    Option(
        "enable_fault_injection",
        "S3SERVER_ENABLE_FAULT_INJECTION",
        False,
        "let admins make metadata or drives fail and corrupt replicas via /_admin/faults (testing only)",
        _bool,
        "BOOL",
        switch=True,
    ),
    Option(
        "allow_sse_c_over_http",
        "S3SERVER_ALLOW_SSE_C_OVER_HTTP",
        False,
        "accept SSE-C customer keys over plain HTTP (AWS requires HTTPS; for tests only)",
        _bool,
        "BOOL",
        switch=True,
    ),
    Option(
        "rate_limit",
        "S3SERVER_RATE_LIMIT",
        "",
        "requests allowed per access key (anonymous: per client IP), e.g. 100/min; over it the S3 API "
        "answers 503 SlowDown and the admin API 429 (shared by worker processes, and by gateways on one "
        "PostgreSQL; default off)",
        _rate,
        "N/UNIT",
    ),
    Option(
        "metrics_auth",
        "S3SERVER_METRICS_AUTH",
        False,
        "/metrics and /_admin/metrics need a request signed by an admin (default: open to scrapers)",
        _bool,
        "BOOL",
        switch=True,
    ),
    Option("log_level", "S3SERVER_LOG_LEVEL", "info", "debug, info, warning or error", metavar="LEVEL"),
    Option("access_log", "S3SERVER_ACCESS_LOG", True, "one log line per request (true/false)", _bool, "BOOL"),
    Option("console_port", "S3SERVER_CONSOLE_PORT", 8080, "web console port (on --address)", int, "PORT"),
    Option(
        "no_console",
        "S3SERVER_NO_CONSOLE",
        False,
        "do not start the web console next to the S3 API",
        _bool,
        "BOOL",
        switch=True,
    ),
    Option(
        "console_origins",
        "S3SERVER_CONSOLE_ORIGIN",
        (),
        "an origin (scheme://host:port) of a web console that may send browser uploads to any bucket, "
        "for a console run apart with `s3server console` or reached by another host name (repeatable; "
        "the console of `serve`, on the same host name as the S3 API, needs none)",
        metavar="ORIGIN",
        flag="--console-origin",
        repeatable=True,
    ),
    Option(
        "endpoint",
        "S3SERVER_ENDPOINT",
        "http://127.0.0.1:7841",
        "the S3 endpoint `s3server console` talks to",
        metavar="URL",
    ),
    Option(
        "public_endpoint",
        "S3SERVER_PUBLIC_ENDPOINT",
        "",
        "S3 URL that browsers and clients reach, for the console's presigned links "
        "(default: the console's host name with the S3 port, or --endpoint)",
        metavar="URL",
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved configuration, read by every layer."""

    address: str = "127.0.0.1"
    port: int = 7841
    data_dir: str = "./data"
    metadata: str = ""  # empty: embedded SQLite
    workers: int = 0  # 0: one per CPU core
    domain: str = ""
    region: str = "us-east-1"
    shutdown_timeout: float = 60.0
    tls: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_hostnames: str = ""
    upload_expiry: float = 168.0
    drives: tuple[str, ...] = ()
    replicas: int = 0
    storage_nodes: tuple[str, ...] = ()
    cluster_secret: str = ""
    node_id: str = ""
    node_port: int = 7881
    reaper_interval: float = 3600.0
    reaper_grace: float = 3600.0
    lifecycle_interval: float = 3600.0
    lifecycle_day_seconds: float = 86400.0
    enable_fault_injection: bool = False
    allow_sse_c_over_http: bool = False
    rate_limit: str = ""  # "" or "off": no limit; "100/min"
    metrics_auth: bool = False
    log_level: str = "info"
    access_log: bool = True
    console_port: int = 8080
    no_console: bool = False
    console_origins: tuple[str, ...] = ()
    endpoint: str = "http://127.0.0.1:7841"
    public_endpoint: str = ""
    # Credentials are environment-only on purpose: never on a command line where `ps` shows them.
    root_user: str | None = field(default=None)
    root_password: str | None = field(default=None)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def add_arguments(parser: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    """Flags for every option (or the named ones); their defaults are None so that the environment
    can fill in."""
    for opt in OPTIONS:
        if (only is not None and opt.name not in only) or (only is None and opt.node_only):
            continue
        flag = opt.flag or "--" + opt.name.replace("_", "-")
        extra: dict[str, Any] = {}
        if opt.repeatable:
            extra["action"] = "append"
        elif opt.switch:
            extra.update(nargs="?", const=True)
        parser.add_argument(
            flag,
            dest=opt.name,
            default=None,
            type=opt.parse,
            metavar=opt.metavar,
            help=f"{opt.help} (env {opt.env}, default {opt.default})",
            **extra,
        )


def resolve(args: argparse.Namespace | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Merge flags, environment and defaults into Settings."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        flag_value = getattr(args, opt.name, None) if args is not None else None
        if flag_value is not None:
            values[opt.name] = tuple(flag_value) if opt.repeatable else flag_value
        elif env.get(opt.env) and opt.repeatable:
            values[opt.name] = tuple(opt.parse(v.strip()) for v in env[opt.env].split(",") if v.strip())
        elif env.get(opt.env):
            values[opt.name] = opt.parse(env[opt.env])
        else:
            values[opt.name] = opt.default
    values["root_user"] = env.get("S3SERVER_ROOT_USER") or None
    values["root_password"] = env.get("S3SERVER_ROOT_PASSWORD") or None
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known})


def option_names() -> Sequence[str]:
    return [opt.name for opt in OPTIONS]


# -- --workers N


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def worker_count(requested: int) -> int:
    """`--workers N`: N, or one per core for 0."""
    if requested < 0:
        raise ValueError(f"--workers must be 0 (one per core) or more, not {requested}")
    return requested or available_cores()
