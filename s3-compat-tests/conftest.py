"""Real S3 clients, unchanged, against a live `s3server serve`, one server per metadata backend.

The servers are the integration suite's own fixtures (tests/conftest.py: `server`, `tls_server`,
parametrised by its BACKENDS), imported here so every client runs against every backend the
integration tests do. Each test records a pass or fail per client feature through `compat`; a failed
feature fails the test when it ends. At the end of every session that loads this folder the outcomes
are merged into compat/client-results.json and COMPATIBILITY.md is regenerated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from compat_helpers import OUTCOMES, VERSIONS, Compat

from compat import generate, results
from tests.conftest import *  # noqa: F403 - the live-server fixtures (server, tls_server, ...) as they are

_COMPAT_KEY = pytest.StashKey[Compat]()


def _backend(item: pytest.Item) -> str:
    """The metadata backend of the server fixture the test was parametrised with."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    for name in ("server", "tls_server"):
        if name in params:
            return str(params[name])
    return "none"


@pytest.fixture
def compat(request: pytest.FixtureRequest) -> Compat:
    """`compat(client, version)` gives the recorder whose `feature(name)` blocks fill the matrix."""
    recorder = Compat(_backend(request.node))
    request.node.stash[_COMPAT_KEY] = recorder
    return recorder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Turn the features that failed softly into the test's failure, with every traceback."""
    outcome = yield
    recorder = item.stash.get(_COMPAT_KEY, None)
    failures = recorder.failures() if recorder is not None else []
    if failures:
        pytest.fail(f"{len(failures)} client feature(s) failed:\n\n" + "\n".join(failures), pytrace=False)
    return outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Merge this session's outcomes into compat/client-results.json and regenerate COMPATIBILITY.md,
    which also follows test modules added since (its tested-by column)."""
    with results.locked():
        if OUTCOMES:
            results.record(OUTCOMES, VERSIONS)
        generate.write()


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """`big_file(size)`: a random file of that many bytes, made once per session and shared."""
    folder = tmp_path_factory.mktemp("big")
    made: dict[int, Path] = {}

    def make(size: int) -> Path:
        if size not in made:
            path = folder / f"random-{size}.bin"
            with open(path, "wb") as f:
                left = size
                while left:
                    piece = min(left, 4 << 20)
                    f.write(os.urandom(piece))
                    left -= piece
            made[size] = path
        return made[size]

    return make
