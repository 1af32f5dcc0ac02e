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


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


OPTIONS: tuple[Option, ...] = (
    Option("address", "S3SERVER_ADDRESS", "127.0.0.1", "address to listen on", metavar="ADDR"),
    Option("port", "S3SERVER_PORT", 7841, "S3 API port", int, "PORT"),
    Option(
        "data_dir", "S3SERVER_DATA_DIR", "./data", "where metadata, identity and objects live", metavar="DIR"
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
    Option("log_level", "S3SERVER_LOG_LEVEL", "info", "debug, info, warning or error", metavar="LEVEL"),
    Option("access_log", "S3SERVER_ACCESS_LOG", True, "one log line per request (true/false)", _bool, "BOOL"),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved configuration, read by every layer."""

    address: str = "127.0.0.1"
    port: int = 7841
    data_dir: str = "./data"
    domain: str = ""
    region: str = "us-east-1"
    shutdown_timeout: float = 60.0
    tls: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_hostnames: str = ""
    log_level: str = "info"
    access_log: bool = True
    # Credentials are environment-only on purpose: never on a command line where `ps` shows them.
    root_user: str | None = field(default=None)
    root_password: str | None = field(default=None)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for every option; their defaults are None so that the environment can fill in."""
    for opt in OPTIONS:
        flag = "--" + opt.name.replace("_", "-")
        parser.add_argument(
            flag,
            dest=opt.name,
            default=None,
            type=opt.parse,
            metavar=opt.metavar,
            help=f"{opt.help} (env {opt.env}, default {opt.default})",
        )


def resolve(args: argparse.Namespace | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Merge flags, environment and defaults into Settings."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        flag_value = getattr(args, opt.name, None) if args is not None else None
        if flag_value is not None:
            values[opt.name] = flag_value
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
