"""`python -m bench large [--size-mib N]`: the workloads in this folder."""

from __future__ import annotations

import sys

from bench import large_object

WORKLOADS = {"large": large_object.main}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in WORKLOADS:
        print(f"usage: python -m bench {{{','.join(WORKLOADS)}}} [options]", file=sys.stderr)
        raise SystemExit(2)
    WORKLOADS[sys.argv[1]](sys.argv[2:])


main()
