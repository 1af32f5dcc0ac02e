"""`python -m bench versions`, tiny: both backends are filled in bulk, served, listed page by page (every
page checked against the live keys) and reported, so the benchmark cannot rot between real runs. The
PostgreSQL side uses a database of the suite's server rather than starting one of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.postgres import PostgresCluster

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(
    r"^\| (sqlite|postgres) \| ([a-z /]+) \| (plain|versioned|markers) "
    r"\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| 2 \|$"
)


def test_versions_smoke(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.create_database("bench")
    command = f"versions --keys 300 --pages 2 --warmup 1 --postgres {database}"
    done = subprocess.run(
        [sys.executable, "-m", "bench", *command.split()],
        cwd=ROOT,
        env={**os.environ, "BENCH_TMP": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = [m.groups() for m in map(ROW.match, done.stdout.splitlines()) if m]
    cases = {"from the start", "from the middle", "delimiter /"}
    assert {(b, c, k) for b, c, k, *_ in rows} == {
        (b, c, k) for b in ("sqlite", "postgres") for c in cases for k in ("plain", "versioned", "markers")
    }, done.stdout
    assert all(float(p50) > 0 and float(p99) >= float(p50) for *_, p50, p99, _ in rows), done.stdout
    assert all(float(ratio) == 1.0 for _, _, k, _, _, ratio in rows if k == "plain"), done.stdout
    assert re.search(r"^postgres: largest p50 / plain [\d.]+ ", done.stdout, re.MULTILINE), done.stdout
