"""`python -m bench WORKLOAD [options]`: the workloads in this folder (`--help` after a workload name
describes it): large, storage, listing, ops, compare, cluster."""

from __future__ import annotations

import sys

from bench import cluster, compare, large_object, listing, ops, storage

WORKLOADS = {
    "large": large_object.main,
    "storage": storage.main,
    "listing": listing.main,
    "ops": ops.main,
    "compare": compare.main,
    "cluster": cluster.main,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in WORKLOADS:
        print(f"usage: python -m bench {{{','.join(WORKLOADS)}}} [options]", file=sys.stderr)
        raise SystemExit(2)
    WORKLOADS[sys.argv[1]](sys.argv[2:])


main()
