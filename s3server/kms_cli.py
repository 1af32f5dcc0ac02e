"""`s3server admin kms key create|list|rotate|disable|enable`: the keys of the built-in key service
(SSE-KMS), kept in the metadata database.

Like `admin nodes`, these work on the database itself (`--metadata`, `--data-dir`). A key's
material is sealed under the server identity key, so give these commands the server's: its
`--data-dir` (DATA_DIR/identity.key) or the same S3SERVER_IDENTITY_KEY. Running servers see a
change at once (they read a key's state on every use). KEY is a key id, its ARN or its alias
(alias/NAME). `create` prints the new key's id and ARN; `list` prints a table; `--json` prints
the key(s) as JSON instead.
Exit status: 0 done, 1 refused (no such key, alias taken) or the database unreachable, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from s3server.config import Settings, add_arguments
from s3server.identity.keys import KmsError
from s3server.identity.kms import BuiltinKeyService
from s3server.identity.secrets import identity_material
from s3server.metadata.base import KmsKey, MetadataStore
from s3server.metadata.errors import KmsAliasExistsError
from s3server.store_cli import run_on_store

__all__ = ["add_parsers", "run"]

_COLUMNS = ("KEY ID", "ALIAS", "STATE", "VERSIONS", "CREATED", "ARN")


def add_parsers(admin_commands: Any, options: Sequence[str]) -> None:
    """Add `kms key create|list|rotate|disable|enable` to the `s3server admin` subcommands."""
    kms = admin_commands.add_parser("kms", help="the built-in key service (SSE-KMS)")
    kinds = kms.add_subparsers(dest="kms_kind", required=True)
    key = kinds.add_parser("key", help="keys of the built-in key service")
    actions = key.add_subparsers(dest="kms_command", required=True)
    create = actions.add_parser("create", help="create a key; prints its id and ARN")
    create.add_argument("--alias", metavar="NAME", help="an alias for it (NAME or alias/NAME)")
    listing = actions.add_parser("list", help="list the keys")
    named = [
        actions.add_parser("rotate", help="give a key new material (old objects still decrypt)"),
        actions.add_parser("disable", help="refuse the key for new writes and for reads"),
        actions.add_parser("enable", help="make a disabled key usable again"),
    ]
    for parser in named:
        parser.add_argument("key", metavar="KEY", help="a key id, key ARN or alias/NAME")
    for parser in (create, listing, *named):
        add_arguments(parser, only=(*options, "region"))
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _as_json(service: BuiltinKeyService, key: KmsKey) -> dict[str, object]:
    return {
        "KeyId": key.key_id,
        "Arn": service.arn(key.key_id),
        "Alias": key.alias,
        "KeyState": "Enabled" if key.enabled else "Disabled",
        "Versions": len(key.materials),
        "CreationDate": key.created.isoformat(),
    }


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows
    )


async def _create(service: BuiltinKeyService, args: argparse.Namespace, out: TextIO) -> int:
    key = await service.create(args.alias)
    if args.json:
        out.write(json.dumps(_as_json(service, key)) + "\n")
    else:
        out.write(f"{key.key_id}\t{service.arn(key.key_id)}\n")
    return 0


async def _list(service: BuiltinKeyService, args: argparse.Namespace, out: TextIO) -> int:
    keys = await service.keys()
    if args.json:
        out.write(json.dumps([_as_json(service, k) for k in keys]) + "\n")
        return 0
    rows = [_COLUMNS] + [
        (
            k.key_id,
            k.alias or "-",
            "Enabled" if k.enabled else "Disabled",
            str(len(k.materials)),
            k.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            service.arn(k.key_id),
        )
        for k in keys
    ]
    out.write(_table(rows))
    return 0


async def _change(service: BuiltinKeyService, args: argparse.Namespace, out: TextIO) -> int:
    if args.kms_command == "rotate":
        key = await service.rotate(args.key)
        said = f"rotated {key.key_id}: version {len(key.materials)}"
    else:
        key = await service.set_enabled(args.key, args.kms_command == "enable")
        said = f"{args.kms_command}d {key.key_id}"
    out.write(json.dumps(_as_json(service, key)) + "\n" if args.json else said + "\n")
    return 0


ACTIONS = {"create": _create, "list": _list, "rotate": _change, "disable": _change, "enable": _change}


def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    async def action(store: MetadataStore) -> int:
        service = BuiltinKeyService(store, identity_material(settings.data_path), settings.region)
        return await ACTIONS[args.kms_command](service, args, out or sys.stdout)

    return run_on_store(settings, action, (KmsError, KmsAliasExistsError))
