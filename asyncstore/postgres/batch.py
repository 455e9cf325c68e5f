"""One group commit on the writer's PostgreSQL connection: many callers' operations, ONE
transaction, a few round trips.

The batch is planned as on SQLite (asyncstore.batch_plan): single-row inserts into one table go
as one `executemany` of one prepared INSERT (pipelined: one round trip), all heartbeats as ONE
UPDATE over two arrays (each bot at its latest time), every other operation on its own (a bulk
chunk by COPY, see asyncstore.postgres.writes).

A failure costs only what failed. PostgreSQL aborts the whole transaction at a statement's error,
so the batch is rolled back and its operations run again, each in a transaction of its own:
only the faulty one fails. A lost connection fails every operation of the batch with
DatabaseUnavailableError, which says whether COMMIT was on its way (the batch may have been
committed) or not (nothing was).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncstore.batch_plan import (
    Alone,
    BatchResult,
    HeartbeatGroup,
    InsertGroup,
    Outcome,
    Step,
    latest_beats,
    plan,
)
from asyncstore.clock import utc_now
from asyncstore.feed.change import RESYNC_NOTE, Note
from asyncstore.feed.notes import batch_notes
from asyncstore.postgres.errors import Phase, is_connection_loss, translate_postgres_error
from asyncstore.postgres.feed import Announcer
from asyncstore.postgres.statements import HEARTBEATS_SQL, insert_sql
from asyncstore.postgres.writes import Refused, StatementLog, run_write
from asyncstore.writes import TransactionScript, WriteOp

__all__ = ["StaleConnection", "run_batch"]


class StaleConnection(Exception):
    """The connection was found dead at BEGIN, before anything of the batch was sent (the
    server ended an idle session, or restarted between two batches): safe to run again."""


def _failed(exc: BaseException, op: WriteOp[Any], phase: Phase) -> Outcome:
    error = translate_postgres_error(exc, op.subject, phase=phase)
    if error is not exc:
        error.__cause__ = exc
    return False, error


async def _run_step(
    conn: Any,
    step: Step,
    ops: Sequence[WriteOp[Any]],
    results: list[Any],
    log: StatementLog,
    script_notes: dict[int, list[Note]],
) -> int:
    """Run one step, filling in its members' results (and what scripts wrote); returns
    heartbeat UPDATEs sent."""
    if isinstance(step, Alone):
        notes = script_notes.setdefault(step.member, []) if _is_script(ops[step.member]) else None
        results[step.member], heartbeat_statements = await run_write(
            conn, ops[step.member], log, notes
        )
        return heartbeat_statements
    if isinstance(step, InsertGroup):
        sql = insert_sql(step.table, False, 1)
        for row in step.rows:
            log(sql, row)
        await conn.executemany(sql, step.rows)
        for member in step.members:
            results[member] = 1
        return 0
    return await _run_heartbeats(conn, step, results, log)


async def _run_heartbeats(
    conn: Any, group: HeartbeatGroup, results: list[Any], log: StatementLog
) -> int:
    latest = latest_beats(group.beats)
    ids, times = list(latest), list(latest.values())
    log(HEARTBEATS_SQL, (ids, times))
    found = {bot_id for (bot_id,) in await conn.fetch(HEARTBEATS_SQL, ids, times)}
    for member, beat in zip(group.members, group.beats, strict=True):
        results[member] = beat.bot_id in found
    return 1


def _is_script(op: WriteOp[Any]) -> bool:
    return isinstance(op, TransactionScript)


async def run_batch(
    conn: Any, ops: Sequence[WriteOp[Any]], log: StatementLog, announcer: Announcer
) -> BatchResult:
    """Run `ops` as one transaction; never raises for an operation's failure: each gets its
    outcome. `connection_lost` tells the writer to connect afresh; StaleConnection, raised
    when BEGIN finds the connection dead, that it may run the batch again on a fresh one.
    What the batch changed is announced with NOTIFY in the same transaction (`announcer`: this
    writer and its channel), and handed back for this process's subscribers."""
    results: list[Any] = [None] * len(ops)
    script_notes: dict[int, list[Note]] = {}
    heartbeat_statements = 0
    transaction = conn.transaction()
    log("BEGIN", ())
    try:
        await transaction.start()
    except Exception as exc:
        if is_connection_loss(exc):
            raise StaleConnection from exc
        # Whatever BEGIN left behind (asyncpg's own transaction state), a fresh connection
        # is the safe way on.
        return _all_failed(exc, ops, "before_commit", lost=True)
    try:
        for step in plan(ops):
            heartbeat_statements += await _run_step(conn, step, ops, results, log, script_notes)
        outcomes = [_outcome(result, op) for result, op in zip(results, ops, strict=True)]
        notes = batch_notes(ops, outcomes, script_notes)
        committed_at = await announcer.notify(conn, notes, log) if notes else None
    except Exception as exc:
        if not is_connection_loss(exc):
            try:
                await transaction.rollback()
            except Exception as lost:  # the connection may still be in the transaction
                return _all_failed(lost, ops, "before_commit", lost=True)
            # One operation's error aborted the transaction, now rolled back: run each
            # operation again on its own, so only the faulty one fails.
            return await _one_by_one(conn, ops, log, announcer)
        return _all_failed(exc, ops, "before_commit")
    log("COMMIT", ())
    try:
        await transaction.commit()
    except Exception as exc:  # an error now came while committing
        failed = _all_failed(exc, ops, "commit")
        if notes:
            # The batch may have committed (and its NOTIFY reached other processes): this
            # process's subscribers cannot be told what exactly, so they are told to resync.
            failed.notes, failed.committed_at = [RESYNC_NOTE], utc_now()
        return failed
    return BatchResult(outcomes, heartbeat_statements, notes=notes, committed_at=committed_at)


