"""The write operations the single writer understands: plain data, built and encoded on the loop.

Repositories validate and encode before an operation is queued, so the writer thread only binds
ready tuples. Each operation carries a `subject` ("trade 0190…") used to word its errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Heartbeat", "InsertRows", "Statements", "UpdateReturning", "WriteOperation"]

Params = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class InsertRows:
    """INSERT of one or more pre-encoded rows. Result: the number of rows inserted.

    `ignore_conflicts` inserts use ON CONFLICT DO NOTHING; their count is their own, so they are
    never merged with other callers' rows. `bulk` chunks travel in the bulk lane (one per batch).
    """

    sql: str
    rows: Sequence[Params]
    subject: str
    ignore_conflicts: bool = False
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class UpdateReturning:
    """One UPDATE … WHERE id = ? RETURNING *. Result: the updated row, or None for an unknown id."""

    sql: str
    params: Params
    subject: str
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Stamp a bot's last_heartbeat. Heartbeats of one bot in one batch coalesce into one UPDATE.

    `at` is the encoded time of the call. Result: True when the bot exists.
    """

    bot_id: str
    at: str
    subject: str
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class Statements:
    """Several statements that succeed or fail together (DDL, cleanup, a no-op ping).

    Result: each statement's rowcount.
    """

    statements: Sequence[tuple[str, Params]]
    subject: str
    bulk: bool = False


WriteOperation = InsertRows | UpdateReturning | Heartbeat | Statements
