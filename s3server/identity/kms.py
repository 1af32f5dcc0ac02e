"""The built-in key service behind SSE-KMS: keys kept in the metadata database (`metadata.kms`).

It implements `identity.keys.KeyService` (resolve, wrap, unwrap), the one interface the S3 layer
speaks, plus the administration `s3server admin kms key …` needs (create, list, rotate, disable,
enable), which an external KMS would do with its own tools.

A key is a random id (a UUID, as KMS's are), an optional alias ("alias/NAME"), an enabled flag and
its versions of 256-bit material. Each version is stored sealed (AES-GCM) under a key derived from
the server identity key, bound to the key id and version number, so a row copied onto another key
or version does not open. A data key is sealed under the newest version's material, with the key
id and the encryption context as associated data, and stored as "VERSION:" + base64(nonce ‖
ciphertext): rotation adds a version and old data keys still open under theirs. A disabled key
neither seals nor opens (KMS's DisabledException), an unknown one is NotFoundException.

The default key (a write that names aws:kms and no key) has the alias "alias/aws/s3" and is
created on first use, as S3's AWS managed key is. ARNs read
arn:aws:kms:REGION:000000000000:key/ID: the server has one account, and its id is a placeholder.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime

from s3server.identity.keys import KeyUnavailable, KmsError, derive, open_key, seal_key
from s3server.metadata.base import KmsKey, MetadataStore
from s3server.metadata.errors import KmsAliasExistsError

__all__ = ["ACCOUNT", "DEFAULT_ALIAS", "BuiltinKeyService", "alias_of"]

ACCOUNT = "000000000000"
DEFAULT_ALIAS = "alias/aws/s3"
_MATERIAL_INFO = b"s3server kms key material v1"
_DATA_KEY_AAD = b"s3server sse-kms "
_ALIAS = re.compile(r"alias/[a-zA-Z0-9/_-]{1,250}")
_ARN = re.compile(r"arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)/(.+)")
_CREATE_ATTEMPTS = 5


def alias_of(name: str) -> str:
    """ "NAME" or "alias/NAME" → "alias/NAME"; raises ValueError for a name KMS would refuse,
    among them the "alias/aws/" names KMS keeps for its managed keys."""
    alias = name if name.startswith("alias/") else f"alias/{name}"
    if not _ALIAS.fullmatch(alias):
        raise ValueError(f"{name!r} is not a valid alias: letters, digits, '/', '_' and '-' only")
    if alias.startswith("alias/aws/"):
        raise ValueError(f"{name!r}: aliases beginning with aws/ are reserved")
    return alias


class BuiltinKeyService:
    """KeyService on the metadata database; the key material sealed under the identity key."""

    def __init__(self, meta: MetadataStore, identity_material: bytes, region: str) -> None:
        self._meta = meta
        self._kek = derive(identity_material, _MATERIAL_INFO)
        self.region = region
        self._materials: dict[tuple[str, int], bytes] = {}  # opened material (it never changes)

    # -- names

    def arn(self, key_id: str) -> str:
        return f"arn:aws:kms:{self.region}:{ACCOUNT}:key/{key_id}"

    def _lookup_name(self, name: str) -> str:
        """What the store finds a key by (its id, or "alias/NAME") for a key id, ARN or alias."""
        match = _ARN.fullmatch(name)
        if match is not None:
            region, account, kind, rest = match.groups()
            if region != self.region or account != ACCOUNT:
                raise KmsError("NotFoundException", f"Invalid arn {name}")
            return rest if kind == "key" else f"alias/{rest}"
        if name.startswith("arn:"):
            raise KmsError("NotFoundException", f"Invalid arn {name}")
        return name

    @staticmethod
    def _not_found(name: str, region: str) -> KmsError:
        if name.startswith("alias/"):
            return KmsError("NotFoundException", f"Alias arn:aws:kms:{region}:{ACCOUNT}:{name} is not found.")
        return KmsError("NotFoundException", f"Invalid keyId '{name}'")

    async def find(self, name: str) -> KmsKey:
        """The key a key id, ARN or alias names, enabled or not; raises NotFoundException."""
        lookup = self._lookup_name(name)
        key = await self._meta.get_kms_key(lookup)
        if key is None or (not lookup.startswith("alias/") and key.key_id != lookup):
            raise self._not_found(lookup, self.region)
        return key

    async def _usable(self, name: str) -> KmsKey:
        key = await self.find(name)
        if not key.enabled:
            raise KmsError("DisabledException", f"{self.arn(key.key_id)} is disabled.")
        return key

    # -- material

    def _seal_material(self, key_id: str, version: int, material: bytes) -> str:
        return seal_key(self._kek, material, f"{key_id}/{version}".encode())

    def _material(self, key: KmsKey, version: int) -> bytes:
        cached = self._materials.get((key.key_id, version))
        if cached is not None:
            return cached
        if not 1 <= version <= len(key.materials):
            raise KmsError("InvalidCiphertextException", "The ciphertext refers to no version of this key.")
        try:
            material = open_key(self._kek, key.materials[version - 1], f"{key.key_id}/{version}".encode())
        except KeyUnavailable:
            raise KeyUnavailable(
                f"key {key.key_id} version {version} does not open under this server's identity key"
            ) from None
        self._materials[(key.key_id, version)] = material
        return material

    # -- KeyService

    async def resolve(self, key_id: str | None) -> str:
        if key_id is None:
            return self.arn((await self._default()).key_id)
        return self.arn((await self._usable(key_id)).key_id)

    async def wrap(self, key_arn: str, data_key: bytes, context: bytes) -> str:
        key = await self._usable(key_arn)
        version = len(key.materials)
        aad = _DATA_KEY_AAD + key.key_id.encode() + b"\0" + context
        return f"{version}:" + seal_key(self._material(key, version), data_key, aad)

    async def unwrap(self, key_arn: str, wrapped: str, context: bytes) -> bytes:
        key = await self._usable(key_arn)
        version, _, sealed = wrapped.partition(":")
        if not version.isdigit():
            raise KmsError("InvalidCiphertextException", "The ciphertext is not one this service made.")
        aad = _DATA_KEY_AAD + key.key_id.encode() + b"\0" + context
        material = self._material(key, int(version))  # not opening: another identity key, a 500
        try:
            return open_key(material, sealed, aad)
        except KeyUnavailable:
            raise KmsError(
                "InvalidCiphertextException", "The ciphertext does not decrypt under this key and context."
            ) from None

    async def _default(self) -> KmsKey:
        """The aws/s3-like default key, created by whichever writer needs it first."""
        for _ in range(_CREATE_ATTEMPTS):
            key = await self._meta.get_kms_key(DEFAULT_ALIAS)
            if key is not None:
                if not key.enabled:
                    raise KmsError("DisabledException", f"{self.arn(key.key_id)} is disabled.")
                return key
            try:
                return await self._create(DEFAULT_ALIAS)
            except KmsAliasExistsError:
                continue  # another writer made it first: read theirs
        raise KmsError("KMSInternalException", "The default key could not be created.")

    # -- administration (`s3server admin kms key …`)

    async def _create(self, alias: str | None) -> KmsKey:
        key_id = str(uuid.uuid4())
        material = self._seal_material(key_id, 1, secrets.token_bytes(32))
        key = KmsKey(key_id, datetime.now(UTC), (material,), alias)
        await self._meta.create_kms_key(key)
        return key

    async def create(self, alias: str | None = None) -> KmsKey:
        """A new enabled key; raises ValueError for a malformed alias, KmsAliasExistsError for a taken one."""
        return await self._create(None if alias is None else alias_of(alias))

    async def keys(self) -> list[KmsKey]:
        return await self._meta.kms_keys()

    async def rotate(self, name: str) -> KmsKey:
        """Give the key new material (a new version); old versions stay, so old objects still open."""
        for _ in range(_CREATE_ATTEMPTS):
            key = await self.find(name)
            version = len(key.materials) + 1
            material = self._seal_material(key.key_id, version, secrets.token_bytes(32))
            if await self._meta.add_kms_key_version(key.key_id, version, material):
                return await self.find(key.key_id)
        raise KmsError("KMSInternalException", "The key could not be rotated: too many rotations at once.")

    async def set_enabled(self, name: str, enabled: bool) -> KmsKey:
        key = await self.find(name)
        await self._meta.set_kms_key_enabled(key.key_id, enabled)
        return await self.find(key.key_id)