def _outcome(result: Any, op: WriteOp[Any]) -> Outcome:
    """A run operation's outcome: its result, or the error of a script that refused."""
    if isinstance(result, Refused):
        return _failed(result.error, op, "before_commit")
    return True, result


def _all_failed(
    exc: BaseException, ops: Sequence[WriteOp[Any]], phase: Phase, *, lost: bool = False
) -> BatchResult:
    """Every operation failed with `exc`; `lost`: drop the connection even if `exc` does not
    say it broke."""
    return BatchResult(
        [_failed(exc, op, phase) for op in ops], connection_lost=lost or is_connection_loss(exc)
    )


async def _one_by_one(
    conn: Any, ops: Sequence[WriteOp[Any]], log: StatementLog, announcer: Announcer
) -> BatchResult:
    outcomes: list[Outcome] = []
    heartbeat_statements = 0
    all_notes: list[Note] = []
    committed_at = None
    for index, op in enumerate(ops):
        phase: Phase = "before_commit"
        written: list[Note] = []
        try:
            async with conn.transaction():
                result, beats = await run_write(conn, op, log, written)
                outcome = _outcome(result, op)
                notes = batch_notes([op], [outcome], {0: written} if _is_script(op) else {})
                at = await announcer.notify(conn, notes, log) if notes else None
                phase = "commit"
        except Exception as exc:
            outcomes.append(_failed(exc, op, phase))
            if is_connection_loss(exc):  # the rest cannot run: nothing of them was sent
                rest = _all_failed(exc, ops[index + 1 :], "before_commit").outcomes
                return BatchResult(
                    outcomes + rest,
                    heartbeat_statements,
                    len(ops),
                    True,
                    notes=all_notes,
                    committed_at=committed_at,
                )
            continue
        heartbeat_statements += beats
        outcomes.append(outcome)
        all_notes += notes
        committed_at = at or committed_at
    return BatchResult(
        outcomes,
        heartbeat_statements,
        retried_operations=len(ops),
        notes=all_notes,
        committed_at=committed_at,
    )
