"""How big each scenario runs: full size, or the small quick size CI runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    writes_per_level: int
    lifecycle_cycles: int
    heartbeat_seconds: float
    bulk_rows: tuple[int, ...]
    mixed_bulk_rows: int
    read_table_rows: tuple[int, ...]
    read_calls: int
    # Closed full trades of the one bot whose reads the loop-stall scenario measures.
    stall_trades: tuple[int, ...]

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                writes_per_level=1_000,
                lifecycle_cycles=5,
                heartbeat_seconds=2.0,
                bulk_rows=(20_000, 100_000),
                mixed_bulk_rows=40_000,
                read_table_rows=(10_000, 200_000),
                read_calls=300,
                stall_trades=(20_000, 100_000),
            )
        return cls(
            writes_per_level=5_000,
            lifecycle_cycles=20,
            heartbeat_seconds=10.0,
            bulk_rows=(100_000, 1_000_000),
            mixed_bulk_rows=1_000_000,
            read_table_rows=(10_000, 10_000_000),
            read_calls=2_000,
            stall_trades=(100_000, 1_000_000),
        )
