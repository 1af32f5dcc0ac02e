"""Server-side sessions: expiry, rotation and eviction (no server needed)."""

from __future__ import annotations

import pytest

from ui import sessions
from ui.sessions import SessionStore
from ui.signing import Keys


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(sessions.time, "monotonic", lambda: now[0])
    return now


def test_idle_and_absolute_expiry(clock: list[float]) -> None:
    store = SessionStore(idle=60, lifetime=300)
    session = store.create(Keys("AK", "secret"), user="alice")
    for _ in range(4):
        clock[0] += 50  # each request restarts the idle clock
        assert store.get(session.sid) is session
    clock[0] += 61
    assert store.get(session.sid) is None
    other = store.create(Keys("AK", "secret"))
    for _ in range(6):
        clock[0] += 55
        store.get(other.sid)
    assert store.get(other.sid) is None  # 330 s after sign-in: past the lifetime


def test_anonymous_sessions_are_evicted_first(clock: list[float]) -> None:
    store = SessionStore(limit=3)
    signed_in = store.create(Keys("AK", "secret"), user="alice")
    for _ in range(10):
        store.create()
    assert store.get(signed_in.sid) is signed_in
    assert len(store) == 3


def test_tokens_are_compared_whole(clock: list[float]) -> None:
    session = SessionStore().create()
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(session.csrf[:-1])
    assert not session.csrf_matches(None)
    assert "secret" not in repr(SessionStore().create(Keys("AK", "secret")))
