"""The MetadataStore contract: every backend must pass this module unchanged.

Add a backend by extending `BACKENDS` and `_open_backend`; the tests only see `Backend`.
Listings are checked against `reference_list`, a deliberately naive model of S3's semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from s3server.config import Rate
from s3server.metadata.base import (
    LISTED_FIELDS,
    Bucket,
    BucketStats,
    DeleteCondition,
    Encryption,
    KmsKey,
    ListPage,
    MetadataError,
    MetadataStore,
    NodeEntry,
    ObjectRecord,
    Part,
    Segment,
    Upload,
    UploadsPage,
    WriteCondition,
)
from s3server.metadata.errors import DomainError, KmsAliasExistsError, NoSuchBucketError
from s3server.metadata.postgres import PostgresMetadataStore
from s3server.metadata.sqlite import MIGRATIONS, SqliteMetadataStore, key_successor, prefix_successor
from s3server.metadata.tables import load_dict
from s3server.s3.common import new_version_id
from s3server.s3.errors import from_domain
from tests.support.postgres import PostgresCluster, statement_counting

BACKENDS = ["sqlite", "postgres"]

NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


@dataclass
class StatementCounter:
    count: int = 0  # SQL statements started
    work: int = 0  # backend-specific units of work (SQLite: VM instructions, in steps of 100)


@dataclass
class Backend:
    """A store under test, plus (where the backend can) a way to count the statements it runs."""

    name: str
    store: MetadataStore
    counting: Callable[[], contextlib.AbstractContextManager[StatementCounter]] | None = None
    extras: dict[str, object] = field(default_factory=dict)


def _sqlite_counting(
    store: SqliteMetadataStore,
) -> Callable[[], contextlib.AbstractContextManager[StatementCounter]]:
    @contextlib.contextmanager
    def counting() -> Iterator[StatementCounter]:
        counter = StatementCounter()

        def trace(_sql: str) -> None:
            counter.count += 1

        def progress() -> int:
            counter.work += 100
            return 0

        store.db.set_trace_callback(trace)
        store.db.set_progress_handler(progress, 100)
        try:
            yield counter
        finally:
            store.db.set_trace_callback(None)
            store.db.set_progress_handler(None, 0)

    return counting


@pytest.fixture(scope="session")
def contract_postgres_dsn(postgres_cluster: PostgresCluster) -> str:
    """One database for the contract suite, emptied before each test (much faster than one each)."""
    return postgres_cluster.create_database("contract")


@contextlib.asynccontextmanager
async def _open_backend(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if name == "sqlite":
        store = SqliteMetadataStore(tmp_path / "metadata.db")
        await store.open()
        try:
            yield Backend(name, store, _sqlite_counting(store))
        finally:
            await store.close()
    elif name == "postgres":
        # Work is counted as rows of `objects` read (EXPLAIN ANALYZE), not VM instructions.
        dsn = request.getfixturevalue("contract_postgres_dsn")
        pg = PostgresMetadataStore(dsn)
        await pg.open()
        try:
            await pg.db.run(
                lambda conn: conn.execute(
                    "TRUNCATE buckets, object_blobs, s3_rate_buckets, storage_nodes, kms_keys CASCADE"
                )
            )
            yield Backend(name, pg, statement_counting(pg, StatementCounter), {"dsn": dsn})
        finally:
            await pg.close()
    else:  # pragma: no cover - a backend listed without a way to open it
        raise AssertionError(f"unknown backend {name}")


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with _open_backend(request.param, tmp_path, request) as opened:
        yield opened


@pytest.fixture
def store(backend: Backend) -> MetadataStore:
    return backend.store


# -- helpers


def bucket(name: str = "photos", owner: str = "alice", created: datetime = NOW) -> Bucket:
    return Bucket(name=name, owner=owner, region="us-east-1", created=created)


def record(key: str, size: int = 10, *, bucket_name: str = "photos", blob: str | None = None) -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket_name,
        key=key,
        size=size,
        etag="9e107d9d372bb6826bd81d3542a419d6",
        last_modified=NOW,
        segments=[Segment(blob or f"blob:{bucket_name}:{key}", size)],
        owner="alice",
    )


async def put_all(
    store: MetadataStore, keys: list[str], bucket_name: str = "photos", width: int = 64
) -> None:
    """Put many keys concurrently (bounded), the way a busy server would."""
    gate = asyncio.Semaphore(width)

    async def one(key: str) -> None:
        async with gate:
            await store.put_object(record(key, size=len(key.encode()), bucket_name=bucket_name))

    await asyncio.gather(*(one(k) for k in keys))


def utf8(s: str) -> bytes:
    return s.encode("utf-8")


def reference_list(
    keys: list[str], *, prefix: str = "", delimiter: str = "", after: str = "", max_keys: int = 1000
) -> tuple[list[str], list[str], bool, str | None]:
    """(keys, common prefixes, is_truncated, next_marker), computed the obvious way."""
    entries: dict[str, bool] = {}  # name -> is a common prefix
    for key in keys:
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            entries[key[: cut + len(delimiter)]] = True
        else:
            entries[key] = False
    ordered = sorted((name for name in entries if utf8(name) > utf8(after)), key=utf8)
    page = ordered[: max(max_keys, 0)]
    return (
        [n for n in page if not entries[n]],
        [n for n in page if entries[n]],
        len(ordered) > len(page) and max_keys > 0,
        page[-1] if page else None,
    )


def summary(page: ListPage) -> tuple[list[str], list[str], bool, str | None]:
    return ([o.key for o in page.objects], page.common_prefixes, page.is_truncated, page.next_marker)


def merged(page: ListPage) -> list[str]:
    return sorted([o.key for o in page.objects] + page.common_prefixes, key=utf8)


# -- buckets


async def test_create_get_and_list_buckets(store: MetadataStore) -> None:
    await store.create_bucket(bucket("photos", "alice"))
    await store.create_bucket(bucket("docs", "bob", NOW + timedelta(seconds=1)))
    await store.create_bucket(bucket("archive", "alice"))

    got = await store.get_bucket("photos")
    assert got == bucket("photos", "alice")
    assert got is not None and got.created.tzinfo is not None and got.created.utcoffset() == timedelta(0)
    assert await store.get_bucket("nope") is None

    assert [b.name for b in await store.list_buckets()] == ["archive", "docs", "photos"]
    assert [b.name for b in await store.list_buckets("alice")] == ["archive", "photos"]
    assert [b.name for b in await store.list_buckets("bob")] == ["docs"]
    assert await store.list_buckets("carol") == []


async def test_create_bucket_twice(store: MetadataStore) -> None:
    await store.create_bucket(bucket("photos", "alice"))
    with pytest.raises(DomainError) as mine:
        await store.create_bucket(bucket("photos", "alice"))
    assert from_domain(mine.value).code == "BucketAlreadyOwnedByYou"
    with pytest.raises(DomainError) as theirs:
        await store.create_bucket(bucket("photos", "bob"))
    assert from_domain(theirs.value).code == "BucketAlreadyExists"
    assert (await store.get_bucket("photos")) == bucket("photos", "alice")


async def test_delete_bucket(store: MetadataStore) -> None:
    with pytest.raises(DomainError) as missing:
        await store.delete_bucket("photos")
    assert from_domain(missing.value).code == "NoSuchBucket"

    await store.create_bucket(bucket())
    await store.put_object(record("a"))
    with pytest.raises(DomainError) as full:
        await store.delete_bucket("photos")
    assert from_domain(full.value).code == "BucketNotEmpty"

    await store.delete_object("photos", "a")
    await store.delete_bucket("photos")
    assert await store.get_bucket("photos") is None
    await store.create_bucket(bucket("photos", "bob"))  # the name is free again
    assert (await store.get_bucket("photos")) == bucket("photos", "bob")


async def test_ping(store: MetadataStore) -> None:
    await store.ping()


# -- objects


async def test_put_into_missing_bucket(store: MetadataStore) -> None:
    with pytest.raises(DomainError) as err:
        await store.put_object(record("a", bucket_name="nope"))
    assert from_domain(err.value).code == "NoSuchBucket"
    assert await store.get_object("nope", "a") is None


async def test_put_get_replace_delete(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    first = ObjectRecord(
        bucket="photos",
        key="2026/cat.jpg",
        size=300,
        etag="0cc175b9c0f1b6a831c399e269772661-3",
        last_modified=NOW,
        segments=[Segment("b1", 100), Segment("b2", 100), Segment("b3", 100)],
        content_type="image/jpeg",
        headers={"Content-Disposition": 'attachment; filename="cat.jpg"', "Cache-Control": "no-cache"},
        user_metadata={"camera": "Leica", "ünïcode": "välue ☃"},
        checksums={"CRC32": "AAAAAA==", "type": "COMPOSITE"},
        tags={"k": "v", "empty": ""},
        parts_count=3,
        part_sizes=[100, 100, 100],
        storage_class="STANDARD_IA",
        owner="alice",
    )
    assert await store.put_object(first) is None
    got = await store.get_object("photos", "2026/cat.jpg")
    assert got == first
    assert got is not None and got.last_modified.utcoffset() == timedelta(0)

    second = record("2026/cat.jpg", size=5, blob="b4")
    replaced = await store.put_object(second)
    assert replaced == first
    assert await store.get_object("photos", "2026/cat.jpg") == second

    assert (await store.delete_object("photos", "2026/cat.jpg")).removed == second
    assert await store.get_object("photos", "2026/cat.jpg") is None
    assert (await store.delete_object("photos", "2026/cat.jpg")).removed is None
    assert (await store.delete_object("nope", "x")).removed is None


async def test_naive_timestamp_is_utc(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    naive = record("a")
    naive.last_modified = datetime(2026, 1, 2, 3, 4, 5, 6)
    await store.put_object(naive)
    got = await store.get_object("photos", "a")
    assert got is not None and got.last_modified == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


async def test_keys_are_distinct_rows(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.create_bucket(bucket("other"))
    keys = ["a", "a/", "a/b", "a+", "A", "a ", "a\x7f", "😀", "a" * 1024]
    for key in keys:
        await store.put_object(record(key))
    await store.put_object(record("a", size=99, bucket_name="other"))
    for key in keys:
        got = await store.get_object("photos", key)
        assert got is not None and got.key == key and got.size == 10
    other = await store.get_object("other", "a")
    assert other is not None and other.size == 99


async def test_bucket_stats(backend: Backend) -> None:
    store = backend.store
    stats = getattr(store, "bucket_stats", None)
    assert stats is not None, "every backend offers bucket_stats"
    assert await stats("photos") is None
    await store.create_bucket(bucket())
    assert await stats("photos") == (0, 0)
    await store.put_object(record("a", 10))
    await store.put_object(record("b", 20))
    assert await stats("photos") == (2, 30)
    await store.put_object(record("a", 5))  # replace: count unchanged, bytes adjusted
    assert await stats("photos") == (2, 25)
    await store.delete_object("photos", "b")
    await store.delete_object("photos", "b")  # deleting nothing changes nothing
    assert await stats("photos") == (1, 5)
    with pytest.raises(DomainError):
        await store.put_object(record("x", 1000, bucket_name="nope"))
    assert await stats("photos") == (1, 5)


async def test_concurrent_writes_keep_their_own_outcomes(backend: Backend) -> None:
    """Concurrent writes may share a transaction; one failing must not undo or fail the others."""
    store = backend.store
    await store.create_bucket(bucket())
    outcomes = await asyncio.gather(
        *(
            store.put_object(record(f"k{i}", 1, bucket_name="photos" if i % 3 else "nope"))
            for i in range(300)
        ),
        return_exceptions=True,
    )
    for i, outcome in enumerate(outcomes):
        if i % 3:
            assert outcome is None
        else:
            assert isinstance(outcome, DomainError) and from_domain(outcome).code == "NoSuchBucket"
    assert await backend.store.bucket_stats("photos") == (200, 200)  # type: ignore[attr-defined]
    page = await store.list_objects("photos")
    assert sorted(o.key for o in page.objects) == sorted(f"k{i}" for i in range(300) if i % 3)


async def test_concurrent_versioned_writes_and_deletes_all_commit(backend: Backend) -> None:
    """A versioned write moves the bucket's counters more than once in its transaction (the old
    version archived, the new one counted); concurrent ones on different keys must neither
    deadlock nor lose a count."""
    store = backend.store
    await store.create_bucket(bucket())
    await store.set_bucket_versioning("photos", "Enabled")
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        key = f"k{i % 40}"
        async with gate:
            if i % 4 == 3:
                await store.delete_object("photos", key, marker_id=new_version_id())
            else:
                written = record(key, 1, blob=f"blob-{i}")
                written.version_id = new_version_id()
                await store.put_object(written)

    await asyncio.gather(*(one(i) for i in range(400)))
    stats = {s.name: s for s in await store.all_bucket_stats()}["photos"]
    assert stats.objects + stats.versions == 400
    page = await store.list_object_versions("photos", max_keys=1000)
    assert len(page.versions) == 400 and not page.is_truncated
    assert sum(not v.delete_marker for v in page.versions) == 300


async def test_referenced_blobs(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.create_bucket(bucket("other"))
    multipart = record("mp")
    multipart.segments = [Segment("p1", 5), Segment("p2", 5)]
    await store.put_object(multipart)
    await store.put_object(record("a", blob="x1"))
    await store.put_object(record("b", blob="shared"))
    await store.put_object(record("c", blob="shared", bucket_name="other"))
    assert await store.referenced_blobs([]) == set()
    assert await store.referenced_blobs(["p1", "p2", "x1", "shared", "ghost"]) == {"p1", "p2", "x1", "shared"}

    await store.put_object(record("a", blob="x2"))  # replaced: x1 is free
    await store.delete_object("photos", "mp")
    await store.delete_object("photos", "b")  # "shared" is still used by other/c
    assert await store.referenced_blobs(["p1", "p2", "x1", "x2", "shared"]) == {"x2", "shared"}
    await store.delete_object("other", "c")
    assert await store.referenced_blobs(["shared", "x2"]) == {"x2"}

    many = [f"nothing-{i}" for i in range(2500)] + ["x2"]
    assert await store.referenced_blobs(many) == {"x2"}


# -- listing


async def test_byte_order(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    keys = [
        "a",
        "B",
        "a/b",
        "a+b",
        "a/",
        "a0",
        "é",
        "z",
        "\x7f",
        "\uff5e",
        "😀",
        "\ue000",
        "a\x7f",
        "a~",
        "a\t",
    ]
    for key in keys:
        await store.put_object(record(key))
    page = await store.list_objects("photos")
    listed = [o.key for o in page.objects]
    assert listed == sorted(keys, key=utf8)
    assert listed.index("B") < listed.index("a")
    assert listed.index("a+b") < listed.index("a/") < listed.index("a/b")
    # UTF-16 would put U+1F600 (surrogates D83D…) before U+FF5E and U+E000; UTF-8 puts it after.
    assert listed.index("\ue000") < listed.index("\uff5e") < listed.index("😀")
    assert listed[-1] == "😀"
    assert not page.is_truncated and page.next_marker == "😀"


async def test_listing_empty_and_missing(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    page = await store.list_objects("photos")
    assert summary(page) == ([], [], False, None)
    page = await store.list_objects("photos", prefix="x", delimiter="/", after="q")
    assert summary(page) == ([], [], False, None)


async def test_max_keys_zero(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.put_object(record("a"))
    for delimiter in ("", "/"):
        page = await store.list_objects("photos", delimiter=delimiter, max_keys=0)
        assert summary(page) == ([], [], False, None)


async def test_prefix_and_delimiter(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    keys = [
        "photos/2025/a.jpg",
        "photos/2025/b.jpg",
        "photos/2026/c.jpg",
        "photos/index",
        "photos-old",
        "readme",
    ]
    for key in keys:
        await store.put_object(record(key))

    page = await store.list_objects("photos", delimiter="/")
    assert summary(page) == (["photos-old", "readme"], ["photos/"], False, "readme")

    page = await store.list_objects("photos", prefix="photos/", delimiter="/")
    assert summary(page) == (["photos/index"], ["photos/2025/", "photos/2026/"], False, "photos/index")

    page = await store.list_objects("photos", prefix="photos/20", delimiter="/")
    assert summary(page) == ([], ["photos/2025/", "photos/2026/"], False, "photos/2026/")

    page = await store.list_objects("photos", prefix="photos")
    assert [o.key for o in page.objects] == sorted(keys[:5], key=utf8)

    # Multi-character delimiter; the delimiter is only looked for after the prefix.
    page = await store.list_objects("photos", delimiter="/20")
    assert summary(page) == (["photos-old", "photos/index", "readme"], ["photos/20"], False, "readme")
    page = await store.list_objects("photos", prefix="photos/2", delimiter="/20")
    assert page.common_prefixes == []


async def test_after_a_common_prefix(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    for key in ["a", "photos/x", "photos/y/z", "photos0", "q"]:
        await store.put_object(record(key))
    page = await store.list_objects("photos", delimiter="/", after="photos/")
    assert summary(page) == (["photos0", "q"], [], False, "q")
    # `after` inside a rolled-up prefix also continues past the whole prefix.
    page = await store.list_objects("photos", delimiter="/", after="photos/x")
    assert summary(page) == (["photos0", "q"], [], False, "q")
    # Without a delimiter nothing is rolled up, so keys after the marker come back.
    page = await store.list_objects("photos", after="photos/")
    assert [o.key for o in page.objects] == ["photos/x", "photos/y/z", "photos0", "q"]
    page = await store.list_objects("photos", prefix="photos/", delimiter="/", after="photos/x")
    assert summary(page) == ([], ["photos/y/"], False, "photos/y/")


async def test_truncation_counts_keys_and_prefixes_together(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    for key in ["a/1", "a/2", "b", "c/1", "d"]:
        await store.put_object(record(key))
    page = await store.list_objects("photos", delimiter="/", max_keys=2)
    assert summary(page) == (["b"], ["a/"], True, "b")
    page = await store.list_objects("photos", delimiter="/", max_keys=2, after="b")
    assert summary(page) == (["d"], ["c/"], False, "d")
    page = await store.list_objects("photos", delimiter="/", max_keys=3)
    assert summary(page) == (["b"], ["a/", "c/"], True, "c/")  # "d" remains
    page = await store.list_objects("photos", delimiter="/", max_keys=4)
    assert summary(page) == (["b", "d"], ["a/", "c/"], False, "d")


def generated_keys() -> list[str]:
    """A few hundred keys in nested "directories", with the characters that break naive servers."""
    keys: set[str] = set()
    names = ["a", "a+b", "a-b", "a/", "a/b", "B", "é", "日本", "😀", "x\x7f", "z~", "a//b", "a/-b", "a-/b"]
    for top, sub in itertools.product(
        ["dir1", "dir2", "dir1-old", "é", "😀", "a"], ["", "sub1/", "sub2/", "s/t/"]
    ):
        for name in names:
            keys.add(f"{top}/{sub}{name}")
    keys.update(names)
    keys.update(f"flat{i:03d}" for i in range(60))
    keys.update(["dir1", "dir1/", "dir1//", "dir10/x", "\uff5e/x", "\ue000/y", "ab", "ab/", "abc"])
    return sorted(keys, key=utf8)


KEYS = generated_keys()
PREFIXES = ["", "a", "a/", "dir1", "dir1/", "dir1/sub1/", "é/", "😀", "dir1/s/t/", "flat0", "nothing"]
DELIMITERS = ["", "/", "-", "//", "/-", "b", "😀", "é"]
PAGE_SIZES = [1, 2, 3, 7, 50, 1000]


@pytest.fixture
async def populated(store: MetadataStore) -> MetadataStore:
    await store.create_bucket(bucket())
    await put_all(store, KEYS)
    return store


@pytest.mark.parametrize(
    ("prefix", "delimiter"),
    list(itertools.product(PREFIXES, DELIMITERS)),
    ids=[f"p={p!r}-d={d!r}" for p, d in itertools.product(PREFIXES, DELIMITERS)],
)
async def test_pagination_walks_everything(populated: MetadataStore, prefix: str, delimiter: str) -> None:
    store = populated
    assert len(KEYS) > 300
    full = reference_list(KEYS, prefix=prefix, delimiter=delimiter, max_keys=10**6)
    expected = sorted(full[0] + full[1], key=utf8)
    for max_keys in PAGE_SIZES:
        seen: list[str] = []
        after = ""
        for _ in range(len(expected) + 2):
            page = await store.list_objects(
                "photos", prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys
            )
            want = reference_list(KEYS, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)
            assert summary(page) == want, f"max_keys={max_keys} after={after!r}"
            assert len(page.objects) + len(page.common_prefixes) <= max_keys
            seen.extend(merged(page))
            if not page.is_truncated:
                break
            assert page.next_marker is not None
            after = page.next_marker
        else:
            pytest.fail("pagination did not terminate")
        assert seen == expected, f"max_keys={max_keys}"


@pytest.mark.parametrize(
    "after",
    [
        "",
        "a",
        "a/",
        "a/b",
        "a/zzz",
        "dir1",
        "dir1/",
        "dir1/sub1/",
        "dir1/sub1/a",
        "dir1-",
        "é",
        "😀",
        "😀/",
        "\U0010ffff",
    ],
)
@pytest.mark.parametrize("delimiter", ["", "/", "//", "-"])
@pytest.mark.parametrize("prefix", ["", "dir1/", "a"])
async def test_arbitrary_markers(populated: MetadataStore, prefix: str, delimiter: str, after: str) -> None:
    for max_keys in (1, 5, 1000):
        page = await populated.list_objects(
            "photos", prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys
        )
        want = reference_list(KEYS, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)
        assert summary(page) == want


@pytest.mark.parametrize("delimiter", ["", "/", "//"])
@pytest.mark.parametrize("prefix", ["", "dir1/", "a"])
async def test_listed_rows_match_records(populated: MetadataStore, prefix: str, delimiter: str) -> None:
    """list_object_rows is list_objects with its keys left as rows: the same entries, pages and
    markers, and every row holds what the record shows (checksums and storage classes included)."""
    store = populated
    special = record("dir1/with-checksums", size=77)
    special.checksums = {"CRC32": "AAAAAA==", "SHA256": "x" * 44, "type": "FULL_OBJECT"}
    special.storage_class = "STANDARD_IA"
    special.last_modified = datetime(2031, 2, 3, 4, 5, 6, 789_000, tzinfo=UTC)
    await store.put_object(special)
    for after in ("", "dir1/sub1/a", "dir1/with"):
        for max_keys in (0, 1, 7, 1000):
            kwargs = {"prefix": prefix, "delimiter": delimiter, "after": after, "max_keys": max_keys}
            page = await store.list_objects("photos", **kwargs)  # type: ignore[arg-type]
            rows = await store.list_object_rows("photos", **kwargs)  # type: ignore[arg-type]
            assert (rows.is_truncated, rows.next_marker) == (page.is_truncated, page.next_marker)
            prefixes = [e.decode("utf-8") for e in rows.entries if isinstance(e, bytes)]
            assert prefixes == page.common_prefixes
            listed = [e for e in rows.entries if not isinstance(e, bytes)]
            assert len(listed) == len(page.objects)
            for row, rec in zip(listed, page.objects, strict=True):
                fields = dict(zip(LISTED_FIELDS, row, strict=True))
                assert fields["key"] == rec.key.encode("utf-8")
                assert rows.when(fields["last_modified"]) == rec.last_modified
                assert load_dict(fields["checksums"]) == rec.checksums
                assert (fields["size"], fields["etag"], fields["storage_class"], fields["owner"]) == (
                    rec.size,
                    rec.etag,
                    rec.storage_class,
                    rec.owner,
                )
    rows = await store.list_object_rows("photos", prefix="dir1/with")
    (row,) = rows.entries
    assert not isinstance(row, bytes)
    fields = dict(zip(LISTED_FIELDS, row, strict=True))
    assert rows.when(fields["last_modified"]) == special.last_modified
    assert load_dict(fields["checksums"]) == special.checksums
    assert fields["storage_class"] == "STANDARD_IA" and fields["size"] == 77


async def test_delimiter_listing_skips_common_prefixes(backend: Backend) -> None:
    """20,000 keys under "big/": a delimiter listing costs per entry returned, not per key scanned."""
    store = backend.store
    await store.create_bucket(bucket())
    big = [f"big/d{d:03d}/f{f:03d}" for d in range(200) for f in range(100)]
    others = ["a", "big0", "big/top", "c/1", "c/2", "z"]
    await put_all(store, big + others, width=256)

    cases = [
        ({"delimiter": "/"}, (["a", "big0", "z"], ["big/", "c/"])),
        ({"delimiter": "/", "prefix": "big/", "max_keys": 10}, None),
        ({"delimiter": "/", "prefix": "big/"}, None),
    ]
    for kwargs, exact in cases:
        if backend.counting is not None:
            with backend.counting() as counter:
                page = await store.list_objects("photos", **kwargs)  # type: ignore[arg-type]
        else:
            counter = None
            page = await store.list_objects("photos", **kwargs)  # type: ignore[arg-type]
        entries = len(page.objects) + len(page.common_prefixes)
        assert summary(page) == reference_list(big + others, **kwargs)  # type: ignore[arg-type]
        if exact is not None:
            assert ([o.key for o in page.objects], page.common_prefixes) == exact
        if counter is not None:
            # The walk is one statement whatever the number of entries, plus a read per run of keys
            # that stand for themselves (three runs here at most) and the transaction.
            assert counter.count <= 6, f"{kwargs}: {counter.count} statements for {entries} entries"
            # Reading the 20,000 keys would take well over 100,000 VM instructions.
            assert counter.work <= 300 * entries + 1000, f"{kwargs}: {counter.work} instructions"

    # A walk of the big prefix one common prefix per page never reads the 100 keys under each.
    if backend.counting is not None:
        with backend.counting() as counter:
            page = await store.list_objects(
                "photos", prefix="big/", delimiter="/", after="big/d100/", max_keys=1
            )
        assert page.common_prefixes == ["big/d101/"] and page.is_truncated
        assert counter.count <= 5 and counter.work <= 1000


@pytest.mark.parametrize(
    "shape",
    [
        "alternating",  # a key, then a common prefix, and again: many runs of one key
        "blocks",  # runs of about 7 keys between common prefixes: six runs, each a range
    ],
)
async def test_delimiter_listing_rows_between_common_prefixes(backend: Backend, shape: str) -> None:
    """Keys that stand for themselves between common prefixes come back with their own rows (each
    key's size is its length here), in order, over every page."""
    store = backend.store
    await store.create_bucket(bucket())
    if shape == "alternating":
        keys = [k for i in range(300) for k in (f"k{i:04d}", f"k{i:04d}d/x", f"k{i:04d}d/y")]
    else:
        keys = [f"b{b}/k{k:02d}" + "x" * k for b in range(6) for k in range(40)]
        keys += [f"b{b}/k{k:02d}d/f" for b in range(6) for k in (5, 12, 19, 26, 33)]
    await put_all(store, keys)
    prefix = "" if shape == "alternating" else "b3/"
    for max_keys in (1000, 7):
        after = ""
        seen_keys: list[str] = []
        seen_prefixes: list[str] = []
        while True:
            page = await store.list_objects(
                "photos", prefix=prefix, delimiter="/", after=after, max_keys=max_keys
            )
            for obj in page.objects:
                assert obj.size == len(obj.key.encode()), obj.key
            seen_keys += [o.key for o in page.objects]
            seen_prefixes += page.common_prefixes
            if not page.is_truncated:
                break
            assert page.next_marker is not None
            after = page.next_marker
        expected = reference_list(keys, prefix=prefix, delimiter="/", max_keys=100_000)
        assert (seen_keys, seen_prefixes) == (expected[0], expected[1])


def test_successors() -> None:
    assert prefix_successor(b"a/") == b"a0"
    assert prefix_successor(b"ab\xff\xff") == b"ac"
    assert prefix_successor(b"\xff") is None
    assert prefix_successor(b"") is None
    assert key_successor(b"a") == b"a\x00"
    assert b"a" < key_successor(b"a") < b"a\x01"


# -- conditional writes and tags


async def test_put_object_conditions(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    create = WriteCondition(if_none_match=True)
    assert await store.put_object(record("a", blob="b1"), create) is None
    with pytest.raises(DomainError) as exists:
        await store.put_object(record("a", blob="b2"), create)
    assert from_domain(exists.value).code == "PreconditionFailed" and from_domain(exists.value).status == 412
    assert from_domain(exists.value).fields == {"Condition": "If-None-Match"}
    current = await store.get_object("photos", "a")
    assert current is not None and current.segments == [Segment("b1", 10)]

    etag = current.etag
    with pytest.raises(DomainError) as missing:
        await store.put_object(record("nope"), WriteCondition(if_match=etag))
    assert from_domain(missing.value).code == "NoSuchKey"
    assert await store.get_object("photos", "nope") is None
    with pytest.raises(DomainError) as differs:
        await store.put_object(record("a", blob="b3"), WriteCondition(if_match="0" * 32))
    assert from_domain(differs.value).code == "PreconditionFailed"
    assert from_domain(differs.value).fields == {"Condition": "If-Match"}
    for accepted in (etag, f'"{etag}"', "*", f'"x", "{etag}"'):
        replaced = await store.put_object(record("a", blob="b4"), WriteCondition(if_match=accepted))
        assert replaced is not None and replaced.key == "a"
    assert await store.bucket_stats("photos") == (1, 10)  # type: ignore[attr-defined]
    with pytest.raises(DomainError) as no_bucket:
        await store.put_object(record("a", bucket_name="nope"), create)
    assert from_domain(no_bucket.value).code == "NoSuchBucket"


async def test_if_none_match_race_has_one_winner(store: MetadataStore) -> None:
    """Concurrent create-only writes of one key: the database's order decides, exactly one wins."""
    await store.create_bucket(bucket())
    outcomes = await asyncio.gather(
        *(store.put_object(record("k", blob=f"b{i}"), WriteCondition(if_none_match=True)) for i in range(50)),
        return_exceptions=True,
    )
    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1
    assert all(
        isinstance(o, DomainError) and from_domain(o).code == "PreconditionFailed"
        for o in outcomes
        if o is not None
    )
    got = await store.get_object("photos", "k")
    assert got is not None and got.segments[0].blob_id == f"b{winners[0]}"
    assert await store.referenced_blobs([f"b{i}" for i in range(50)]) == {f"b{winners[0]}"}


def _refusal(exc: BaseException) -> tuple[str, dict[str, str]]:
    assert isinstance(exc, DomainError), exc
    err = from_domain(exc)
    return err.code, err.fields


@pytest.mark.parametrize("versioning", ["", "Enabled", "Suspended"])
async def test_delete_conditions_on_the_current_version(store: MetadataStore, versioning: str) -> None:
    await store.create_bucket(bucket())
    if versioning:
        await store.set_bucket_versioning("photos", versioning)
    etag = "9e107d9d372bb6826bd81d3542a419d6"
    refused = [
        (DeleteCondition(if_match="0" * 32), ("PreconditionFailed", {"Condition": "If-Match"})),
        (
            DeleteCondition(if_match=etag, size=11),
            ("PreconditionFailed", {"Condition": "x-amz-if-match-size"}),
        ),
        (
            DeleteCondition(last_modified=NOW + timedelta(seconds=1)),
            ("PreconditionFailed", {"Condition": "x-amz-if-match-last-modified-time"}),
        ),
    ]
    written = record("a", blob="b1")
    written.version_id = new_version_id()
    await store.put_object(written)
    for condition, answer in refused:
        with pytest.raises(DomainError) as info:
            await store.delete_object("photos", "a", marker_id=new_version_id(), condition=condition)
        assert _refusal(info.value) == answer
    # A refused delete changed nothing: no marker, the object still current.
    assert (await store.get_object("photos", "a")) is not None
    assert len((await store.list_object_versions("photos")).versions) == 1
    # Every condition holding (the time to the second, the ETag quoted): the delete goes through.
    holds = DeleteCondition(if_match=f'"{etag}"', last_modified=NOW.replace(microsecond=0), size=10)
    done = await store.delete_object("photos", "a", marker_id=new_version_id(), condition=holds)
    assert done.delete_marker == bool(versioning)
    assert await store.get_object("photos", "a") is None
    # No current object (gone, or a delete marker on top): If-Match is NoSuchKey, even `*`.
    for if_match in ("*", etag):
        with pytest.raises(DomainError) as info:
            await store.delete_object(
                "photos", "a", marker_id=new_version_id(), condition=DeleteCondition(if_match)
            )
        assert _refusal(info.value) == ("NoSuchKey", {"Key": "a"})
    left = {"": 0, "Enabled": 2, "Suspended": 1}[versioning]  # the refusals wrote no marker
    assert len((await store.list_object_versions("photos")).versions) == left
    # The size and time conditions alone hold when there is nothing, as an unconditional delete does.
    await store.delete_object("photos", "a", marker_id=new_version_id(), condition=DeleteCondition(size=1))


async def test_delete_conditions_on_a_version(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.set_bucket_versioning("photos", "Enabled")
    old, new = record("a", 3, blob="old"), record("a", 4, blob="new")
    old.version_id, new.version_id = new_version_id(), new_version_id()
    old.etag, new.etag = "1" * 32, "2" * 32
    await store.put_object(old)
    await store.put_object(new)
    for version, etag in ((old.version_id, new.etag), (new.version_id, old.etag)):
        with pytest.raises(DomainError) as info:
            await store.delete_object("photos", "a", version, condition=DeleteCondition(if_match=etag))
        assert _refusal(info.value) == ("PreconditionFailed", {"Condition": "If-Match"})
    with pytest.raises(DomainError) as info:
        await store.delete_object("photos", "a", old.version_id, condition=DeleteCondition(size=4))
    assert _refusal(info.value)[0] == "PreconditionFailed"
    assert len((await store.list_object_versions("photos")).versions) == 2
    done = await store.delete_object(
        "photos", "a", old.version_id, condition=DeleteCondition("1" * 32, size=3)
    )
    assert done.removed is not None and done.removed.segments == [Segment("old", 3)]
    missing = new_version_id()
    with pytest.raises(DomainError) as info:
        await store.delete_object("photos", "a", missing, condition=DeleteCondition(if_match="*"))
    assert _refusal(info.value) == ("NoSuchVersion", {"Key": "a", "VersionId": missing})
    marker = await store.delete_object("photos", "a", marker_id=new_version_id())
    assert marker.version_id is not None
    with pytest.raises(DomainError) as info:
        await store.delete_object("photos", "a", marker.version_id, condition=DeleteCondition(if_match="*"))
    assert _refusal(info.value)[0] == "NoSuchVersion"
    done = await store.delete_object("photos", "a", new.version_id, condition=DeleteCondition("*"))
    assert done.removed is not None and done.removed.segments == [Segment("new", 4)]


@pytest.mark.parametrize("versioning", ["", "Enabled"])
async def test_racing_conditional_deletes_and_writes_have_one_winner(
    store: MetadataStore, versioning: str
) -> None:
    """Writers and deleters all conditioned on the same ETag: the first to commit changes it, so
    exactly one of them succeeds and every other is refused."""
    await store.create_bucket(bucket())
    if versioning:
        await store.set_bucket_versioning("photos", versioning)
    first = record("k", blob="first")
    first.version_id = new_version_id()
    await store.put_object(first)

    async def write(i: int) -> object:
        written = record("k", blob=f"w{i}")
        written.etag, written.version_id = f"{i:032x}", new_version_id()
        return await store.put_object(written, WriteCondition(if_match=first.etag))

    async def delete(i: int) -> object:
        condition = DeleteCondition(if_match=first.etag)
        return await store.delete_object("photos", "k", marker_id=new_version_id(), condition=condition)

    outcomes = await asyncio.gather(
        *((write(i) if i % 2 else delete(i)) for i in range(32)), return_exceptions=True
    )
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(won) == 1, outcomes
    assert all(_refusal(o)[0] in ("PreconditionFailed", "NoSuchKey") for o in outcomes if o not in won)
    versions = (await store.list_object_versions("photos")).versions
    assert len(versions) == (2 if versioning else (1 if (await store.get_object("photos", "k")) else 0))


async def test_part_checksums_round_trip(store: MetadataStore) -> None:
    """A multipart object keeps each part's size and checksums (GetObjectAttributes lists them);
    one without part checksums reads back as before."""
    await store.create_bucket(bucket())
    with_sums, plain = record("mp", 8), record("old", 8)
    with_sums.parts_count = plain.parts_count = 2
    with_sums.part_sizes = plain.part_sizes = [5, 3]
    with_sums.part_checksums = [{"CRC32": "AAAAAA=="}, {"CRC32": "AQIDBA=="}]
    await store.put_object(with_sums)
    await store.put_object(plain)
    got = await store.get_object("photos", "mp")
    assert got is not None and (got.part_sizes, got.part_checksums) == ([5, 3], with_sums.part_checksums)
    got = await store.get_object("photos", "old")
    assert got is not None and (got.part_sizes, got.part_checksums) == ([5, 3], None)


async def test_update_tags_touches_only_tags(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    assert await store.update_tags("photos", "a", {"k": "v"}) is None
    original = record("a", blob="keep")
    original.tags = {"old": "1"}
    await store.put_object(original)
    updated = await store.update_tags("photos", "a", {"k": "v", "ü": "☃"})
    assert updated is not None and updated.tags == {"k": "v", "ü": "☃"}
    got = await store.get_object("photos", "a")
    assert got is not None and got.tags == {"k": "v", "ü": "☃"}
    assert (got.etag, got.segments) == (original.etag, original.segments)
    assert got.last_modified == original.last_modified
    cleared = await store.update_tags("photos", "a", {})
    assert cleared is not None and cleared.tags == {}
    assert await store.referenced_blobs(["keep"]) == {"keep"}


# -- multipart uploads


def upload(
    key: str = "big", upload_id: str = "u1", *, bucket_name: str = "photos", **extra: object
) -> Upload:
    return Upload(
        bucket=bucket_name,
        key=key,
        upload_id=upload_id,
        initiated=extra.pop("initiated", NOW),  # type: ignore[arg-type]
        owner="alice",
        **extra,  # type: ignore[arg-type]
    )


def part(number: int, size: int = 5, *, blob: str | None = None, upload_id: str = "u1") -> Part:
    return Part(
        part_number=number,
        size=size,
        etag=f"{number:032x}",
        last_modified=NOW + timedelta(seconds=number),
        blob_id=blob or f"{upload_id}-p{number}",
    )


def assembled(key: str, parts: list[Part], *, bucket_name: str = "photos") -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket_name,
        key=key,
        size=sum(p.size for p in parts),
        etag=f"{'ab' * 16}-{len(parts)}",
        last_modified=NOW,
        segments=[Segment(p.blob_id, p.size) for p in parts],
        checksums={"CRC32": "AAAAAA==-2", "type": "COMPOSITE"},
        parts_count=len(parts),
        part_sizes=[p.size for p in parts],
        owner="alice",
    )


async def test_create_and_get_upload(store: MetadataStore) -> None:
    with pytest.raises(DomainError) as no_bucket:
        await store.create_upload(upload())
    assert from_domain(no_bucket.value).code == "NoSuchBucket"
    await store.create_bucket(bucket())
    full = upload(
        "dir/ünï 😀",
        "u1",
        content_type="video/mp4",
        headers={"Cache-Control": "no-cache"},
        user_metadata={"camera": "Leica"},
        tags={"k": "v"},
        storage_class="STANDARD_IA",
        checksum_algorithm="SHA256",
        checksum_type="COMPOSITE",
    )
    await store.create_upload(full)
    got = await store.get_upload("photos", "dir/ünï 😀", "u1")
    assert got == full
    assert got is not None and got.initiated.utcoffset() == timedelta(0)
    assert await store.get_upload("photos", "other", "u1") is None  # the id belongs to another key
    assert await store.get_upload("other", "dir/ünï 😀", "u1") is None
    assert await store.get_upload("photos", "dir/ünï 😀", "u2") is None


async def test_parts_replace_and_list(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.create_upload(upload())
    with pytest.raises(DomainError) as unknown:
        await store.put_part("photos", "big", "nope", part(1))
    assert from_domain(unknown.value).code == "NoSuchUpload" and from_domain(unknown.value).fields == {
        "UploadId": "nope"
    }
    with pytest.raises(DomainError) as wrong_key:
        await store.put_part("photos", "other", "u1", part(1))
    assert from_domain(wrong_key.value).code == "NoSuchUpload"

    for number in (8, 1, 5, 3, 2):
        assert await store.put_part("photos", "big", "u1", part(number)) is None
    again = part(5, 7, blob="u1-p5-again")
    again.checksums = {"CRC32": "AAAAAA=="}
    replaced = await store.put_part("photos", "big", "u1", again)
    assert replaced == part(5)

    page = await store.list_parts("photos", "big", "u1")
    assert [p.part_number for p in page.parts] == [1, 2, 3, 5, 8] and not page.is_truncated
    assert page.parts[3] == again
    assert page.parts[0].last_modified.utcoffset() == timedelta(0)
    page = await store.list_parts("photos", "big", "u1", max_parts=2)
    assert [p.part_number for p in page.parts] == [1, 2] and page.is_truncated
    page = await store.list_parts("photos", "big", "u1", after=2, max_parts=2)
    assert [p.part_number for p in page.parts] == [3, 5] and page.is_truncated
    page = await store.list_parts("photos", "big", "u1", after=5, max_parts=2)
    assert [p.part_number for p in page.parts] == [8] and not page.is_truncated
    page = await store.list_parts("photos", "big", "u1", after=8)
    assert page.parts == [] and not page.is_truncated
    page = await store.list_parts("photos", "big", "u1", max_parts=0)
    assert page.parts == [] and page.is_truncated
    with pytest.raises(DomainError) as missing:
        await store.list_parts("photos", "big", "u2")
    assert from_domain(missing.value).code == "NoSuchUpload"

    # Part blobs of an upload in progress are referenced (the reaper keeps them); a replaced one is not.
    blobs = ["u1-p1", "u1-p5", "u1-p5-again", "u1-p8", "ghost"]
    assert await store.referenced_blobs(blobs) == {"u1-p1", "u1-p5-again", "u1-p8"}


async def test_complete_upload_is_one_transaction(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.put_object(record("big", 3, blob="old"))
    await store.create_upload(upload())
    await store.create_upload(upload("big", "u2"))  # another upload of the same key stays
    parts = [part(1), part(2), part(3, 2)]
    for p in [*parts, part(4)]:
        await store.put_part("photos", "big", "u1", p)
    await store.put_part("photos", "big", "u2", part(1, upload_id="u2"))

    chosen = [parts[0], parts[2]]  # part 2 and part 4 were uploaded but are not listed
    target = assembled("big", chosen)
    done = await store.complete_upload("photos", "big", "u1", target)
    assert done.replaced == record("big", 3, blob="old")
    assert sorted(done.unused_blobs) == ["u1-p2", "u1-p4"]
    assert await store.get_object("photos", "big") == target
    assert await store.get_upload("photos", "big", "u1") is None
    assert await store.get_upload("photos", "big", "u2") is not None
    with pytest.raises(DomainError) as gone:
        await store.list_parts("photos", "big", "u1")
    assert from_domain(gone.value).code == "NoSuchUpload"
    with pytest.raises(DomainError) as twice:
        await store.complete_upload("photos", "big", "u1", target)
    assert from_domain(twice.value).code == "NoSuchUpload"
    assert await store.bucket_stats("photos") == (1, 7)  # type: ignore[attr-defined]
    referenced = await store.referenced_blobs(["old", "u1-p1", "u1-p2", "u1-p3", "u1-p4", "u2-p1"])
    assert referenced == {"u1-p1", "u1-p3", "u2-p1"}
    page = await store.list_uploads("photos")
    assert [u.upload_id for u in page.uploads] == ["u2"]


async def test_complete_upload_refuses_and_changes_nothing(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.put_object(record("taken", blob="old"))
    for key, upload_id in (("big", "u1"), ("taken", "u2")):
        await store.create_upload(upload(key, upload_id))
        await store.put_part("photos", key, upload_id, part(1, upload_id=upload_id))

    # A segment that is no longer a part of the upload (it was uploaded again meanwhile).
    stale = assembled("big", [part(1, blob="replaced-blob")])
    with pytest.raises(DomainError) as invalid:
        await store.complete_upload("photos", "big", "u1", stale)
    assert from_domain(invalid.value).code == "InvalidPart"
    with pytest.raises(DomainError) as other_key:
        await store.complete_upload("photos", "other", "u1", assembled("other", [part(1)]))
    assert from_domain(other_key.value).code == "NoSuchUpload"
    taken = assembled("taken", [part(1, upload_id="u2")])
    with pytest.raises(DomainError) as exists:
        await store.complete_upload("photos", "taken", "u2", taken, WriteCondition(if_none_match=True))
    assert from_domain(exists.value).code == "PreconditionFailed"
    with pytest.raises(DomainError) as missing:
        await store.complete_upload(
            "photos", "big", "u1", assembled("big", [part(1)]), WriteCondition(if_match="*")
        )
    assert from_domain(missing.value).code == "NoSuchKey"

    assert await store.get_object("photos", "big") is None
    assert await store.get_object("photos", "taken") == record("taken", blob="old")
    for key, upload_id in (("big", "u1"), ("taken", "u2")):
        page = await store.list_parts("photos", key, upload_id)
        assert [p.part_number for p in page.parts] == [1]
    assert await store.bucket_stats("photos") == (1, 10)  # type: ignore[attr-defined]

    done = await store.complete_upload("photos", "taken", "u2", taken, WriteCondition(if_match="*"))
    assert done.replaced == record("taken", blob="old") and done.unused_blobs == []


async def test_abort_upload(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.create_upload(upload())
    await store.create_upload(upload("big", "u2"))
    for number in (1, 2):
        await store.put_part("photos", "big", "u1", part(number))
    await store.put_part("photos", "big", "u2", part(1, upload_id="u2"))
    with pytest.raises(DomainError) as wrong_key:
        await store.abort_upload("photos", "small", "u1")
    assert from_domain(wrong_key.value).code == "NoSuchUpload"
    assert sorted(await store.abort_upload("photos", "big", "u1")) == ["u1-p1", "u1-p2"]
    assert await store.get_upload("photos", "big", "u1") is None
    with pytest.raises(DomainError) as again:
        await store.abort_upload("photos", "big", "u1")
    assert from_domain(again.value).code == "NoSuchUpload" and from_domain(again.value).fields == {
        "UploadId": "u1"
    }
    with pytest.raises(DomainError) as late_part:
        await store.put_part("photos", "big", "u1", part(3))
    assert from_domain(late_part.value).code == "NoSuchUpload"
    assert await store.referenced_blobs(["u1-p1", "u1-p2", "u1-p3", "u2-p1"]) == {"u2-p1"}


async def test_delete_bucket_takes_its_uploads(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.create_bucket(bucket("other"))
    await store.create_upload(upload())
    await store.put_part("photos", "big", "u1", part(1))
    await store.put_part("photos", "big", "u1", part(2))
    await store.create_upload(upload("kept", "u9", bucket_name="other"))
    await store.put_part("other", "kept", "u9", part(1, upload_id="u9"))
    await store.put_object(record("a"))
    with pytest.raises(DomainError) as full:
        await store.delete_bucket("photos")
    assert from_domain(full.value).code == "BucketNotEmpty"
    assert await store.get_upload("photos", "big", "u1") is not None

    await store.delete_object("photos", "a")
    assert sorted(await store.delete_bucket("photos")) == ["u1-p1", "u1-p2"]
    assert await store.get_bucket("photos") is None
    assert await store.referenced_blobs(["u1-p1", "u1-p2", "u9-p1"]) == {"u9-p1"}
    await store.create_bucket(bucket())  # the name is free again, without the old uploads
    assert (await store.list_uploads("photos")).uploads == []
    assert await store.delete_bucket("photos") == []


async def test_stale_uploads(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    for i in range(5):
        await store.create_upload(upload(f"k{i}", f"u{i}", initiated=NOW + timedelta(hours=i)))
    stale = await store.stale_uploads(NOW + timedelta(hours=2, minutes=30))
    assert [u.upload_id for u in stale] == ["u0", "u1", "u2"]
    assert stale[0] == upload("k0", "u0")
    assert [u.upload_id for u in await store.stale_uploads(NOW + timedelta(days=1), limit=2)] == ["u0", "u1"]
    assert await store.stale_uploads(NOW) == []


UploadsSummary = tuple[list[tuple[str, str]], list[str], bool, tuple[str | None, str | None]]
UPLOAD_KEYS = ["b", "c d", "a/2", "b", "a/1", "a/1", "a+", "é/x", "😀", "B", "dir/sub/x", "dir/y"]


def reference_uploads(
    entries: list[tuple[str, str]],
    *,
    prefix: str = "",
    delimiter: str = "",
    key_marker: str = "",
    upload_id_marker: str = "",
    max_uploads: int = 1000,
) -> UploadsSummary:
    """(uploads, common prefixes, is_truncated, next markers), computed the obvious way."""
    items: dict[tuple[bytes, str], tuple[str, str | None]] = {}  # sort key -> (name, upload id)
    for key, upload_id in entries:
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = key[: cut + len(delimiter)]
            items[(utf8(common), "")] = (common, None)
        else:
            items[(utf8(key), upload_id)] = (key, upload_id)
    marker = utf8(key_marker)

    def after(sort_key: tuple[bytes, str]) -> bool:
        name, upload_id = sort_key
        if not key_marker:
            return True
        if name == marker and upload_id_marker and items[sort_key][1] is not None:
            return upload_id > upload_id_marker
        return name > marker

    ordered = [items[k] for k in sorted(items) if after(k)]
    page = ordered[:max_uploads]
    last = page[-1] if page else (None, None)
    return (
        [(n, u) for n, u in page if u is not None],
        [n for n, u in page if u is None],
        len(ordered) > len(page),
        last,
    )


def uploads_summary(page: UploadsPage) -> UploadsSummary:
    return (
        [(u.key, u.upload_id) for u in page.uploads],
        page.common_prefixes,
        page.is_truncated,
        (page.next_key_marker, page.next_upload_id_marker),
    )


@pytest.mark.parametrize(
    ("prefix", "delimiter"),
    [("", ""), ("", "/"), ("a", ""), ("a", "/"), ("dir/", "/"), ("dir", "/"), ("", "é"), ("zzz", "")],
)
async def test_list_uploads_pages(store: MetadataStore, prefix: str, delimiter: str) -> None:
    await store.create_bucket(bucket())
    await store.create_bucket(bucket("other"))
    await store.create_upload(upload("a/1", "elsewhere", bucket_name="other"))
    entries = [(key, f"id{i:02d}") for i, key in enumerate(UPLOAD_KEYS)]
    for key, upload_id in entries:
        await store.create_upload(upload(key, upload_id))

    full = reference_uploads(entries, prefix=prefix, delimiter=delimiter)
    page = await store.list_uploads("photos", prefix=prefix, delimiter=delimiter)
    assert uploads_summary(page) == full
    expected = full[0] + [(p, "") for p in full[1]]
    for max_uploads in (1, 2, 3, 1000):
        seen: list[tuple[str, str]] = []
        key_marker = upload_id_marker = ""
        for _ in range(len(entries) + 2):
            page = await store.list_uploads(
                "photos",
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                upload_id_marker=upload_id_marker,
                max_uploads=max_uploads,
            )
            want = reference_uploads(
                entries,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                upload_id_marker=upload_id_marker,
                max_uploads=max_uploads,
            )
            where = f"max={max_uploads} after=({key_marker!r}, {upload_id_marker!r})"
            assert uploads_summary(page) == want, where
            seen.extend((u.key, u.upload_id) for u in page.uploads)
            seen.extend((p, "") for p in page.common_prefixes)
            if not page.is_truncated:
                break
            assert page.next_key_marker is not None
            key_marker, upload_id_marker = page.next_key_marker, page.next_upload_id_marker or ""
        else:
            pytest.fail("pagination did not terminate")
        order = lambda e: (utf8(e[0]), e[1])  # noqa: E731
        assert sorted(seen, key=order) == sorted(expected, key=order)


async def test_list_uploads_markers(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    for key, upload_id in [("b", "1"), ("b", "2"), ("b", "3"), ("c", "0"), ("a/x", "5")]:
        await store.create_upload(upload(key, upload_id))
    page = await store.list_uploads("photos", key_marker="b", upload_id_marker="1")
    assert uploads_summary(page) == ([("b", "2"), ("b", "3"), ("c", "0")], [], False, ("c", "0"))
    page = await store.list_uploads("photos", key_marker="b")  # every upload of "b" is behind
    assert uploads_summary(page) == ([("c", "0")], [], False, ("c", "0"))
    page = await store.list_uploads("photos", upload_id_marker="2")  # ignored without a key marker
    assert [u.upload_id for u in page.uploads] == ["5", "1", "2", "3", "0"]
    page = await store.list_uploads("photos", delimiter="/", max_uploads=1)
    assert uploads_summary(page) == ([], ["a/"], True, ("a/", None))
    page = await store.list_uploads("photos", delimiter="/", key_marker="a/", max_uploads=1)
    assert uploads_summary(page) == ([("b", "1")], [], True, ("b", "1"))
    page = await store.list_uploads("photos", max_uploads=0)
    assert uploads_summary(page) == ([], [], False, (None, None))
    assert uploads_summary(await store.list_uploads("nope")) == ([], [], False, (None, None))


# -- access control and statistics


async def test_bucket_acl_policy_and_cors(store: MetadataStore) -> None:
    created = Bucket("photos", "alice", "us-east-1", NOW, acl="public-read")
    await store.create_bucket(created)
    assert await store.get_bucket("photos") == created
    await store.set_bucket_acl("photos", "authenticated-read")
    await store.set_bucket_policy("photos", '{"Statement": []}')
    await store.set_bucket_cors("photos", '[{"origins": ["*"]}]')
    got = await store.get_bucket("photos")
    assert got is not None
    assert (got.acl, got.policy, got.cors) == (
        "authenticated-read",
        '{"Statement": []}',
        '[{"origins": ["*"]}]',
    )
    assert [b.policy for b in await store.list_buckets("alice")] == ['{"Statement": []}']
    await store.set_bucket_policy("photos", None)
    await store.set_bucket_cors("photos", None)
    got = await store.get_bucket("photos")
    assert got is not None and (got.acl, got.policy, got.cors) == ("authenticated-read", None, None)
    for change in (
        store.set_bucket_acl("nope", "private"),
        store.set_bucket_policy("nope", "{}"),
        store.set_bucket_cors("nope", None),
    ):
        with pytest.raises(DomainError) as err:
            await change
        assert from_domain(err.value).code == "NoSuchBucket"
    assert await store.get_bucket("nope") is None


async def test_bucket_ownership_and_public_access_block(store: MetadataStore) -> None:
    await store.create_bucket(Bucket("photos", "alice", "us-east-1", NOW, ownership="ObjectWriter"))
    got = await store.get_bucket("photos")
    assert got is not None and (got.ownership, got.public_access_block) == ("ObjectWriter", None)
    block = '{"BlockPublicAcls":true}'
    await store.set_bucket_ownership("photos", "BucketOwnerEnforced")
    await store.set_public_access_block("photos", block)
    got = await store.get_bucket("photos")
    assert got is not None and (got.ownership, got.public_access_block) == ("BucketOwnerEnforced", block)
    assert [(b.ownership, b.public_access_block) for b in await store.list_buckets()] == [
        ("BucketOwnerEnforced", block)
    ]
    await store.set_bucket_ownership("photos", None)
    await store.set_public_access_block("photos", None)
    got = await store.get_bucket("photos")
    assert got is not None and (got.ownership, got.public_access_block, got.acl) == (None, None, "private")
    for change in (
        store.set_bucket_ownership("nope", "ObjectWriter"),
        store.set_public_access_block("nope", None),
    ):
        with pytest.raises(DomainError) as err:
            await change
        assert from_domain(err.value).code == "NoSuchBucket"


async def test_new_buckets_and_objects_are_private(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    got = await store.get_bucket("photos")
    assert got is not None and (got.acl, got.policy, got.cors) == ("private", None, None)
    await store.put_object(record("a"))
    obj = await store.get_object("photos", "a")
    assert obj is not None and obj.acl == "private"


async def test_object_acl(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    assert await store.set_object_acl("photos", "a", "public-read") is None
    shared = record("a", blob="keep")
    shared.acl = "public-read"
    await store.put_object(shared)
    got = await store.get_object("photos", "a")
    assert got is not None and got.acl == "public-read"
    updated = await store.set_object_acl("photos", "a", "private")
    assert updated is not None and updated.acl == "private"
    got = await store.get_object("photos", "a")
    assert got is not None and got.acl == "private" and got.segments == shared.segments
    # A new PUT of the key brings its own ACL, as on AWS.
    await store.put_object(record("a", blob="new"))
    again = await store.get_object("photos", "a")
    assert again is not None and again.acl == "private"
    listed = await store.list_objects("photos")
    assert [o.acl for o in listed.objects] == ["private"]


async def test_upload_acl_reaches_the_object(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    await store.create_upload(upload(acl="public-read"))
    got = await store.get_upload("photos", "big", "u1")
    assert got is not None and got.acl == "public-read"
    [stale] = await store.stale_uploads(NOW + timedelta(days=1))
    assert stale.acl == "public-read"
    await store.put_part("photos", "big", "u1", part(1))
    done = assembled("big", [part(1)])
    done.acl = got.acl
    await store.complete_upload("photos", "big", "u1", done)
    obj = await store.get_object("photos", "big")
    assert obj is not None and obj.acl == "public-read"


SSE_S3 = Encryption(mode="AES256", wrapped_key="d3JhcHBlZA==")
SSE_KMS = Encryption(
    mode="aws:kms",
    wrapped_key="a21z",
    key_id="arn:aws:kms:us-east-1:000000000000:key/k1",
    bucket_key=True,
    context="eyJhIjoiYiJ9",
)
SSE_C = Encryption(mode="SSE-C", wrapped_key="Yw==", key_hmac="c2FsdGhtYWM=")


async def test_encryption_records_round_trip(store: MetadataStore) -> None:
    """An object's encryption record survives put, get, becoming noncurrent, listing and completion."""
    await store.create_bucket(bucket())
    await store.set_bucket_versioning("photos", "Enabled")
    first = record("k")
    first.version_id, first.encryption = new_version_id(), SSE_KMS
    await store.put_object(first)
    second = record("k", blob="blob:2")
    second.version_id, second.encryption = new_version_id(), SSE_C
    await store.put_object(second)
    current = await store.get_object("photos", "k")
    old = await store.get_object("photos", "k", first.version_id)
    assert current is not None and current.encryption == SSE_C
    assert old is not None and old.encryption == SSE_KMS and not old.is_latest
    plain = record("clear")
    await store.put_object(plain)
    got = await store.get_object("photos", "clear")
    assert got is not None and got.encryption is None
    await store.create_upload(upload(encryption=SSE_S3))
    pending = await store.get_upload("photos", "big", "u1")
    assert pending is not None and pending.encryption == SSE_S3
    [listed] = (await store.list_uploads("photos")).uploads
    assert listed.encryption == SSE_S3
    await store.put_part("photos", "big", "u1", part(1))
    done = assembled("big", [part(1)])
    done.encryption = pending.encryption
    await store.complete_upload("photos", "big", "u1", done)
    obj = await store.get_object("photos", "big")
    assert obj is not None and obj.encryption == SSE_S3


async def test_bucket_default_encryption(store: MetadataStore) -> None:
    await store.create_bucket(bucket())
    got = await store.get_bucket("photos")
    assert got is not None and got.encryption is None
    await store.set_bucket_encryption("photos", '{"SSEAlgorithm":"AES256"}')
    got = await store.get_bucket("photos")
    assert got is not None and got.encryption == '{"SSEAlgorithm":"AES256"}'
    [listed] = await store.list_buckets()
    assert listed.encryption == '{"SSEAlgorithm":"AES256"}'
    await store.set_bucket_encryption("photos", None)
    got = await store.get_bucket("photos")
    assert got is not None and got.encryption is None
    with pytest.raises(NoSuchBucketError):
        await store.set_bucket_encryption("nope", None)


async def test_all_bucket_stats(store: MetadataStore) -> None:
    assert await store.all_bucket_stats() == []
    await store.create_bucket(bucket("photos", "alice"))
    await store.create_bucket(bucket("docs", "bob"))
    await store.create_bucket(bucket("empty", "bob"))
    await put_all(store, ["a", "bb", "ccc"], "photos")
    await store.put_object(record("x", 100, bucket_name="docs"))
    await store.put_object(record("x", 40, bucket_name="docs"))  # a replacement
    await store.delete_object("photos", "a")
    assert await store.all_bucket_stats() == [
        BucketStats("docs", "bob", 1, 40),
        BucketStats("empty", "bob", 0, 0),
        BucketStats("photos", "alice", 2, 5),
    ]
    assert await store.bucket_stats("photos") == (2, 5)
    await store.delete_bucket("empty")
    assert [s.name for s in await store.all_bucket_stats()] == ["docs", "photos"]


async def test_bucket_lifecycle_configuration(store: MetadataStore) -> None:
    await store.create_bucket(bucket("photos"))
    await store.create_bucket(bucket("docs"))
    assert await store.get_bucket_lifecycle("photos") is None
    await store.set_bucket_lifecycle("photos", '{"Rules": []}')
    await store.set_bucket_lifecycle("docs", '{"Rules": [1]}')
    await store.set_bucket_lifecycle("docs", '{"Rules": [2]}')
    assert await store.get_bucket_lifecycle("docs") == '{"Rules": [2]}'
    assert await store.lifecycle_buckets() == [("docs", '{"Rules": [2]}'), ("photos", '{"Rules": []}')]
    assert await store.lifecycle_buckets(after="docs", limit=5) == [("photos", '{"Rules": []}')]
    await store.set_bucket_lifecycle("docs", None)
    assert await store.get_bucket_lifecycle("docs") is None
    with pytest.raises(NoSuchBucketError):
        await store.set_bucket_lifecycle("nope", "{}")
    await store.delete_bucket("photos")  # the configuration goes with its bucket
    await store.create_bucket(bucket("photos"))
    assert await store.get_bucket_lifecycle("photos") is None
    assert await store.lifecycle_buckets() == []


async def test_leases(store: MetadataStore) -> None:
    first = await store.take_lease("work", "a", 30)
    assert first is not None and first.holder == "a" and first.state is None
    assert await store.take_lease("work", "b", 30) is None  # held
    assert await store.take_lease("other", "b", 30) is not None  # leases are per name
    again = await store.take_lease("work", "a", 30)  # the holder extends it
    assert again is not None and again.expires >= first.expires
    assert await store.keep_lease("work", "a", 30, "cursor-1")
    assert not await store.keep_lease("work", "b", 30, "stolen")
    assert await store.keep_lease("work", "a", 0, "cursor-2")  # released, its state kept
    taken = await store.take_lease("work", "b", 0.2)
    assert taken is not None and taken.state == "cursor-2"
    assert not await store.keep_lease("work", "a", 30, "late")  # a lost lease is never renewed
    await asyncio.sleep(0.3)  # b let it run out: anyone may take it
    later = await store.take_lease("work", "a", 30)
    assert later is not None and later.holder == "a" and later.state == "cursor-2"


HOURLY = Rate(10, 3600.0)  # nothing refills while a test runs, so every count is exact


async def test_take_tokens(store: MetadataStore) -> None:
    assert await store.take_tokens("key:a", 4, HOURLY) == 4  # a caller never seen has a full bucket
    assert await store.take_tokens("key:a", 4, HOURLY) == 4
    assert await store.take_tokens("key:a", 4, HOURLY) == 2  # what is left, never more
    assert await store.take_tokens("key:a", 1, HOURLY) == 0
    assert await store.take_tokens("key:b", 20, HOURLY) == 10  # buckets are per caller, `requests` deep


async def test_take_tokens_refills_at_the_rate(store: MetadataStore) -> None:
    fast = Rate(1000, 1.0)
    assert await store.take_tokens("key:fast", 1000, fast) == 1000
    await asyncio.sleep(0.1)  # a hundred tokens' worth at the least
    assert await store.take_tokens("key:fast", 5, fast) == 5


async def test_take_tokens_concurrently_gives_out_the_bucket_once(store: MetadataStore) -> None:
    granted = await asyncio.gather(*(store.take_tokens("key:busy", 3, HOURLY) for _ in range(12)))
    assert sum(granted) == 10


async def test_stores_on_one_database_share_the_buckets(
    backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What makes the limit hold across processes: another store on the same database (SQLite: the
    same data dir) draws from the same buckets."""
    async with _open_backend(backend.name, tmp_path, request) as other:
        assert await backend.store.take_tokens("key:shared", 6, HOURLY) == 6
        assert await other.store.take_tokens("key:shared", 6, HOURLY) == 4
        assert await backend.store.take_tokens("key:shared", 1, HOURLY) == 0


async def test_storage_node_list(store: MetadataStore) -> None:
    assert await store.storage_nodes() == []
    assert await store.add_storage_node(NodeEntry("node2", "http://127.0.0.1:7882"))
    assert await store.add_storage_node(NodeEntry("node1", "http://127.0.0.1:7881"))
    assert not await store.add_storage_node(NodeEntry("node2", "http://10.0.0.2:7881"))  # moved
    assert await store.storage_nodes() == [
        NodeEntry("node1", "http://127.0.0.1:7881"),
        NodeEntry("node2", "http://10.0.0.2:7881"),
    ]
    assert await store.remove_storage_node("node1")
    assert not await store.remove_storage_node("node1")
    assert await store.storage_nodes() == [NodeEntry("node2", "http://10.0.0.2:7881")]


async def test_kms_keys(store: MetadataStore) -> None:
    """Keys of the built-in key service: create, find by id or alias, rotate, disable, list."""
    assert await store.kms_keys() == [] and await store.get_kms_key("k1") is None
    first = KmsKey("k1", NOW, ("m1",), "alias/app")
    second = KmsKey("k2", NOW + timedelta(seconds=1), ("n1",))
    await store.create_kms_key(first)
    await store.create_kms_key(second)
    assert await store.get_kms_key("k1") == first
    assert await store.get_kms_key("alias/app") == first
    assert await store.get_kms_key("app") is None
    with pytest.raises(KmsAliasExistsError):
        await store.create_kms_key(KmsKey("k3", NOW, ("o1",), "alias/app"))
    assert await store.get_kms_key("k3") is None  # the refused key left nothing behind
    assert await store.add_kms_key_version("k1", 2, "m2")
    assert not await store.add_kms_key_version("k1", 2, "m2-racing")  # the version is taken
    assert not await store.add_kms_key_version("k9", 1, "x")  # no such key
    assert await store.set_kms_key_enabled("k2", False)
    assert not await store.set_kms_key_enabled("k9", False)
    rotated = KmsKey("k1", NOW, ("m1", "m2"), "alias/app")
    assert await store.kms_keys() == [rotated, KmsKey("k2", second.created, ("n1",), None, False)]
    assert await store.set_kms_key_enabled("k2", True)
    got = await store.get_kms_key("k2")
    assert got is not None and got.enabled


async def _old_database(
    request: pytest.FixtureRequest, tmp_path: Path, backend_name: str, sqlite_at: int, postgres_at: int
) -> MetadataStore:
    """A store (not yet opened) on a database left at an older schema version, with one bucket
    'old' written then: what an upgrade finds."""
    if backend_name == "sqlite":
        from s3server.sqlitedb import Database, apply_migrations

        path = tmp_path / "old.db"
        db = Database(path)
        await db.open()
        await db.write(lambda conn: apply_migrations(conn, MIGRATIONS[:sqlite_at]))
        await db.write(
            lambda conn: conn.execute(
                "INSERT INTO buckets (name, owner, region, created) VALUES ('old', 'alice', 'us-east-1', 0)"
            )
        )
        await db.close()
        return SqliteMetadataStore(path)
    from s3server.metadata import postgres as pg
    from s3server.pgdb import PgDatabase
    from s3server.pgdb import apply_migrations as pg_migrations

    dsn = request.getfixturevalue("postgres_cluster").create_database("migrate")
    db = PgDatabase(dsn)
    await db.open()
    await db.run(lambda conn: pg_migrations(conn, pg.COMPONENT, pg.MIGRATIONS[:postgres_at]))
    await db.run(
        lambda conn: conn.execute(
            "INSERT INTO buckets (name, owner, region, created) VALUES ('old', 'alice', 'us-east-1', now())"
        )
    )
    await db.close()
    return PostgresMetadataStore(dsn)


@pytest.mark.parametrize("backend_name", BACKENDS)
async def test_kms_tables_migrate_onto_an_existing_database(
    request: pytest.FixtureRequest, tmp_path: Path, backend_name: str
) -> None:
    """A database made before the key service existed gains its tables and keeps its rows."""
    from s3server.metadata import postgres as pg

    store = await _old_database(request, tmp_path, backend_name, len(MIGRATIONS) - 1, len(pg.MIGRATIONS) - 1)
    await store.open()
    try:
        assert await store.get_bucket("old") is not None
        await store.create_kms_key(KmsKey("k1", NOW, ("m1",), "alias/after"))
        assert [k.key_id for k in await store.kms_keys()] == ["k1"]
    finally:
        await store.close()


@pytest.mark.parametrize("backend_name", BACKENDS)
async def test_access_columns_migrate_onto_existing_rows(
    request: pytest.FixtureRequest, tmp_path: Path, backend_name: str
) -> None:
    """Rows written before the access-control migration read back private, without policy or CORS."""
    store = await _old_database(request, tmp_path, backend_name, 2, 1)
    await store.open()
    try:
        got = await store.get_bucket("old")
        assert got is not None
        assert (got.owner, got.acl, got.policy, got.cors) == ("alice", "private", None, None)
        assert got.encryption is None
        assert (got.ownership, got.public_access_block) == (None, None)
        await store.put_object(record("k", bucket_name="old"))
        obj = await store.get_object("old", "k")
        assert obj is not None and obj.acl == "private" and obj.encryption is None
    finally:
        await store.close()


# -- SQLite specifics (no other module owns them yet)


async def test_sqlite_reopen_keeps_data_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = SqliteMetadataStore(path)
    await first.open()
    await first.create_bucket(bucket())
    await first.put_object(record("a"))
    await first.close()

    second = SqliteMetadataStore(path)
    await second.open()  # migrations already applied: a no-op
    try:
        assert await second.schema_version() == len(MIGRATIONS)
        assert (await second.get_object("photos", "a")) == record("a")
        assert await second.bucket_stats("photos") == (1, 10)
    finally:
        await second.close()


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = SqliteMetadataStore(path)
    await store.open()
    await store.db.write(lambda conn: conn.execute("UPDATE schema_version SET version = 999"))
    await store.close()
    with pytest.raises(MetadataError, match="999"):
        await SqliteMetadataStore(path).open()


async def test_sqlite_failures_are_metadata_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database " * 1000)
    with pytest.raises(MetadataError):
        await SqliteMetadataStore(junk).open()

    store = SqliteMetadataStore(tmp_path / "m.db")
    await store.open()
    await store.close()
    with pytest.raises(MetadataError):
        await store.get_object("photos", "a")
    with pytest.raises(MetadataError):
        await store.put_object(record("a"))
