"""Fixtures for the reliability suite: a fresh storage setup per test, on each metadata backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, backend_args
from tests.reliability.helpers import StorageSetup


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageSetup]:
    """Three drives, three replicas, fault injection on; `setup.start()` runs a server on them."""
    world = StorageSetup(tmp_path, backend_args(request, request.param))
    yield world
    world.stop()
