"""The keys that wrap object data keys (see `storage.encryption` for the whole design).

MasterKey    SSE-S3's key-encryption key, HKDF-derived from the server identity key (the one
             root secret the server has; `identity.secrets` derives the access-key box from it
             too, under a different label)
KeyService   the interface SSE-KMS speaks: generate a data key under a named key, open it again.
             The built-in one (`identity.kms`) keeps its keys in the metadata database; an
             external KMS (Vault's transit engine, AWS KMS) would be another implementation of the
             same three methods.
seal / open  AES-GCM wrapping of a data key under any 256-bit key (SSE-C: the customer's).

Exception
 └── KeyUnavailable        a data key does not open (wrong key, or a different identity key)
      └── KmsError         the key service refused: code "NotFoundException", "DisabledException", …
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DATA_KEY_BYTES",
    "KeyService",
    "KeyUnavailable",
    "Keys",
    "KmsError",
    "MasterKey",
    "customer_key_hmac",
    "customer_key_matches",
    "derive",
    "new_data_key",
    "open_key",
    "seal_key",
]

DATA_KEY_BYTES = 32
_NONCE = 12
_SALT = 16
_MASTER_INFO = b"s3server sse master key v1"


class KeyUnavailable(Exception):
    """A wrapped data key does not open under the key offered."""


class KmsError(KeyUnavailable):
    """The key service refused a request; `code` is KMS's exception name without the prefix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def derive(material: bytes, info: bytes) -> bytes:
    """A 256-bit key for one purpose (`info`) from root material."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def seal_key(kek: bytes, data_key: bytes, aad: bytes) -> str:
    """base64(nonce ‖ AES-GCM(kek, data_key, aad))."""
    nonce = secrets.token_bytes(_NONCE)
    return base64.b64encode(nonce + AESGCM(kek).encrypt(nonce, data_key, aad)).decode()


def open_key(kek: bytes, wrapped: str, aad: bytes) -> bytes:
    try:
        raw = base64.b64decode(wrapped, validate=True)
        return AESGCM(kek).decrypt(raw[:_NONCE], raw[_NONCE:], aad)
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise KeyUnavailable("the data key does not open under this key") from exc


def customer_key_hmac(key: bytes) -> str:
    """What an SSE-C object keeps of its customer's key: base64(salt ‖ HMAC-SHA256(salt, key))."""
    salt = secrets.token_bytes(_SALT)
    return base64.b64encode(salt + hmac.new(salt, key, hashlib.sha256).digest()).decode()


def customer_key_matches(key: bytes, stored: str) -> bool:
    raw = base64.b64decode(stored)
    salt, mac = raw[:_SALT], raw[_SALT:]
    return hmac.compare_digest(hmac.new(salt, key, hashlib.sha256).digest(), mac)


class MasterKey:
    """SSE-S3's key-encryption key."""

    def __init__(self, identity_material: bytes) -> None:
        self._kek = derive(identity_material, _MASTER_INFO)

    def seal(self, data_key: bytes, aad: bytes) -> str:
        return seal_key(self._kek, data_key, aad)

    def open(self, wrapped: str, aad: bytes) -> bytes:
        return open_key(self._kek, wrapped, aad)


class KeyService(Protocol):
    """SSE-KMS's key service: data keys are sealed under, and opened by, a named key.

    Kept to three calls on purpose, so that an external KMS can stand behind it: with Vault's
    transit engine, wrap/unwrap are `transit/encrypt|decrypt/KEY` with the context as associated
    data and resolve reads `transit/keys/KEY`; with AWS KMS they are Encrypt/Decrypt with an
    EncryptionContext and DescribeKey. Key administration stays with the service itself.
    """

    async def resolve(self, key_id: str | None) -> str:
        """The ARN of a usable key named by id, alias or ARN (None: the default key, made on first
        use); raises KmsError("NotFoundException") or ("DisabledException")."""

    async def wrap(self, key_arn: str, data_key: bytes, context: bytes) -> str:
        """The data key sealed under the key's current material, bound to the encryption context."""

    async def unwrap(self, key_arn: str, wrapped: str, context: bytes) -> bytes:
        """Open a data key sealed by wrap() under any of the key's material (rotation keeps the old)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """What the S3 layer seals and opens data keys with."""

    master: MasterKey
    kms: KeyService | None = None
