"""`python -m compat [--check]`: regenerate COMPATIBILITY.md, or only report whether it is current."""

from __future__ import annotations

import argparse
import sys

from compat import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if COMPATIBILITY.md is out of date")
    args = parser.parse_args(argv)
    path = generate.OUTPUT_PATH
    if args.check:
        current = path.exists() and path.read_text() == generate.render()
        print(f"{path.name} is {'up to date' if current else 'out of date: run python -m compat'}")
        return 0 if current else 1
    changed = generate.write(path)
    print(f"{path.name} {'written' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
