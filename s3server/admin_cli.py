"""`s3server admin user add|list|remove`, `s3server admin key create|list|delete|activate|deactivate` and
`s3server admin lifecycle run [BUCKET]`.

These talk to a running server's JSON admin API (`s3server.ops.users`) at `--endpoint` (env
S3SERVER_ENDPOINT, default http://127.0.0.1:7841), signed with SigV4 (service "s3") by the root
credentials from S3SERVER_ROOT_USER / S3SERVER_ROOT_PASSWORD, or from the pair the server generated
into DATA_DIR/root-credentials.json when those are not set. Output is for people unless `--json`,
which prints the server's JSON answer (`user add NAME --json` → {"access_key_id", "secret_access_key",
"user"}). Exit status: 0 done, 1 refused or unreachable, 2 a usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from s3server.gateway import sigv4

DEFAULT_ENDPOINT = "http://127.0.0.1:7841"
ENDPOINT_ENV = "S3SERVER_ENDPOINT"
ROOT_CREDENTIALS_FILE = "root-credentials.json"
REGION = "us-east-1"
TIMEOUT = 30.0


class CommandError(Exception):
    """A failure to report on stderr with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# -- signing and sending


def sign_v4(
    method: str, url: str, body: bytes, access_key: str, secret_key: str, now: datetime | None = None
) -> dict[str, str]:
    """The headers of a SigV4-signed request (host, x-amz-date, x-amz-content-sha256, Authorization)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urlsplit(url)
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    if body:
        headers["content-type"] = "application/json"
    signed = sorted(headers)
    query = sigv4.canonical_query(sigv4.parse_query(parts.query))
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            query,
            sigv4.canonical_headers(headers, signed),
            ";".join(signed),
            payload_hash,
        ]
    )
    scope = f"{date}/{REGION}/s3/aws4_request"
    key = sigv4.derive_signing_key(secret_key, date, REGION, "s3")
    signature = sigv4.sign(key, sigv4.string_to_sign(amz_date, scope, canonical))
    headers["Authorization"] = (
        f"{sigv4.ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}"
    )
    return headers


@dataclass
class AdminClient:
    endpoint: str
    access_key: str
    secret_key: str
    ca_bundle: str | None = None

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, query: str = ""
    ) -> tuple[int, Any]:
        """(HTTP status, decoded JSON answer)."""
        url = self.endpoint.rstrip("/") + path + (f"?{query}" if query else "")
        data = json.dumps(body).encode() if body is not None else b""
        headers = sign_v4(method, url, data, self.access_key, self.secret_key)
        headers.pop("host")  # urllib sends it
        request = urllib.request.Request(url, data=data or None, method=method, headers=headers)
        context = None
        if url.startswith("https"):
            context = ssl.create_default_context(cafile=self.ca_bundle)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, {"error": {"code": str(exc.code), "message": raw.decode(errors="replace")}}
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommandError(f"cannot reach {self.endpoint}: {reason}") from exc

    def expect(self, method: str, path: str, body: Mapping[str, Any] | None = None, query: str = "") -> Any:
        """The answer of a call that must succeed; a refusal becomes a CommandError."""
        status, value = self.call(method, path, body, query)
        if status >= 300:
            error = value.get("error", {}) if isinstance(value, dict) else {}
            code = error.get("code", str(status))
            raise CommandError(f"{code}: {error.get('message', 'request failed')} (HTTP {status})")
        return value


def root_credentials(data_dir: str, environ: Mapping[str, str]) -> tuple[str, str]:
    user, password = environ.get("S3SERVER_ROOT_USER"), environ.get("S3SERVER_ROOT_PASSWORD")
    if user and password:
        return user, password
    stored = Path(data_dir) / ROOT_CREDENTIALS_FILE
    try:
        found = json.loads(stored.read_text())
        return found["access_key"], found["secret_key"]
    except (OSError, ValueError, KeyError) as exc:
        raise CommandError(
            "set S3SERVER_ROOT_USER and S3SERVER_ROOT_PASSWORD to the server's root credentials "
            f"(or run where {stored} is readable)",
            status=2,
        ) from exc


# -- output


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        )


def _print_secret(pair: Mapping[str, Any], out: TextIO) -> None:
    out.write(f"access key id:      {pair['access_key_id']}\n")
    out.write(f"secret access key:  {pair['secret_access_key']}\n")
    out.write("The secret access key is shown only now: keep it somewhere safe.\n")


# -- commands


def _key_pair(args: argparse.Namespace) -> dict[str, str]:
    if (args.access_key is None) != (args.secret_key is None):
        raise CommandError("--access-key and --secret-key go together (to import a known pair)", status=2)
    if args.access_key is None:
        return {}
    return {"access_key_id": args.access_key, "secret_access_key": args.secret_key}


def user_add(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    answer = client.expect(
        "POST",
        "/_admin/users",
        {
            "name": args.name,
            "admin": args.admin,
            **({"email": args.email} if args.email else {}),
            **_key_pair(args),
        },
    )
    if args.json:
        user = answer["user"]
        out.write(
            json.dumps(
                {
                    "user": user["name"],
                    "admin": user["admin"],
                    "access_key_id": answer["access_key_id"],
                    "secret_access_key": answer["secret_access_key"],
                },
                indent=2,
            )
            + "\n"
        )
        return
    kind = "admin user" if args.admin else "user"
    out.write(f"created {kind} {args.name}\n")
    _print_secret(answer, out)


def user_list(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    answer = client.expect("GET", "/_admin/users")
    if args.json:
        out.write(json.dumps(answer, indent=2) + "\n")
        return
    rows = [["NAME", "ADMIN", "KEYS", "CREATED"]]
    for user in answer["users"]:
        active = sum(1 for k in user["access_keys"] if k["active"])
        total = len(user["access_keys"])
        keys = f"{total}" if active == total else f"{total} ({active} active)"
        rows.append([user["name"], "yes" if user["admin"] else "no", keys, user["created"][:19] + "Z"])
    _table(rows, out)


def user_remove(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    answer = client.expect("DELETE", f"/_admin/users/{quote(args.name, safe='')}")
    out.write(json.dumps(answer) + "\n" if args.json else f"removed user {args.name} and their access keys\n")


def key_create(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    answer = client.expect("POST", f"/_admin/users/{quote(args.user, safe='')}/keys", _key_pair(args))
    if args.json:
        out.write(json.dumps(answer, indent=2) + "\n")
        return
    out.write(f"created an access key for {args.user}\n")
    _print_secret(answer, out)


def key_list(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    query = f"user={quote(args.user, safe='')}" if args.user else ""
    answer = client.expect("GET", "/_admin/keys", query=query)
    if args.json:
        out.write(json.dumps(answer, indent=2) + "\n")
        return
    rows = [["ACCESS KEY ID", "USER", "STATUS"]]
    for key in answer["access_keys"]:
        rows.append([key["access_key_id"], key["user"], "active" if key["active"] else "inactive"])
    _table(rows, out)


def key_delete(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    answer = client.expect("DELETE", f"/_admin/keys/{quote(args.access_key_id, safe='')}")
    out.write(json.dumps(answer) + "\n" if args.json else f"deleted access key {args.access_key_id}\n")


def _key_state(active: bool):  # type: ignore[no-untyped-def]
    def run(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
        verb = "activate" if active else "deactivate"
        answer = client.expect("POST", f"/_admin/keys/{quote(args.access_key_id, safe='')}/{verb}")
        if args.json:
            out.write(json.dumps(answer) + "\n")
        else:
            out.write(f"access key {args.access_key_id} is now {'active' if active else 'inactive'}\n")

    return run


def lifecycle_run(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    """A lifecycle pass now (over one bucket or all), and what it removed."""
    answer = client.expect("POST", "/_admin/lifecycle", {"bucket": args.bucket} if args.bucket else {})
    if args.json:
        out.write(json.dumps(answer, indent=2) + "\n")
        return
    removed = answer["removed"]
    if removed:
        rows = [["ACTION", "BUCKET", "KEY", "VERSION / UPLOAD", "RULE", "BYTES"]]
        for entry in removed:
            which = entry.get("version_id") or entry.get("upload_id") or "-"
            rows.append(
                [entry["action"], entry["bucket"], entry["key"], which, entry["rule"], str(entry["size"])]
            )
        _table(rows, out)
    total = answer["expired"] + answer["noncurrent_removed"] + answer["delete_markers_removed"]
    out.write(
        f"{answer['expired']} expired ({answer['expired_bytes']} bytes), "
        f"{answer['noncurrent_removed']} noncurrent versions removed ({answer['noncurrent_bytes']} bytes), "
        f"{answer['delete_markers_removed']} expired delete markers removed, "
        f"{answer['uploads_aborted']} uploads aborted, {answer['locked_skipped']} locked versions kept; "
        f"{answer['buckets']} buckets in {answer['seconds']:.2f}s\n"
    )
    if total + answer["uploads_aborted"] > len(removed):
        out.write(f"(the first {len(removed)} removals are listed)\n")


COMMANDS = {
    ("user", "add"): user_add,
    ("user", "list"): user_list,
    ("user", "remove"): user_remove,
    ("key", "create"): key_create,
    ("key", "list"): key_list,
    ("key", "delete"): key_delete,
    ("key", "activate"): _key_state(True),
    ("key", "deactivate"): _key_state(False),
    ("lifecycle", "run"): lifecycle_run,
}


# -- argument parsing


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint",
        default=None,
        metavar="URL",
        help=f"the server's S3 endpoint (env {ENDPOINT_ENV}, default {DEFAULT_ENDPOINT})",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument("--ca-bundle", metavar="FILE", help="the certificate to trust for an https endpoint")
    common.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="where to find root-credentials.json when S3SERVER_ROOT_USER/PASSWORD are not set "
        "(env S3SERVER_DATA_DIR, default ./data)",
    )
    return common


def _pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--access-key", metavar="KEY", help="import this access key id (with --secret-key)")
    parser.add_argument("--secret-key", metavar="SECRET", help="the secret of the imported key")


def add_parsers(admin_commands: Any) -> None:
    """Add `user`, `key` and `lifecycle` to the `s3server admin` subcommands."""
    common = _common()
    user = admin_commands.add_parser("user", help="manage users (talks to a running server)")
    users = user.add_subparsers(dest="user_command", required=True)
    add = users.add_parser("add", parents=[common], help="create a user and their first access key")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="the user may call the admin API")
    add.add_argument("--email", help="the address ACL grants by e-mail (emailAddress=) name this user by")
    _pair_arguments(add)
    users.add_parser("list", parents=[common], help="list users and how many keys each has")
    remove = users.add_parser("remove", parents=[common], help="remove a user and their access keys")
    remove.add_argument("name")

    key = admin_commands.add_parser("key", help="manage access keys (talks to a running server)")
    keys = key.add_subparsers(dest="key_command", required=True)
    create = keys.add_parser("create", parents=[common], help="create an access key for a user")
    create.add_argument("user")
    _pair_arguments(create)
    listing = keys.add_parser("list", parents=[common], help="list access keys (never their secrets)")
    listing.add_argument("user", nargs="?", help="only this user's keys")
    for name, text in (
        ("delete", "delete an access key"),
        ("activate", "let an access key sign requests again"),
        ("deactivate", "stop an access key from signing requests (it is kept)"),
    ):
        sub = keys.add_parser(name, parents=[common], help=text)
        sub.add_argument("access_key_id")

    lifecycle = admin_commands.add_parser("lifecycle", help="lifecycle passes (talks to a running server)")
    passes = lifecycle.add_subparsers(dest="lifecycle_command", required=True)
    run_pass = passes.add_parser(
        "run", parents=[common], help="run a lifecycle pass now and print what it removed"
    )
    run_pass.add_argument("bucket", nargs="?", help="only this bucket's rules")


def run(
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    env = os.environ if environ is None else environ
    out = out or sys.stdout
    err = err or sys.stderr
    group = args.admin_command
    action = {"user": "user_command", "key": "key_command", "lifecycle": "lifecycle_command"}[group]
    command = COMMANDS[(group, getattr(args, action))]
    try:
        access_key, secret_key = root_credentials(
            args.data_dir or env.get("S3SERVER_DATA_DIR") or "./data", env
        )
        endpoint = args.endpoint or env.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
        command(AdminClient(endpoint, access_key, secret_key, args.ca_bundle), args, out)
    except CommandError as exc:
        err.write(f"s3server: {exc}\n")
        return exc.status
    return 0
