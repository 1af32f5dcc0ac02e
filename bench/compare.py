"""`python -m bench compare`: s3server, moto, rclone and s3rver side by side, with two ceilings.

Each server runs pinned to one core and the load generator (`bench.loadgen`, its own process) to
another; with `--workers N`, s3server runs N worker processes and nothing is pinned (the second
table of docs/PERFORMANCE.md: what several processes make of the whole machine). Repetitions are
interleaved (rep 1: every server, rep 2: every server, …), each with a fresh server process and
data directory, so that a slow minute of the machine hurts all servers alike.
The table holds, per workload and server, the median over the repetitions and the spread (min-max) of
the main figure; a run in which the generator used ≥ 90 % of its core is marked client-bound (it then
measured the generator, not the server). Any verification error fails the run (exit status 1).

    python -m bench compare [--servers s3server,moto,rclone,s3rver] [--workloads put-4k-c1,…]
        [--duration 3] [--reps 3] [--large-sizes 256,1024] [--workers N] [--output results.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench import peers
from bench.loadgen import TITLES, WORKLOADS

Outcome = dict[str, object]  # one workload's JSON from bench.loadgen


@dataclass
class Results:
    """Everything a run gathered, keyed by server (and the two ceilings)."""

    outcomes: dict[str, dict[str, list[Outcome]]] = field(default_factory=lambda: defaultdict(dict))
    unavailable: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)  # generator crashes, servers dying mid-run
    disk_mb_per_s: list[float] = field(default_factory=list)

    def add(self, server: str, outcome: Outcome) -> None:
        self.outcomes[server].setdefault(str(outcome["workload"]), []).append(outcome)

    @property
    def errors(self) -> int:
        return sum(int(o["errors"]) for runs in self.outcomes.values() for os_ in runs.values() for o in os_)


# --------------------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------------------


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def run_loadgen(
    peer: peers.Peer, workloads: list[str], args: argparse.Namespace, core: int | None
) -> tuple[list[Outcome], str | None]:
    """Drive one running server with the generator on its own core; (outcomes, failure or None)."""
    cmd = [
        sys.executable, "-m", "bench.loadgen", "--endpoint", peer.endpoint, "--server-pid", str(peer.pid),
        "--workloads", ",".join(workloads), "--duration", str(args.duration),
        "--large-sizes", args.large_sizes, "--list-keys", str(args.list_keys),
    ]  # fmt: skip
    if args.warmup is not None:
        cmd += ["--warmup", str(args.warmup)]
    env = {**os.environ, "BENCH_ACCESS_KEY": peer.access_key, "BENCH_SECRET_KEY": peer.secret_key}
    try:
        done = subprocess.run(
            peers.pinned(cmd, core), stdout=subprocess.PIPE, env=env, cwd=peers.ROOT, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return [], f"the load generator did not finish within {args.timeout:.0f} s"
    try:
        outcomes = json.loads(done.stdout)["outcomes"]
    except (ValueError, KeyError):
        return [], f"the load generator failed (exit status {done.returncode}) without results"
    return outcomes, None


def run_server(
    name: str, workloads: list[str], args: argparse.Namespace, workdir: Path, rep: int, results: Results
) -> None:
    data_dir = workdir / f"{name}-{rep}"
    try:
        peer = peers.start(name, data_dir, args.server_core, args.workers)
    except peers.Unavailable as exc:
        log(f"{name}: unavailable: {exc}")
        results.unavailable[name].append(str(exc))
        if name == "s3server":  # a peer may be missing; the server under test may not
            results.failures.append(f"s3server did not start: {exc}")
        return
    log(f"rep {rep}: {name} at {peer.endpoint} (pid {peer.pid})")
    started = time.monotonic()
    try:
        outcomes, failure = run_loadgen(peer, workloads, args, args.client_core)
    finally:
        alive = peer.process.poll() is None
        peer.stop()
        log(f"rep {rep}: {name} stopped after {time.monotonic() - started:.1f} s")
    for outcome in outcomes:
        results.add(name, outcome)
    if not alive:
        failure = f"{name} exited during rep {rep} ({peer.process.returncode}): {peer.log_tail(3)[-300:]}"
    if failure:
        results.failures.append(f"{name}, rep {rep}: {failure}")
        log(f"{name}: {failure}\n{peer.log_tail()}")
    shutil.rmtree(data_dir, ignore_errors=True)


def run_ceilings(args: argparse.Namespace, workdir: Path, rep: int, results: Results) -> None:
    run_server(peers.BARE, ["bare-get-4k-c32"], args, workdir, rep, results)
    cmd = [sys.executable, "-m", "bench.ceilings", "disk", "--dir", str(workdir)]
    cmd += ["--mib", str(args.ceiling_mib)]
    done = subprocess.run(
        peers.pinned(cmd, args.server_core), capture_output=True, text=True, cwd=peers.ROOT, timeout=600
    )
    if done.returncode == 0:
        results.disk_mb_per_s.append(json.loads(done.stdout)["mb_per_s"])
    else:
        results.failures.append(f"disk ceiling, rep {rep}: {done.stderr.strip()[-300:]}")


# --------------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------------


def rows(workloads: list[str], sizes: list[int]) -> list[tuple[str, str]]:
    """(workload id, title) in the order the generator runs them."""
    out = []
    for name in WORKLOADS:
        if name not in workloads:
            continue
        if name == "large":
            for size in sizes:
                out.append((f"put-{size}m", f"PUT {size} MiB, one stream"))
                out.append((f"get-{size}m", f"GET {size} MiB, one stream"))
        else:
            out.append((name, TITLES[name]))
    return out


def median(outs: list[Outcome], key: str) -> float | None:
    values = [float(o[key]) for o in outs if o.get(key) is not None]  # type: ignore[arg-type]
    return statistics.median(values) if values else None


def spread(outs: list[Outcome], key: str, fmt: str) -> str:
    values = [float(o[key]) for o in outs]  # type: ignore[arg-type]
    if len(values) < 2:
        return ""
    return f" ({min(values):{fmt}}-{max(values):{fmt}})"


def is_large(workload: str) -> bool:
    return workload.endswith("m") and workload[:4] in ("put-", "get-")


def cell(workload: str, outs: list[Outcome]) -> str:
    """One server's figures for one workload, as `<br>`-separated lines of a markdown cell."""
    lines = []
    if is_large(workload):
        mbps = median(outs, "mb_per_s") or 0.0
        lines.append(f"**{mbps:,.0f} MB/s**{spread(outs, 'mb_per_s', ',.0f')}")
        lines.append(
            f"peak RSS {median(outs, 'peak_rss_max_mib') or 0:,.0f} MiB (largest process), "
            f"{median(outs, 'peak_rss_sum_mib') or 0:,.0f} MiB (all)"
        )
        lines.append(f"server CPU {median(outs, 'server_cpu_s') or 0:.2f} s")
    else:
        rate = median(outs, "ops_per_s") or 0.0
        lines.append(f"**{rate:,.0f} ops/s**{spread(outs, 'ops_per_s', ',.0f')}")
        if any(o["bytes"] for o in outs):
            lines.append(f"{median(outs, 'mb_per_s') or 0:,.1f} MB/s")
        p50, p99 = median(outs, "p50_ms"), median(outs, "p99_ms")
        if p50 is not None and p99 is not None:
            lines.append(f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        cpu = median(outs, "server_cpu_s") or 0.0
        ops = statistics.median(float(o["ops"]) for o in outs)  # type: ignore[arg-type]
        per_op = f" ({1e6 * cpu / ops:,.0f} µs/op)" if ops else ""
        lines.append(f"server CPU {cpu:.2f} s{per_op}")
    client = f"client CPU {median(outs, 'client_cpu_pct') or 0:.0f} %"
    bound = sum(bool(o["client_bound"]) for o in outs)
    if bound:
        client += " **client-bound**" + (f" ({bound} of {len(outs)} reps)" if len(outs) > 1 else "")
    lines.append(client)
    errors = sum(int(o["errors"]) for o in outs)  # type: ignore[arg-type]
    if errors:
        sample = next(str(s) for o in outs for s in o["error_samples"])  # type: ignore[attr-defined]
        lines.append(f"**{errors} errors**: {sample[:160]}")
    notes = sorted({str(n) for o in outs for n in o["notes"]})  # type: ignore[attr-defined]
    lines.extend(f"({n})" for n in notes)
    return "<br>".join(line.replace("|", "\\|") for line in lines)


def ratio(workload: str, results: Results, servers: list[str]) -> str:
    """s3server against the best peer that ran the workload without errors, figure by figure."""
    mine = results.outcomes.get("s3server", {}).get(workload)
    if not mine:
        return "-"
    others = {}
    for name in servers:
        outs = results.outcomes.get(name, {}).get(workload)
        if name != "s3server" and outs and not any(o["errors"] for o in outs):
            others[name] = outs
    if not others:
        return "no peer ran it without errors"
    main, higher = ("mb_per_s", "MB/s") if is_large(workload) else ("ops_per_s", "ops/s")
    lower = ("peak_rss_max_mib", "peak RSS") if is_large(workload) else ("p99_ms", "p99")
    parts = []
    best = max(others, key=lambda n: median(others[n], main) or 0.0)
    if median(others[best], main) and median(mine, main) is not None:
        parts.append(f"x{median(mine, main) / median(others[best], main):.2f} {higher} vs {best}")  # type: ignore[operator]
    candidates = [n for n in others if median(others[n], lower[0])]
    if candidates and median(mine, lower[0]) is not None:
        least = min(candidates, key=lambda n: median(others[n], lower[0]) or 0.0)
        value = median(mine, lower[0]) / median(others[least], lower[0])  # type: ignore[operator]
        parts.append(f"{lower[1]} x{value:.2f} vs {least} (lower is better)")
    return "<br>".join(parts) or "-"


def machine() -> str:
    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model or platform.processor()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def report(results: Results, args: argparse.Namespace, servers: list[str], workloads: list[str]) -> str:
    sizes = [int(s) for s in args.large_sizes.split(",") if s]
    warmup = min(1.0, args.duration / 4) if args.warmup is None else args.warmup
    versions = ", ".join(f"{n} {peers.version(n) or '?'}" for n in servers)
    if args.workers is not None:
        pinning = f"s3server with --workers {args.workers}; servers and load generator not pinned"
    elif args.server_core is not None:
        pinning = f"servers on core {args.server_core}, load generator on core {args.client_core}"
    else:
        pinning = "not pinned (taskset missing)"
    heading = "## s3server and its peers, side by side"
    if args.workers is not None:
        heading += f", s3server with {args.workers} worker processes"
    out = [
        heading,
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {machine()}; {pinning}.  ",
        f"{args.duration:g} s per workload after {warmup:g} s of warm-up; {args.reps} interleaved reps, "
        "median (min-max) of the main figure; MB/s = 10^6 bytes/s.  ",
        f"Versions: {versions}.",
        "",
        "| workload | " + " | ".join(servers) + " | s3server ÷ best peer |",
        "| --- | " + " | ".join("---" for _ in servers) + " | --- |",
    ]
    for workload, title in rows(workloads, sizes):
        cells = []
        for name in servers:
            outs = results.outcomes.get(name, {}).get(workload)
            if outs:
                cells.append(cell(workload, outs))
            elif results.unavailable.get(name):
                cells.append(f"unavailable: {results.unavailable[name][0]}".replace("|", "\\|"))
            else:
                cells.append("no result")
        out.append(f"| {title} | " + " | ".join(cells) + f" | {ratio(workload, results, servers)} |")
    out += ["", *ceilings(results, args)]
    if results.failures:
        out += ["", "**Failures:**", *(f"- {f}" for f in results.failures)]
    errors = results.errors
    out += ["", f"Verification errors: {errors}." if errors else "No verification errors."]
    return "\n".join(out) + "\n"


def ceilings(results: Results, args: argparse.Namespace) -> list[str]:
    where = f"on core {args.server_core}" if args.server_core is not None else "unpinned"
    scope = "on this core" if args.server_core is not None else "on this machine"
    lines = [f"Ceilings, measured {where} in the same run:", ""]
    bare = results.outcomes.get(peers.BARE, {}).get("bare-get-4k-c32")
    if bare:
        rate = median(bare, "ops_per_s") or 0.0
        mine = results.outcomes.get("s3server", {}).get("get-4k-c32")
        share = ""
        if mine and rate:
            share = (
                f"; s3server's GET 4 KiB c=32 is {100 * (median(mine, 'ops_per_s') or 0) / rate:.0f} % of it"
            )
        lines.append(
            f"- bare aiohttp GET 4 KiB, c=32: **{rate:,.0f} requests/s**{spread(bare, 'ops_per_s', ',.0f')}, "
            f"client CPU {median(bare, 'client_cpu_pct') or 0:.0f} %"
            + (" **client-bound**" if any(o["client_bound"] for o in bare) else "")
            + " (errors: "
            + str(sum(int(o["errors"]) for o in bare))
            + "). The most small requests/s any"  # type: ignore[arg-type]
            f" single aiohttp process can answer {scope}{share}."
        )
    else:
        reasons = "; ".join(results.unavailable.get(peers.BARE, [])) or "see the failures"
        lines.append(f"- bare aiohttp: no result ({reasons}).")
    if results.disk_mb_per_s:
        values = results.disk_mb_per_s
        mbps = statistics.median(values)
        span = f" ({min(values):,.0f}-{max(values):,.0f})" if len(values) > 1 else ""
        largest = max((int(s) for s in args.large_sizes.split(",") if s), default=0)
        put = results.outcomes.get("s3server", {}).get(f"put-{largest}m")
        share = ""
        if put and mbps:
            share = (
                f"; s3server's PUT {largest} MiB is {100 * (median(put, 'mb_per_s') or 0) / mbps:.0f} % of it"
            )
        lines.append(
            f"- MD5 + write + fsync of {args.ceiling_mib} MiB in 1 MiB pieces: **{mbps:,.0f} MB/s**{span}. "
            f"The most a durable single PUT can take {scope} and disk{share}."
        )
    else:
        lines.append("- MD5 + write + fsync: no result.")
    return lines


# --------------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench compare", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--servers", default=",".join(peers.PEERS), help="comma-separated: %(default)s")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="subset of: %(default)s")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per workload")
    parser.add_argument("--warmup", type=float, default=None, help="default: duration/4, at most 1")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--large-sizes", default="256,1024", help="MiB of the streamed objects")
    parser.add_argument("--list-keys", type=int, default=10_000, help="objects in the listed bucket")
    parser.add_argument("--ceiling-mib", type=int, default=256, help="MiB the disk ceiling writes")
    parser.add_argument("--output", type=Path, help="also write the markdown here")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("BENCH_TMP"),
                        help="parent of the data dirs (default: $BENCH_TMP or the temp dir)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one server's run may take")
    parser.add_argument("--workers", type=int, default=None,
                        help="s3server --workers N; pins nothing (default: one core each)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")

    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(peers.PEERS)
    workloads = [w for w in args.workloads.split(",") if w]
    unknown |= set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    cores = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") and args.workers is None:
        args.server_core, args.client_core = cores[0], cores[1 % len(cores)]
    else:
        args.server_core = args.client_core = None

    results = Results()
    workdir = Path(tempfile.mkdtemp(prefix="bench-compare-", dir=args.data_dir))
    try:
        for rep in range(1, args.reps + 1):
            for name in servers:
                if results.unavailable.get(name):
                    continue  # it will not start next time either
                run_server(name, workloads, args, workdir, rep, results)
            run_ceilings(args, workdir, rep, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    text = report(results, args, servers, workloads)
    print(text)
    if args.output:
        args.output.write_text(text)
    if results.errors or results.failures:
        log(f"FAILED: {results.errors} verification errors, {len(results.failures)} failures")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
