"""Access-key secrets sealed at rest: AES-256-GCM under a key derived (HKDF-SHA256) from the server key.

SigV4 and SigV2 need the plain secret to recompute signatures, so secrets are encrypted rather than
hashed: the identity store seals a secret before it reaches the database and opens it again when a
request looks the key up (the lookup cache then holds the plain credential in memory only).

The server key is `S3SERVER_IDENTITY_KEY` when set (gateways on several machines sharing one
PostgreSQL database must all be given the same value), else 32 random bytes generated once into
`DATA_DIR/identity.key` (mode 0600). Each sealed value is `sealed:v1 ` + base64(nonce ‖ ciphertext),
authenticated with the access key as associated data, so a secret copied onto another key's row does
not open. The prefix holds a space, which no plain secret may contain (`check_secret_key`), so rows
written before encryption existed are told apart and sealed when the store opens.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s3server.identity.model import IdentityUnavailable

__all__ = ["KEY_ENV", "KEY_FILE", "SEALED_PREFIX", "SecretBox", "SecretUnreadable", "identity_material"]

KEY_ENV = "S3SERVER_IDENTITY_KEY"
KEY_FILE = "identity.key"
SEALED_PREFIX = "sealed:v1 "
_INFO = b"s3server access-key secrets v1"
_NONCE = 12
_MIN_ENV_KEY = 16


class SecretUnreadable(IdentityUnavailable):
    """A sealed secret does not open under this server's key (a different or lost identity key)."""


def _derive(material: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)


def _read_key_file(path: Path) -> bytes | None:
    """The key in `path`, None if there is none; a file being written by another process is awaited."""
    for _ in range(50):
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        if text:
            try:
                raw = base64.b64decode(text, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"{path} does not hold a base64 key") from exc
            if len(raw) < 32:
                raise ValueError(f"{path} holds a key shorter than 32 bytes")
            return raw
        time.sleep(0.01)
    raise ValueError(f"{path} is empty")


def _create_key_file(path: Path) -> bytes:
    """Write a new random key atomically (link() of a finished file), or read the one a racing
    process (another worker) created first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(raw).decode() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            existing = _read_key_file(path)
            assert existing is not None
            return existing
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return raw


def identity_material(data_dir: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The server identity key: S3SERVER_IDENTITY_KEY, else DATA_DIR/identity.key (generated once).
    Every key the server derives (secrets here, encryption at rest in `identity.keys`) comes from it."""
    env = os.environ if environ is None else environ
    configured = env.get(KEY_ENV, "")
    if configured:
        if len(configured) < _MIN_ENV_KEY:
            raise ValueError(f"{KEY_ENV} must be at least {_MIN_ENV_KEY} characters")
        return configured.encode()
    path = Path(data_dir) / KEY_FILE
    material = _read_key_file(path)
    if material is None:
        material = _create_key_file(path)
    return material


class SecretBox:
    """Seals and opens secrets under one derived AES-GCM key."""

    def __init__(self, material: bytes) -> None:
        self._aead = AESGCM(_derive(material))

    @classmethod
    def load(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> SecretBox:
        """The server's box, under the server identity key (see identity_material)."""
        return cls(identity_material(data_dir, environ))

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(SEALED_PREFIX)

    def seal(self, secret: str, access_key: str) -> str:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode(), access_key.encode())
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str, access_key: str) -> str:
        """The plain secret of a stored value (a plain legacy value is returned as it is)."""
        if not self.is_sealed(stored):
            return stored
        try:
            raw = base64.b64decode(stored[len(SEALED_PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], access_key.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SecretUnreadable(
                f"the secret of access key {access_key} does not decrypt with this server's identity key "
                f"({KEY_ENV} or {KEY_FILE} differs from the one it was stored with)"
            ) from exc
