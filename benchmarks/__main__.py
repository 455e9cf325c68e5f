"""python -m benchmarks [--quick]: run every benchmark and print its table."""

from __future__ import annotations

import argparse
import asyncio

from benchmarks.write_throughput import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: finishes in seconds")
    args = parser.parse_args()
    asyncio.run(run(quick=args.quick))


if __name__ == "__main__":
    main()
