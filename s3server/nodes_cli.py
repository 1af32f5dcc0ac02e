"""`s3server admin nodes add|remove|list`: the storage node list kept in the metadata database.

A gateway started without `--storage-nodes` places its replicas on these nodes (with the flag, the
flag wins). Unlike `admin user|key`, these commands work on the database itself, as `admin migrate`
does (`--metadata`, `--data-dir`): the list is set up before any gateway runs. Gateways read it when
they start, so restart them after a change. A node's name is what placement ranks: keep it while
the node holds replicas (`add` with a known name and a new URL moves the node).
Exit status: 0 done, 1 refused or the database unreachable, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from s3server.config import Settings, add_arguments
from s3server.metadata.base import MetadataStore, NodeEntry
from s3server.node.client import parse_nodes
from s3server.store_cli import run_on_store

__all__ = ["add_parsers", "run"]


def add_parsers(admin_commands: Any, options: Sequence[str]) -> None:
    """Add `nodes add|remove|list` to the `s3server admin` subcommands, each with `options`."""
    nodes = admin_commands.add_parser("nodes", help="the storage node list in the metadata database")
    actions = nodes.add_subparsers(dest="nodes_command", required=True)
    add = actions.add_parser("add", help="add storage nodes (or give a listed name its new URL)")
    add.add_argument("nodes", nargs="+", metavar="NODE", help="http://HOST:7881, or ID=http://HOST:7881")
    remove = actions.add_parser("remove", help="take storage nodes off the list (their replicas stay)")
    remove.add_argument("nodes", nargs="+", metavar="NODE", help="a listed node's name or URL")
    listing = actions.add_parser("list", help="list the storage nodes")
    for parser in (add, remove, listing):
        add_arguments(parser, only=options)
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")


async def _add(store: MetadataStore, args: argparse.Namespace, out: TextIO) -> int:
    for name, url in parse_nodes(args.nodes):
        new = await store.add_storage_node(NodeEntry(name, url))
        if not args.json:
            out.write(f"{'added' if new else 'moved'} {name} {url}\n")
    if args.json:
        await _list(store, args, out)
    return 0


async def _remove(store: MetadataStore, args: argparse.Namespace, out: TextIO) -> int:
    listed = await store.storage_nodes()
    status = 0
    for wanted in args.nodes:
        names = [n.name for n in listed if wanted in (n.name, n.url, n.url + "/")]
        if not names:
            sys.stderr.write(f"s3server: no storage node {wanted!r} in the list\n")
            status = 1
        for name in names:
            await store.remove_storage_node(name)
            if not args.json:
                out.write(f"removed {name}\n")
    if args.json:
        await _list(store, args, out)
    return status


async def _list(store: MetadataStore, args: argparse.Namespace, out: TextIO) -> int:
    listed = await store.storage_nodes()
    if args.json:
        out.write(json.dumps([{"name": n.name, "url": n.url} for n in listed]) + "\n")
    else:
        for node in listed:
            out.write(f"{node.name}\t{node.url}\n")
    return 0


ACTIONS = {"add": _add, "remove": _remove, "list": _list}


def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    async def action(store: MetadataStore) -> int:
        return await ACTIONS[args.nodes_command](store, args, out or sys.stdout)

    return run_on_store(settings, action)
