"""Read replicas of a PostgreSQL Store: which one answers the next read, and which one rests.

Replicas take reads in turn. One that could not answer (down, restarting, out of connections,
or not yet at the primary's schema) rests for REPLICA_REST_S: reads go to the others, or to the
primary, instead of each waiting on it. Which reads may go to a replica at all (read-your-writes)
is the backend's business.
"""

from __future__ import annotations

import time
from typing import Any

from asyncstore.postgres.errors import is_connection_loss

__all__ = [
    "REPLICA_CONNECT_TIMEOUT_S",
    "REPLICA_REST_S",
    "ReplicaSet",
    "maybe_the_querys_own_fault",
    "replica_cannot_answer",
]

REPLICA_REST_S = 5.0
# A connection to a replica that does not answer gives up after this long.
REPLICA_CONNECT_TIMEOUT_S = 5.0


class ReplicaSet:
    """The replicas' asyncpg pools, taken in turn, skipping those that rest."""

    def __init__(self, pools: list[Any]) -> None:
        self.pools = pools
        self._rests_until = [0.0] * len(pools)
        self._last = -1

    def __bool__(self) -> bool:
        return bool(self.pools)

    def next(self) -> Any | None:
        """The next replica that is not resting; None when every one failed just now."""
        now = time.monotonic()
        for _ in self.pools:
            self._last = (self._last + 1) % len(self.pools)
            if self._rests_until[self._last] <= now:
                return self.pools[self._last]
        return None

    def rest(self, pool: Any) -> None:
        if pool in self.pools:  # not after close() let go of the pools
            self._rests_until[self.pools.index(pool)] = time.monotonic() + REPLICA_REST_S


def replica_cannot_answer(exc: Exception) -> bool:
    """The replica is unreachable, ended the session or is busy, or lags behind a schema change
    (tables differ)."""
    import asyncpg

    return (
        maybe_the_querys_own_fault(exc)
        or is_connection_loss(exc)  # refused, reset, shutting down, session ended, too many
        or isinstance(exc, asyncpg.SerializationError)  # on a standby: a recovery conflict
    )


def maybe_the_querys_own_fault(exc: Exception) -> bool:
    """A missing table or column: a replica behind a schema change, or simply a wrong query
    (then the primary fails it too, and the replica is not to blame)."""
    import asyncpg

    return isinstance(exc, asyncpg.UndefinedTableError | asyncpg.UndefinedColumnError)
