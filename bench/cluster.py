"""`python -m bench cluster`: 4 KiB PUT/GET ops/s and large-object MB/s through 1 and 2 gateways of
one cluster (PostgreSQL, three storage nodes, two gateways: `scripts/cluster`, as local processes).

Through N gateways, N load generators (`bench.loadgen`, one per gateway, each with its own keys)
run at once and their figures are added up. Everything shares this machine's cores, so the rows
measure the software's overheads on one host, not what N hosts would do (docs/CLUSTER.md has the
model for that).

    python -m bench cluster [--gateways 1,2] [--duration 5] [--large-sizes 256] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = "put-4k-c32,get-4k-c32,large"
ACCESS_KEY, SECRET_KEY = "bench-cluster-root", "bench-cluster-secret-key-0123456789"


def start_cluster(
    workdir: Path, args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    ready = workdir / "endpoints.json"
    env = {**os.environ, "S3SERVER_ROOT_USER": ACCESS_KEY, "S3SERVER_ROOT_PASSWORD": SECRET_KEY}
    log = open(workdir / "cluster.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "cluster"), "--dir", str(workdir / "cluster"),
         "--port-offset", str(args.port_offset), "--workers", str(args.workers), "--no-balancer",
         "--ready-file", str(ready)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the cluster did not start:\n{(workdir / 'cluster.log').read_text()[-3000:]}")
        time.sleep(0.2)
    return process, json.loads(ready.read_text())


def through(gateways: list[str], pid: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Run one load generator per gateway at once; per workload, the summed ops/s and MB/s."""
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                "--endpoint",
                endpoint,
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
                "--server-pid",
                str(pid),
                "--workloads",
                WORKLOADS,
                "--duration",
                str(args.duration),
                "--large-sizes",
                args.large_sizes,
                "--tag",
                f"g{i}-",
            ],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        for i, endpoint in enumerate(gateways)
    ]
    totals: dict[str, dict[str, float]] = {}
    for run in runs:
        out, _ = run.communicate()
        answer = json.loads(out)
        if answer["errors"]:
            raise SystemExit(f"load generator errors: {answer}")
        for outcome in answer["outcomes"]:
            row = totals.setdefault(outcome["workload"], {"ops_per_s": 0.0, "mb_per_s": 0.0, "p99_ms": 0.0})
            row["ops_per_s"] += outcome["ops_per_s"]
            row["mb_per_s"] += outcome["mb_per_s"]
            row["p99_ms"] = max(row["p99_ms"], outcome["p99_ms"] or 0.0)
    return totals


def table(results: dict[int, dict[str, dict[str, float]]]) -> str:
    counts = sorted(results)
    lines = [
        "| workload | " + " | ".join(f"{n} gateway{'s' if n > 1 else ''}" for n in counts) + " |",
        "| --- |" + " --- |" * len(counts),
    ]
    for workload in results[counts[0]]:
        cells = []
        for n in counts:
            row = results[n].get(workload, {})
            if workload.endswith("m"):  # a large object: throughput
                cells.append(f"{row.get('mb_per_s', 0):.0f} MB/s")
            else:
                cells.append(f"{row.get('ops_per_s', 0):.0f} ops/s (p99 {row.get('p99_ms', 0):.0f} ms)")
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--gateways", default="1,2", help="comma-separated gateway counts (at most 2)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per small workload")
    parser.add_argument("--large-sizes", default="256", help="MiB of the streamed objects")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per gateway")
    parser.add_argument("--port-offset", type=int, default=21000, help="added to the cluster's ports")
    parser.add_argument("--output", type=Path, help="also write the markdown table here")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("BENCH_TMP"))
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.gateways.split(",") if n]
    workdir = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir=args.data_dir))
    workdir.chmod(0o755)  # as root, PostgreSQL runs as `postgres` and must reach its directory
    process, endpoints = start_cluster(workdir, args)
    try:
        gateways = list(endpoints["gateways"])  # type: ignore[call-overload]
        results = {n: through(gateways[:n], process.pid, args) for n in counts}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    text = (
        f"Cluster on one machine ({os.cpu_count()} cores): PostgreSQL, 3 storage nodes (3 replicas), "
        f"{args.workers} worker(s) per gateway, {args.duration:g} s per small workload.\n\n{table(results)}\n"
    )
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
