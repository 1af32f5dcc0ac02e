"""The built-in key service over a real SQLite metadata store: names, the default key, wrapping
bound to key and context, rotation, disabled keys, and material sealed under the identity key."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from s3server.identity.keys import KeyUnavailable, KmsError
from s3server.identity.kms import DEFAULT_ALIAS, BuiltinKeyService, alias_of
from s3server.metadata.sqlite import SqliteMetadataStore

IDENTITY = os.urandom(32)
CONTEXT = b'{"aws:s3:arn":"arn:aws:s3:::b/k"}'


@pytest.fixture
async def meta(tmp_path: Path) -> AsyncIterator[SqliteMetadataStore]:
    store = SqliteMetadataStore(tmp_path / "metadata.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def kms(meta: SqliteMetadataStore) -> BuiltinKeyService:
    return BuiltinKeyService(meta, IDENTITY, "us-east-1")


def code(exc: pytest.ExceptionInfo[KmsError]) -> str:
    return exc.value.code


async def test_names_resolve_to_the_arn(kms: BuiltinKeyService) -> None:
    key = await kms.create("app")
    arn = f"arn:aws:kms:us-east-1:000000000000:key/{key.key_id}"
    assert key.alias == "alias/app"
    for name in (key.key_id, arn, "alias/app", "arn:aws:kms:us-east-1:000000000000:alias/app"):
        assert await kms.resolve(name) == arn, name
    for name in (
        "app",  # an alias is named alias/NAME
        "alias/other",
        f"arn:aws:kms:eu-west-1:000000000000:key/{key.key_id}",  # another region
        f"arn:aws:kms:us-east-1:123456789012:key/{key.key_id}",  # another account
        "arn:aws:s3:::bucket",
    ):
        with pytest.raises(KmsError) as exc:
            await kms.resolve(name)
        assert code(exc) == "NotFoundException", name


async def test_the_default_key_is_made_once(kms: BuiltinKeyService) -> None:
    arns = await asyncio.gather(*(kms.resolve(None) for _ in range(5)))
    assert len(set(arns)) == 1
    [key] = await kms.keys()
    assert key.alias == DEFAULT_ALIAS and kms.arn(key.key_id) == arns[0]


async def test_wrap_binds_key_and_context(kms: BuiltinKeyService) -> None:
    one, two = await kms.create(), await kms.create()
    data_key = os.urandom(32)
    wrapped = await kms.wrap(kms.arn(one.key_id), data_key, CONTEXT)
    assert await kms.unwrap(kms.arn(one.key_id), wrapped, CONTEXT) == data_key
    for arn, context in ((kms.arn(one.key_id), b"{}"), (kms.arn(two.key_id), CONTEXT)):
        with pytest.raises(KmsError) as exc:
            await kms.unwrap(arn, wrapped, context)
        assert code(exc) == "InvalidCiphertextException"
    with pytest.raises(KmsError) as exc:
        await kms.unwrap(kms.arn(one.key_id), "garbage", CONTEXT)
    assert code(exc) == "InvalidCiphertextException"


async def test_rotation_keeps_old_versions(kms: BuiltinKeyService) -> None:
    key = await kms.create()
    arn = kms.arn(key.key_id)
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = await kms.wrap(arn, old_key, CONTEXT)
    rotated = await kms.rotate(arn)
    assert len(rotated.materials) == 2 and rotated.materials[0] == key.materials[0]
    new = await kms.wrap(arn, new_key, CONTEXT)
    assert old.startswith("1:") and new.startswith("2:")
    fresh = BuiltinKeyService(kms._meta, IDENTITY, "us-east-1")  # nothing cached: material from the rows
    assert await fresh.unwrap(arn, old, CONTEXT) == old_key
    assert await fresh.unwrap(arn, new, CONTEXT) == new_key


async def test_disabled_keys_neither_wrap_nor_unwrap(kms: BuiltinKeyService) -> None:
    key = await kms.create("gone")
    arn = kms.arn(key.key_id)
    wrapped = await kms.wrap(arn, os.urandom(32), CONTEXT)
    assert not (await kms.set_enabled("alias/gone", False)).enabled
    for call in (kms.resolve(arn), kms.wrap(arn, os.urandom(32), CONTEXT), kms.unwrap(arn, wrapped, CONTEXT)):
        with pytest.raises(KmsError) as exc:
            await call
        assert code(exc) == "DisabledException" and exc.value.message == f"{arn} is disabled."
    await kms.set_enabled(arn, True)
    assert len(await kms.unwrap(arn, wrapped, CONTEXT)) == 32


async def test_material_is_sealed_under_the_identity_key(
    meta: SqliteMetadataStore, kms: BuiltinKeyService
) -> None:
    one, two = await kms.create(), await kms.create()
    wrapped = await kms.wrap(kms.arn(one.key_id), b"k" * 32, CONTEXT)
    stranger = BuiltinKeyService(meta, os.urandom(32), "us-east-1")
    with pytest.raises(KeyUnavailable) as exc:  # another server's identity key opens nothing
        await stranger.unwrap(kms.arn(one.key_id), wrapped, CONTEXT)
    assert not isinstance(exc.value, KmsError)
    # A row's material copied onto another key does not open there (bound to key id and version).
    await meta.create_kms_key(replace(two, key_id="copy", materials=one.materials))
    fresh = BuiltinKeyService(meta, IDENTITY, "us-east-1")
    with pytest.raises(KeyUnavailable):
        await fresh.wrap(kms.arn("copy"), b"k" * 32, CONTEXT)


@pytest.mark.parametrize(("given", "alias"), [("app", "alias/app"), ("alias/a/b_c-d", "alias/a/b_c-d")])
def test_alias_names(given: str, alias: str) -> None:
    assert alias_of(given) == alias


@pytest.mark.parametrize("bad", ["", "has space", "alias/", "aws/s3", "alias/aws/mine", "x" * 300])
def test_malformed_aliases(bad: str) -> None:
    with pytest.raises(ValueError):
        alias_of(bad)
