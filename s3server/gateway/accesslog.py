"""The access log's line format: logfmt (key=value pairs), one line per request whatever the key holds."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import TextIO

_PLAIN = re.compile(r"[A-Za-z0-9_./:@+*-]+")


def _value(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    if _PLAIN.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, with newlines and quotes escaped


def quoted(text: str) -> str:
    """A logfmt value: as it is when plain, else quoted and escaped."""
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def logfmt(fields: Mapping[str, object]) -> str:
    """key=value pairs; a value is quoted when it holds anything but plain characters."""
    return " ".join(f"{name}={_value(value)}" for name, value in fields.items())


class AccessLog:
    """Access lines written in batches: a write per request would cost more than a small GET.

    Lines keep the server log's format (`time LEVEL logger: message`) and go to the handlers of the
    "s3server.access" logger's stream at most FLUSH_SECONDS late (a background thread flushes), or
    sooner when the buffer fills; close() flushes the rest.
    """

    FLUSH_SECONDS = 0.2
    MAX_LINES = 512

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._second = -1
        self._stamp = ""
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._flusher, name="s3-accesslog", daemon=True)
        self._thread.start()

    def write(self, fields: Mapping[str, object]) -> None:
        """One line of key=value pairs (see logfmt)."""
        self.write_line(logfmt(fields))

    def write_line(self, text: str) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        line = f"{self._stamp},{int((now - second) * 1000):03d} INFO s3server.access: {text}\n"
        with self._lock:
            self._lines.append(line)
            full = len(self._lines) >= self.MAX_LINES
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            try:
                self._stream.write("".join(lines))
                self._stream.flush()
            except (OSError, ValueError):  # stderr closed: the lines have nowhere to go
                pass

    def _flusher(self) -> None:
        while not self._closed.wait(self.FLUSH_SECONDS):
            self.flush()

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.flush()
