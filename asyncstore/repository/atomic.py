"""Atomic units of work: several writes that commit together or not at all.

    async with repo.atomic() as unit:
        unit.close_trade(trade.id, {"exit_price": price})
        unit.update_bot_instance(bot_id, {"extra_metadata": {"position": 0}})

Each call on the unit validates its input at once (InvalidDataError right there, nothing
recorded) and returns what will be written: a new row's record (its id included), or, for a
change to an existing row, a `PendingWrite` whose `.result` is the row as stored once the unit
has committed. Nothing is written inside the block. When it exits normally, every write runs in
ONE transaction through the Store's writer (on SQLite the single writer, in the same group
commits as other callers' writes), in the order they were made; the first that fails undoes the
whole unit, and its error (DuplicateError, NotFoundError, LifecycleError, …) is raised from the
`async with`. An exception inside the block writes nothing and propagates unchanged.

A unit is used once. Cancelling the task while the unit commits is like cancelling any write:
once the writer has taken it, it commits (see asyncstore.write_queue).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, TypeVar

from asyncstore.errors import AsyncStoreError, FieldError, InvalidDataError
from asyncstore.repository.bots import BOT_CODEC, heartbeat_stamp, prepare_create_bot_instance
from asyncstore.repository.changes import Data, changes_of, claim_for_bot, encoded_changes
from asyncstore.repository.metrics import prepare_performance_metrics
from asyncstore.repository.records import from_updated_row
from asyncstore.repository.scripts import heartbeat_script, insert_script, run_all, update_script
from asyncstore.repository.trades import (
    TRADE_CODEC,
    prepare_close_trade,
    prepare_create_trade,
    prepare_update_trade,
)
from asyncstore.schema.records import (
    BotInstanceRecord,
    BotInstanceUpdate,
    PerformanceMetricsRecord,
    TradeRecord,
)
from asyncstore.schema.tables import BOTS, METRICS, TRADES
from asyncstore.schema.validation import validate_bot_id
from asyncstore.store import Store
from asyncstore.writes import Script, TransactionScript

__all__ = ["AtomicUnit", "PendingWrite"]

T = TypeVar("T")

_UNSET: Any = object()


class PendingWrite(Generic[T]):
    """A change recorded in an atomic unit; `.result` is the row as stored after it commits."""

    __slots__ = ("_result", "subject")

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self._result: Any = _UNSET

    @property
    def done(self) -> bool:
        return self._result is not _UNSET

    @property
    def result(self) -> T:
        if self._result is _UNSET:
            raise AsyncStoreError(
                f"{self.subject}: not written yet (the atomic unit commits when its "
                "`async with` block ends; it failed, or has not ended)"
            )
        result: T = self._result
        return result

    def _resolve(self, value: T) -> None:
        self._result = value

    def __repr__(self) -> str:
        state = "committed" if self.done else "pending"
        return f"<PendingWrite {self.subject} ({state})>"


class AtomicUnit:
    """The writes of one `async with repo.atomic()` block (see the module docstring)."""

    def __init__(self, store: Store, owner: str | None = None) -> None:
        self._store = store
        self._owner = owner  # a bot-scoped repository's bot: its rows only
        self._scripts: list[Callable[[], Script[Any]]] = []
        # What to do with each script's result once the unit committed.
        self._finish: list[Callable[[Any], None]] = []
        self._state = "open"

    # --- writes -----------------------------------------------------------------------------

    def create_trade(self, data: Data) -> TradeRecord:
        record, row, subject = prepare_create_trade(self._store, self._owned(data, "trade"))
        self._add(lambda: insert_script(TRADES, row, subject), None)
        return record

    def update_trade(self, trade_id: Any, data: Data) -> PendingWrite[TradeRecord]:
        prepared = prepare_update_trade(self._store, trade_id, data, self._owner)
        pending: PendingWrite[TradeRecord] = PendingWrite(prepared.subject)
        self._add(prepared.script, lambda row: pending._resolve(_trade(row)))
        return pending

    def close_trade(self, trade_id: Any, data: Data) -> PendingWrite[TradeRecord]:
        prepared = prepare_close_trade(self._store, trade_id, data, self._owner)
        pending: PendingWrite[TradeRecord] = PendingWrite(prepared.subject)
        self._add(prepared.script, lambda rows: pending._resolve(_trade(rows[0])))
        return pending

    def create_bot_instance(self, data: Data) -> BotInstanceRecord:
        record, row, subject = prepare_create_bot_instance(self._store, data)
        self._require_own_bot(record.id)
        self._add(lambda: insert_script(BOTS, row, subject), None)
        return record

    def update_bot_instance(self, bot_id: Any, data: Data) -> PendingWrite[BotInstanceRecord]:
        bot_id = self._require_own_bot(validate_bot_id(bot_id))
        subject = f"bot instance {bot_id!r}"
        changes = changes_of(self._store, BotInstanceUpdate, data, f"update of {subject}")
        values = encoded_changes(self._store, BOT_CODEC, changes, subject)
        pending: PendingWrite[BotInstanceRecord] = PendingWrite(subject)
        self._add(
            lambda: update_script(BOTS, bot_id, values, subject),
            lambda row: pending._resolve(from_updated_row(BotInstanceRecord, BOT_CODEC, row)),
        )
        return pending

    def heartbeat(self, bot_id: Any) -> datetime:
        bot_id = self._require_own_bot(validate_bot_id(bot_id))
        at, stamp, subject = heartbeat_stamp(bot_id)
        self._add(lambda: heartbeat_script(bot_id, stamp, subject), None)
        return at

    def create_performance_metrics(self, data: Data) -> PerformanceMetricsRecord:
        record, row, subject = prepare_performance_metrics(
            self._store, self._owned(data, "performance metrics")
        )
        self._add(lambda: insert_script(METRICS, row, subject), None)
        return record

    # --- the block ----------------------------------------------------------------------------

    async def __aenter__(self) -> AtomicUnit:
        if self._state != "open":
            raise AsyncStoreError("an atomic unit is used once: call repo.atomic() again")
        self._state = "recording"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._state = "finished"
        scripts, self._scripts = self._scripts, []
        if exc_type is not None or not scripts:
            return  # the block failed (its exception goes on), or wrote nothing
        subject = f"atomic unit of {len(scripts)} writes"
        results = await self._store.submit(TransactionScript(lambda: run_all(scripts), subject))
        for finish, result in zip(self._finish, results, strict=True):
            finish(result)

    # --- helpers ------------------------------------------------------------------------------

    def _add(self, script: Callable[[], Script[Any]], finish: Callable[[Any], None] | None) -> None:
        if self._state != "recording":
            raise AsyncStoreError(
                "write inside the `async with repo.atomic() as unit:` block (the unit has "
                + ("ended" if self._state == "finished" else "not started")
                + ")"
            )
        self._scripts.append(script)
        self._finish.append(finish or _ignore)

    def _owned(self, data: Data, subject: str) -> Data:
        return data if self._owner is None else claim_for_bot(data, self._owner, subject)

    def _require_own_bot(self, bot_id: str) -> str:
        if self._owner is not None and bot_id != self._owner:
            raise InvalidDataError(
                f"bot instance {bot_id!r}",
                [FieldError("bot_id", f"this repository is bound to bot {self._owner!r}")],
            )
        return bot_id


def _ignore(result: Any) -> None:
    return None


def _trade(row: Any) -> TradeRecord:
    return from_updated_row(TradeRecord, TRADE_CODEC, row)
