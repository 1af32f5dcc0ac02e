"""`python -m bench WORKLOAD [options]`: the workloads in this folder (`--help` after a workload name
describes it): large, storage, listing, ops, compare, versions, lifecycle, cluster, sse,
instructions.

Only the chosen workload's module is imported, so one workload's dependencies never weigh on another."""

from __future__ import annotations

import importlib
import sys

WORKLOADS = {
    "large": "bench.large_object",
    "storage": "bench.storage",
    "listing": "bench.listing",
    "ops": "bench.ops",
    "compare": "bench.compare",
    "versions": "bench.versions",
    "lifecycle": "bench.lifecycle",
    "cluster": "bench.cluster",
    "sse": "bench.sse",
    "instructions": "bench.instructions",
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in WORKLOADS:
        print(f"usage: python -m bench {{{','.join(WORKLOADS)}}} [options]", file=sys.stderr)
        raise SystemExit(2)
    importlib.import_module(WORKLOADS[sys.argv[1]]).main(sys.argv[2:])


main()
