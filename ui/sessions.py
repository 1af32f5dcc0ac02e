"""Server-side sessions: the cookie holds only a random id; keys and the CSRF token stay here.

A session starts anonymous (it carries just a CSRF token, so that even signing in is protected) and
is replaced by a fresh one on sign-in, so an id planted before sign-in is worthless afterwards.
Sessions end on sign-out, after `idle` seconds without a request, or `lifetime` seconds after sign-in.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ui.signing import Keys

COOKIE = "s3console"
ANONYMOUS_IDLE = 600.0


@dataclass
class Session:
    sid: str
    csrf: str
    created: float
    seen: float
    keys: Keys | None = field(default=None, repr=False)
    user: str = ""
    is_admin: bool = False

    @property
    def signed_in(self) -> bool:
        return self.keys is not None

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class SessionStore:
    """Sessions in memory; beyond `limit`, the least recently seen anonymous ones are evicted first."""

    def __init__(self, *, idle: float = 3600.0, lifetime: float = 12 * 3600.0, limit: int = 10000) -> None:
        self.idle = idle
        self.lifetime = lifetime
        self.limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        if not session.signed_in:
            return now - session.seen > ANONYMOUS_IDLE
        return now - session.seen > self.idle or now - session.created > self.lifetime

    def get(self, sid: str | None) -> Session | None:
        """The live session with this id (its idle clock restarted), or None."""
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        now = time.monotonic()
        if self._expired(session, now):
            del self._sessions[sid]
            return None
        session.seen = now
        self._sessions.move_to_end(sid)
        return session

    def create(self, keys: Keys | None = None, user: str = "", is_admin: bool = False) -> Session:
        now = time.monotonic()
        self._prune(now)
        session = Session(
            sid=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            created=now,
            seen=now,
            keys=keys,
            user=user,
            is_admin=is_admin,
        )
        self._sessions[session.sid] = session
        return session

    def drop(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def _prune(self, now: float) -> None:
        # Least recently seen first: stop at the first live one, then enforce the limit.
        while self._sessions:
            sid, oldest = next(iter(self._sessions.items()))
            if not self._expired(oldest, now):
                break
            del self._sessions[sid]
        # Over the limit, anonymous sessions go first, so a flood of them cannot sign anybody out.
        while len(self._sessions) >= self.limit:
            victim = next((sid for sid, s in self._sessions.items() if not s.signed_in), None)
            if victim is None:
                self._sessions.popitem(last=False)
            else:
                del self._sessions[victim]
