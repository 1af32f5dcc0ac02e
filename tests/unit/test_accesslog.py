"""The access log: logfmt quoting, and lines written in batches yet never lost or reordered."""

from __future__ import annotations

import io
import re
import time

from s3server.gateway.accesslog import AccessLog, logfmt, quoted


def test_plain_values_stay_bare_and_others_are_quoted() -> None:
    assert quoted("bucket-1/key.txt") == "bucket-1/key.txt"
    assert quoted('a "key"\nwith a newline') == '"a \\"key\\"\\nwith a newline"'
    assert logfmt({"status": 200, "key": "a b"}) == 'status=200 key="a b"'


def test_lines_arrive_in_order_within_the_flush_interval_and_at_close() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    try:
        for i in range(3):
            log.write_line(f"n={i}")
        deadline = time.monotonic() + 5
        while stream.getvalue().count("\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        lines = stream.getvalue().splitlines()
        assert [line.split(": ", 1)[1] for line in lines] == ["n=0", "n=1", "n=2"]
        assert all(
            re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO s3server\.access: n=\d", x)
            for x in lines
        )
        for i in range(AccessLog.MAX_LINES + 5):
            log.write({"m": i})
    finally:
        log.close()
    assert stream.getvalue().splitlines()[-1].endswith(f"m={AccessLog.MAX_LINES + 4}")
    assert stream.getvalue().count("\n") == 3 + AccessLog.MAX_LINES + 5
