"""The core scenarios of the benchmark suite, by name; each returns a Table of side-by-side
figures. The others (failures, cleanup, postgresql, stalls) are added in __main__."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.bulk import bulk
from benchmarks.durability import durability
from benchmarks.harness import Table
from benchmarks.heartbeats import heartbeats
from benchmarks.mixed import mixed
from benchmarks.reads import reads
from benchmarks.sizes import Sizes
from benchmarks.writes import concurrent_creates, lifecycle

Scenario = Callable[[Path, Sizes], Awaitable[Table]]

SCENARIOS: dict[str, Scenario] = {
    "creates": concurrent_creates,
    "lifecycle": lifecycle,
    "heartbeats": heartbeats,
    "bulk": bulk,
    "mixed": mixed,
    "reads": reads,
    "durability": durability,
}
