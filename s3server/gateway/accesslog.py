"""The access log's line format: logfmt (key=value pairs), one line per request whatever the key holds."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

_PLAIN = re.compile(r"[A-Za-z0-9_./:@+*-]+")


def _value(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if _PLAIN.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, with newlines and quotes escaped


def logfmt(fields: Mapping[str, object]) -> str:
    """key=value pairs; a value is quoted when it holds anything but plain characters."""
    return " ".join(f"{name}={_value(value)}" for name, value in fields.items())
