"""`python -m bench compare`, tiny, against s3server alone: every workload runs, verifies and reports.

The run starts its own server (and the bare aiohttp ceiling) through the bench, so it needs none of
the suite's shared fixtures. `--list-keys 1000` keeps the listing bucket's fill to about a second: the
10,000 keys of a real run alone take longer than this whole test may.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.loadgen import TITLES, WORKLOADS

ROOT = Path(__file__).resolve().parents[2]
LARGE_MIB = 4


def expected_rows() -> list[str]:
    rows = []
    for name in WORKLOADS:
        if name == "large":
            rows += [f"PUT {LARGE_MIB} MiB, one stream", f"GET {LARGE_MIB} MiB, one stream"]
        else:
            rows.append(TITLES[name])
    return rows


def test_compare_smoke(tmp_path: Path) -> None:
    output = tmp_path / "compare.md"
    command = f"compare --servers s3server --reps 1 --duration 0.2 --large-sizes {LARGE_MIB} --list-keys 1000"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            *command.split(),
            "--data-dir",
            str(tmp_path),
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    table = output.read_text()
    assert table == done.stdout.rstrip("\n") + "\n"
    assert "No verification errors." in table
    assert "errors**" not in table and "Failures" not in table
    lines = {line.split(" | ", 1)[0].removeprefix("| "): line for line in table.splitlines()}
    for title in expected_rows():
        assert title in lines, f"no row {title!r} in:\n{table}"
        s3server_cell = lines[title].split(" | ")[1]
        figure = re.match(r"\*\*([\d,.]+) (ops/s|MB/s)\*\*", s3server_cell)
        assert figure and float(figure.group(1).replace(",", "")) > 0, lines[title]
    assert re.search(r"bare aiohttp GET 4 KiB, c=32: \*\*[\d,]+ requests/s\*\*", table)
    assert re.search(r"MD5 \+ write \+ fsync of \d+ MiB in 1 MiB pieces: \*\*[\d,]+ MB/s\*\*", table)


def test_instructions_smoke() -> None:
    """`python -m bench instructions` runs the server under callgrind and reports all three figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "instructions", "--requests", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    found = re.findall(r"^(GET|HEAD|DELETE) 4 KiB: ([\d,]+)k instructions a request$", done.stdout, re.M)
    assert [name for name, _ in found] == ["GET", "HEAD", "DELETE"], done.stdout
    assert all(int(count.replace(",", "")) > 0 for _, count in found), done.stdout


def test_compare_with_workers_is_unpinned_and_says_so(tmp_path: Path) -> None:
    """`--workers N`: s3server serves with N processes, nothing is pinned, and the table says both."""
    from bench import peers

    argv, _, _, _ = peers.command("s3server", 1, tmp_path / "d", 2)
    assert argv[argv.index("--workers") + 1] == "2"
    assert "--workers" not in peers.command("s3server", 1, tmp_path / "d")[0]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "compare", "--servers", "s3server", "--workers", "2", "--reps", "1",
         "--duration", "0.2", "--workloads", "get-4k-c32,head-4k-c1", "--data-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    table = done.stdout
    assert "## s3server and its peers, side by side, s3server with 2 worker processes" in table
    assert "s3server with --workers 2; servers and load generator not pinned" in table
    assert "Ceilings, measured unpinned in the same run:" in table
    for title in (TITLES["get-4k-c32"], TITLES["head-4k-c1"]):
        row = next(line for line in table.splitlines() if line.startswith(f"| {title} |"))
        assert re.match(r"\*\*[\d,.]+ ops/s\*\*", row.split(" | ")[1]), row
