"""Due dates of lifecycle rules: AWS's rounding to the next midnight UTC, and shorter test days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s3server.s3.lifecycle import Rule, upload_abort

DAY = 86400.0
START = datetime(2026, 3, 4, 15, 30, 12, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rules", "key", "day", "expected"),
    [
        pytest.param(
            [Rule("r", True, abort_days=7)], "a", DAY, (datetime(2026, 3, 12, tzinfo=UTC), "r"), id="midnight"
        ),
        pytest.param(
            [Rule("r", True, abort_days=3)],
            "a",
            1.0,
            (datetime(2026, 3, 4, 15, 30, 16, tzinfo=UTC), "r"),
            id="one-second-days",
        ),
        pytest.param(
            [Rule("long", True, abort_days=9), Rule("short", True, prefix="lo", abort_days=2)],
            "logs/x",
            DAY,
            (datetime(2026, 3, 7, tzinfo=UTC), "short"),
            id="earliest-rule",
        ),
        pytest.param([Rule("r", True, prefix="logs/", abort_days=1)], "other", DAY, None, id="prefix"),
        pytest.param([Rule("r", False, abort_days=1)], "a", DAY, None, id="disabled"),
        pytest.param([Rule("r", True, days=1)], "a", DAY, None, id="expiration-only"),
    ],
)
def test_upload_abort(rules: list[Rule], key: str, day: float, expected: tuple[datetime, str] | None) -> None:
    assert upload_abort(rules, key, START, day) == expected
