"""Are the README's guarantees falsifiable? Remove each mechanism (one edit) and see a test fail.

    python -m tests.guarantee_mutations            # every mechanism
    python -m tests.guarantee_mutations savepoint  # those whose title contains a word

Each mutation runs in a fresh git worktree of HEAD (your working tree is never touched): the
edit is applied, the test that pins the mechanism runs against the mutated code (PYTHONPATH
points at the worktree, also for the processes tests start), and the edit is undone. Every
mutation must be CAUGHT (its test fails); the exit status is 1 if any SURVIVED. Not part of the
suite: it runs the pinning tests once per mechanism (a few minutes); needs PostgreSQL and root
(the tmpfs disk-full test) like the suite itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    title: str  # the mechanism that is removed
    path: str
    old: str  # the code that must appear exactly once
    new: str
    tests: str  # the pytest ids that must fail without it


MUTATIONS = [
    Mutation(
        "a read-only Store has no writer",
        "asyncstore/sqlite/backend.py",
        "        if self.settings.read_only:\n            return await self._start_read_only()\n",
        "",
        "tests/test_read_only_store.py::"
        "test_a_read_only_store_reads_and_hears_changes_but_never_writes",
    ),
    Mutation(
        "change feed: only operations that succeeded are announced",
        "asyncstore/feed/notes.py",
        "        if not ok:\n            continue\n",
        "",
        "tests/test_feed.py::test_failed_writes_are_not_announced",
    ),
    Mutation(
        "change feed: SQLite logs each commit for other processes",
        "asyncstore/sqlite/feed.py",
        "    cursor = conn.execute(_RECORD, (_stored_time(committed_at), origin, "
        "encode_notes(notes)))\n"
        "    seq = cursor.lastrowid or 0\n",
        "    seq = 1\n",
        "tests/test_feed.py::test_another_process_s_writes_arrive_once",
    ),
    Mutation(
        "change feed: PostgreSQL NOTIFYs in the writing transaction",
        "asyncstore/postgres/feed.py",
        "        await conn.execute(_NOTIFY, self.channel, parts)\n",
        "",
        "tests/test_feed.py::test_another_process_s_writes_arrive_once",
    ),
    Mutation(
        "change feed: the watcher skips what this Store's writer delivered",
        "asyncstore/sqlite/feed.py",
        "                if origin != self._origin:",
        "                if True:",
        "tests/test_feed.py::test_another_process_s_writes_arrive_once",
    ),
    Mutation(
        "change feed: a subscriber that falls behind gets a resync",
        "asyncstore/feed/hub.py",
        "            self._waiting.append(resync(utc_now()))\n",
        "",
        "tests/test_feed.py::test_a_subscriber_that_falls_behind_is_told_to_resync",
    ),
    Mutation(
        "change feed: the change log is pruned",
        "asyncstore/sqlite/feed.py",
        "        conn.execute(_PRUNE, (max(seq - KEEP_COMMITS, 0), cutoff, seq))",
        "        pass",
        "tests/test_feed.py::test_the_change_log_stays_bounded_and_a_lagging_reader_resyncs",
    ),
    Mutation(
        "numeric views give SQLite money as REAL",
        "asyncstore/schema/numeric_views.py",
        'if _is_money(table, name) and dialect.name == "sqlite":',
        "if False:",
        "tests/test_numeric_views.py::"
        "test_the_sqlite3_shell_reads_money_right_from_the_views_and_wrong_from_the_tables",
    ),
    Mutation(
        "compaction: new SQLite files get auto_vacuum INCREMENTAL",
        "asyncstore/sqlite/schema.py",
        '    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")\n',
        "",
        "tests/test_compaction.py::test_new_databases_can_be_compacted_online",
    ),
    Mutation(
        "compaction frees pages in short steps, not in one transaction",
        "asyncstore/sqlite/compaction.py",
        "for _ in range(min(pages, int(free))):",
        "for _ in range(int(free)):",
        "tests/test_compaction.py::"
        "test_compaction_while_50_bots_write_frees_the_pages_and_loses_nothing",
    ),
    Mutation(
        "compaction's one-time VACUUM needs the database to itself",
        "asyncstore/sqlite/compaction.py",
        "        lock.acquire_exclusive(\n",
        "        lock.acquire_shared() or (lambda *_: None)(\n",
        "tests/test_compaction.py::"
        "test_a_database_created_before_is_converted_only_when_no_store_has_it_open",
    ),
    Mutation(
        "cleanup --days 0 needs --yes",
        "asyncstore/cli/commands.py",
        "    if args.yes or args.dry_run:\n        return None\n    emptied",
        "    if True:\n        return None\n    emptied",
        "tests/test_cli_cleanup.py::test_emptying_a_table_is_refused_unless_confirmed",
    ),
    Mutation(
        "cleanup --dry-run counts by the cleanup's own predicate",
        "asyncstore/operations/retention.py",
        'await store.fetch_all(rule.count, {"cutoff": cutoff}, primary=True)',
        "await store.fetch_all(select(func.count()).select_from(rule.table), {}, primary=True)",
        "tests/test_cli_cleanup.py::"
        "test_a_dry_run_writes_nothing_and_counts_what_the_real_run_deletes",
    ),
    Mutation(
        "savepoint rollback of a write of several statements",
        "asyncstore/sqlite/batch.py",
        '                self.conn.execute("ROLLBACK TO op")\n',
        "",
        "tests/test_write_queue.py::"
        "test_a_failing_write_of_several_statements_rolls_back_to_its_savepoint",
    ),
    Mutation(
        "stop the batch when SQLite abandons the transaction",
        "asyncstore/sqlite/batch.py",
        "    if not conn.in_transaction:\n        raise _TransactionLost",
        "    if False:\n        raise _TransactionLost",
        "tests/test_faults.py::test_a_transaction_sqlite_abandons_mid_batch_commits_nothing_of_it",
    ),
    Mutation(
        "one UPDATE for every heartbeat of a batch (counted by SQLite's trace)",
        "asyncstore/sqlite/batch.py",
        "found = _stamp(batch.conn, batch.trace, group.beats)",
        "found = set().union(*(_stamp(batch.conn, batch.trace, [b]) for b in group.beats))",
        "tests/test_write_queue.py::test_heartbeats_of_one_bot_coalesce",
    ),
    Mutation(
        "re-run only the failed statement's rows, not the batch",
        "asyncstore/sqlite/batch.py",
        "            batch.retried += len(members)\n            for member in members:\n"
        "                batch.run_alone(member)\n            continue",
        "            batch.retried += len(group.members)\n            for member in "
        "group.members:\n                batch.run_alone(member)\n            return",
        "tests/test_write_queue.py::test_one_failing_write_in_a_busy_batch_fails_alone",
    ),
    Mutation(
        "a bot created in a batch closes the heartbeat step before it",
        "asyncstore/batch_plan.py",
        "            if written in (None, BOTS.name):",
        "            if written is None:",
        "tests/test_write_queue.py::test_heartbeat_after_a_bot_created_in_the_same_batch",
    ),
    Mutation(
        "a bot created in a batch closes the trade step before it",
        "asyncstore/batch_plan.py",
        "                if written is None or written in _referenced_tables(group.table):",
        "                if written is None:",
        "tests/test_write_queue.py::test_a_trade_of_a_bot_created_in_the_same_batch_finds_its_bot",
    ),
    Mutation(
        "small writes share batches with bulk chunks",
        "asyncstore/write_queue.py",
        "        while self._small and len(batch) < limit:",
        "        while self._small and len(batch) < limit and not self._bulk:",
        "tests/test_bulk.py::test_small_writes_interleave_with_two_bulk_producers",
    ),
    Mutation(
        "bulk inserts go in chunks",
        "asyncstore/repository/bulk.py",
        "        self._chunk_rows = store.settings.bulk_chunk_rows",
        "        self._chunk_rows = 10**9",
        "tests/test_bulk.py::test_small_writes_interleave_with_two_bulk_producers",
    ),
    Mutation(
        "a backup copy failing integrity_check is not kept",
        "asyncstore/sqlite/backup.py",
        "    problems = integrity_problems(partial, busy_timeout_ms=busy_timeout_ms)\n"
        "    if problems:",
        "    problems = integrity_problems(partial, busy_timeout_ms=busy_timeout_ms)\n"
        "    if False:",
        "tests/test_cli_admin.py::test_a_backup_that_fails_its_integrity_check_is_not_kept",
    ),
    Mutation(
        "SQLite readers open the file read-only",
        "asyncstore/sqlite/connections.py",
        '?mode=ro"',
        '?mode=rw"',
        "tests/test_store_lifecycle.py::test_reads_run_on_read_only_connections[sqlite]",
    ),
    Mutation(
        "PostgreSQL read pools are read-only",
        "asyncstore/postgres/connection.py",
        '        settings["default_transaction_read_only"] = "on"',
        "        pass",
        "tests/test_store_lifecycle.py::test_reads_run_on_read_only_connections[postgresql]",
    ),
    Mutation(
        "validated times are converted to UTC (create_trade's record too)",
        "asyncstore/schema/input_columns.py",
        "                value = value.astimezone(UTC)",
        "                value = value",
        "tests/test_exactness.py::test_times_are_converted_to_utc",
    ),
    Mutation(
        "created_at strictly increasing per row (ties in creation order)",
        "asyncstore/repository/bulk.py",
        "stamps = iter(utc_stamp_texts(len(trades)))",
        "stamps = iter(utc_stamp_texts(1) * len(trades))",
        "tests/test_metrics.py::test_ties_in_exit_time_go_in_creation_order_whatever_the_ids",
    ),
    Mutation(
        "exact money sum on SQLite (integer parts, never a float SUM)",
        "asyncstore/schema/expressions.py",
        "    whole, _ = _text_parts(value)\n"
        "    return str(compiler.process(func.sum(whole), **kw))",
        "    return str(compiler.process(func.sum(value), **kw))",
        "tests/test_write_queue.py::test_hundreds_of_coroutines_write_at_once",
    ),
    Mutation(
        "stored rows are trusted, not re-validated",
        "asyncstore/repository/records.py",
        "        return [from_values(model, decode(row)) for row in rows]",
        "        return [model.model_validate(decode(row)) for row in rows]",
        "tests/test_error_tree.py::test_rows_breaking_input_rules_are_trusted",
    ),
    Mutation(
        "an undecodable stored value names its table, row and column",
        "asyncstore/schema/codec.py",
        "        except Exception as exc:  # find the culprit only on this rare path\n"
        "            raise self._unreadable(row, exc) from exc",
        "        except UnreadableRowError:\n            raise",
        "tests/test_error_tree.py::test_an_undecodable_value_names_table_row_and_column",
    ),
    Mutation(
        "bulk input must be a list or an iterable of trades",
        "asyncstore/repository/bulk.py",
        "    else:\n        return\n    raise InvalidDataError",
        "    else:\n        return\n    return\n    raise InvalidDataError",
        "tests/test_error_tree.py::test_named_wrong_types_are_invalid_data",
    ),
    Mutation(
        "a lost PostgreSQL connection is a DatabaseUnavailableError",
        "asyncstore/postgres/errors.py",
        "    if is_connection_loss(exc):\n",
        "    if False:\n",
        "tests/test_postgres_unavailable.py",
    ),
    Mutation(
        "a PostgreSQL start that failed can be tried again",
        "asyncstore/postgres/backend.py",
        "        self._closing = False\n        read_only = self.settings.read_only\n",
        "        read_only = self.settings.read_only\n",
        "tests/test_postgres_unavailable.py::test_a_start_that_failed_can_be_tried_again",
    ),
    Mutation(
        "a connection lost during COMMIT says the write may have committed",
        "asyncstore/postgres/batch.py",
        '        failed = _all_failed(exc, ops, "commit")',
        '        failed = _all_failed(exc, ops, "before_commit")',
        "tests/test_postgres_unavailable.py::"
        "test_a_connection_lost_during_commit_says_the_write_may_have_committed",
    ),
    Mutation(
        "results of many rows are decoded on a worker thread",
        "asyncstore/threads.py",
        "    if len(rows) <= SMALL_RESULT_ROWS:\n        return function(rows)",
        "    if True:\n        return function(rows)",
        "tests/test_loop_offload.py::test_many_rows_are_decoded_off_the_loop_few_on_it",
    ),
    Mutation(
        "metrics are computed on a worker thread",
        "asyncstore/repository/metrics.py",
        "        figures = await asyncio.to_thread(figures_of, rows)",
        "        figures = figures_of(rows)",
        "tests/test_loop_offload.py::test_metrics_are_computed_off_the_loop",
    ),
    Mutation(
        "metadata over max_metadata_bytes is refused",
        "asyncstore/schema/input_columns.py",
        "        if len(data) > rules.max_metadata_bytes:",
        "        if False:",
        "tests/test_loop_offload.py::test_metadata_over_the_limit_is_refused_naming_the_field",
    ),
    Mutation(
        "a forked child drops the pooled randomness of ids",
        "asyncstore/ids.py",
        "os.register_at_fork(after_in_child=_forget_pool)",
        "pass",
        "tests/test_ids.py::test_a_forked_child_never_repeats_its_parents_random_bits",
    ),
    Mutation(
        "metrics re-sort times other tools wrote out of text order",
        "asyncstore/repository/metrics.py",
        "    if any(later < earlier for earlier, later in zip(exits, exits[1:], strict=False)):",
        "    if False:",
        "tests/test_metrics.py::test_exit_order_is_time_order_for_times_other_tools_wrote",
    ),
    Mutation(
        "metrics read closed trades a chunk at a time",
        "asyncstore/repository/metrics.py",
        "rows_per_chunk=_CHUNK_ROWS, primary=True",
        "rows_per_chunk=10**9, primary=True",
        "tests/test_chunked_reads.py::test_metrics_read_closed_trades_a_chunk_at_a_time",
    ),
    Mutation(
        "a chunked read hands its connection back when stopped early",
        "asyncstore/sqlite/readers.py",
        "        finally:\n            self._idle.put_nowait(conn)\n\n"
        "    async def _idle_connection",
        "        except GeneratorExit:\n            raise\n        else:\n"
        "            self._idle.put_nowait(conn)\n\n    async def _idle_connection",
        "tests/test_chunked_reads.py::test_stopping_early_hands_the_connection_back",
    ),
    Mutation(
        "a big document's record is not decoded back on the loop",
        "asyncstore/schema/input_columns.py",
        "        if not rules.record_values or len(data) > _COPIED_DOCUMENT_BYTES:",
        "        if not rules.record_values:",
        "tests/test_loop_offload.py::test_a_small_document_is_copied_a_big_one_kept",
    ),
    Mutation(
        "a huge document is refused before it is encoded whole",
        "asyncstore/schema/input_columns.py",
        "        if _big_parts_over(value, rules.max_metadata_bytes):",
        "        if False:",
        "tests/test_loop_offload.py::test_a_huge_document_is_refused_without_encoding_all_of_it",
    ),
    Mutation(
        "PostgreSQL: writes share group commits",
        "asyncstore/postgres/backend.py",
        "            self._writer = WriteQueue("
        "self._runner, self.settings, self.stats, self._feed)",
        "            self._writer = WriteQueue(\n                self._runner, "
        "self.settings.model_copy(update={'max_batch_ops': 1}), self.stats, self._feed\n"
        "            )",
        "tests/test_postgres_writer.py::test_concurrent_creates_commit_in_few_transactions",
    ),
    Mutation(
        "PostgreSQL: one UPDATE for every heartbeat of a batch (counted by a server trigger)",
        "asyncstore/postgres/batch.py",
        "    return await _run_heartbeats(conn, step, results, log)",
        "    sent = 0\n    for member, beat in zip(step.members, step.beats, strict=True):\n"
        "        alone = HeartbeatGroup([member], [beat])\n"
        "        sent += await _run_heartbeats(conn, alone, results, log)\n    return sent",
        "tests/test_postgres_writer.py::test_heartbeats_of_a_batch_are_one_update_on_the_server",
    ),
    Mutation(
        "PostgreSQL: a statement's error fails only its own operation",
        "asyncstore/postgres/batch.py",
        "            return await _one_by_one(conn, ops, log, announcer)",
        "            return _all_failed(exc, ops, 'before_commit')",
        "tests/test_postgres_writer.py::test_one_bad_write_in_a_batch_fails_alone",
    ),
    Mutation(
        "PostgreSQL: a writer connection found dead at BEGIN is replaced, the batch run again",
        "asyncstore/postgres/writer.py",
        "on a fresh connection.\n            pass",
        "on a fresh connection.\n            raise",
        "tests/test_postgres_unavailable.py::"
        "test_the_writer_session_ended_between_writes_reconnects_without_failing_a_call",
    ),
    Mutation(
        "PostgreSQL: COPY text escapes tabs, newlines and backslashes",
        "asyncstore/postgres/writes.py",
        '            line = "\\t".join([_copy_field(value) for value in row])',
        "            pass",
        "tests/test_postgres_writer.py::test_bulk_by_copy_stores_exactly_what_an_insert_stores",
    ),
    Mutation(
        "PostgreSQL: close() ends a batch stuck past its grace",
        "asyncstore/postgres/backend.py",
        "                        runner.abort()\n",
        "                        pass\n",
        "tests/test_postgres_unavailable.py::"
        "test_close_ends_a_batch_stuck_behind_a_lock_after_its_grace",
    ),
    Mutation(
        "close_trade books the bot's balance with the trade",
        "asyncstore/repository/scripts.py",
        'bot_row = yield from update_script(bot_codec.table, trade["bot_id"], moved, bot_subject)',
        "bot_row = tuple(bot.values())",
        "tests/test_crash.py tests/test_bookkeeping.py::test_long_close_worked_by_hand",
    ),
    Mutation(
        "close_trade checks the stored status inside the writing transaction",
        "asyncstore/repository/scripts.py",
        'figures = closing_values(trade, close, f"close of {subject}")',
        'figures = closing_values({**trade, "status": "open"}, close, f"close of {subject}")',
        "tests/test_bookkeeping.py::test_racing_closes_book_the_trade_once",
    ),
    Mutation(
        "update_trade checks the lifecycle against the stored trade",
        "asyncstore/repository/guarded_update.py",
        "    return statement.where(*(_condition(guard) for guard in guards))",
        "    return statement",
        "tests/test_bookkeeping.py::"
        "test_every_lifecycle_refusal_names_its_field_and_writes_nothing",
    ),
    Mutation(
        "a script (an atomic unit) runs behind its own savepoint",
        "asyncstore/sqlite/batch.py",
        "        return 2  # any number: always behind a savepoint",
        "        return 1",
        "tests/test_atomic.py::test_a_failing_write_fails_the_whole_unit_with_its_error",
    ),
    Mutation(
        "bulk update checks each change against its stored trade",
        "asyncstore/repository/bulk_update.py",
        '    if problems:\n        raise LifecycleError("bulk update", problems)\n    for columns',
        "    for columns",
        "tests/test_bulk_update.py::test_the_lifecycle_rules_hold_against_the_stored_trades",
    ),
    Mutation(
        "bulk update streams an iterator chunk by chunk",
        "asyncstore/repository/bulk_update.py",
        "    chunk_rows = store.settings.bulk_chunk_rows\n",
        "    chunk_rows = store.settings.bulk_chunk_rows\n"
        "    updates = list(updates)  # type: ignore\n",
        "tests/test_bulk_update.py::test_a_million_row_update_streams_in_bounded_memory",
    ),
    Mutation(
        "keyset pages break ties on entry_time by id",
        "asyncstore/repository/trade_pages.py",
        "query.where(tuple_(entry_time, trade_id) > position)",
        "query.where(entry_time > after_time)",
        "tests/test_trade_queries.py::"
        "test_pages_over_thousands_of_tied_trades_give_each_once_in_order",
    ),
    Mutation(
        "pages among trades without entry_time go on from the last one's id",
        "asyncstore/repository/trade_pages.py",
        '        values["after_id"] = after.id\n',
        "        pass\n",
        "tests/test_trade_queries.py::test_trades_without_entry_time_come_last_by_id",
    ),
    Mutation(
        "close_trade locks the trade FOR UPDATE against other processes",
        "asyncstore/repository/scripts.py",
        "    return query.with_for_update()",
        "    return query",
        "tests/test_bookkeeping.py::test_racing_closes_book_the_trade_once[postgresql]",
    ),
    Mutation(
        "the books are computed in asyncstore's decimal context, not the caller's",
        "asyncstore/repository/scripts.py",
        "    add = DECIMAL_CONTEXT.add",
        "    add = lambda a, b: a + b  # noqa: E731",
        "tests/test_bookkeeping.py::"
        "test_the_callers_decimal_context_does_not_change_the_books[postgresql]",
    ),
    Mutation(
        "a script refused before writing fails alone (PostgreSQL: no batch replay)",
        "asyncstore/postgres/writes.py",
        "            return Refused(refusal)",
        "            raise",
        "tests/test_bookkeeping.py::"
        "test_a_refused_close_fails_alone_without_replaying_its_batch[postgresql]",
    ),
    Mutation(
        "bulk update checks the pairs of one trade in order",
        "asyncstore/repository/bulk_update.py",
        "                current = {**current, **changes}\n",
        "",
        "tests/test_bulk_update.py::test_pairs_of_one_trade_in_a_chunk_are_checked_in_order",
    ),
    Mutation(
        "tenants: a SQLite tenant has a file of its own",
        "asyncstore/config.py",
        "    return tenant_file(path, settings.tenant) if settings.tenant else path\n",
        "    return path\n",
        "tests/test_tenants.py::test_the_same_bot_id_in_two_tenants_is_two_separate_bots[sqlite]",
    ),
    Mutation(
        "tenants: a PostgreSQL tenant's sessions run as its role",
        "asyncstore/postgres/tenants.py",
        "        return _with_startup(dsn, search_path=search_path, role=self.role)\n",
        "        return _with_startup(dsn, search_path=search_path)\n",
        "tests/test_tenants_postgres.py::test_naming_another_schema_is_refused_by_the_server",
    ),
    Mutation(
        "tenants: a pooled connection resets the role on release",
        "asyncstore/postgres/tenants.py",
        "            return _BACK_TO_THE_TENANT + str(super().get_reset_query())\n",
        "            return str(super().get_reset_query())\n",
        "tests/test_tenants_postgres.py::"
        "test_one_pooled_connection_never_carries_a_caller_s_set_into_the_next_call",
    ),
    Mutation(
        "tenants: an upgrade grants the tenant's role its new tables",
        "asyncstore/postgres/schema.py",
        "            regrant = space is not None\n",
        "",
        "tests/test_cli_tenants.py::"
        "test_upgrade_brings_every_postgresql_tenant_to_head_with_its_grants",
    ),
    Mutation(
        "tenants: a tenant's writer session is reset after a batch of caller-given SQL",
        "asyncstore/postgres/backend.py",
        "            reset = WRITER_SESSION_RESET if self.space else None\n",
        "            reset = None\n",
        "tests/test_tenants_postgres.py::test_what_a_caller_s_sql_sets_on_the_writer_ends_with_its_batch",
    ),
    Mutation(
        "tenants: a SQLite Store's connections cannot ATTACH another file",
        "asyncstore/sqlite/connections.py",
        "        self.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)\n",
        "",
        "tests/test_tenants.py::test_a_sqlite_tenant_cannot_attach_another_tenant_s_file",
    ),
    Mutation(
        "signals: SIGTERM cancels the bot's task, which then stops cleanly",
        "asyncstore/bots/shutdown.py",
        '        task.cancel(msg=f"stopped by {received.name}")\n',
        "",
        "tests/test_signals.py::"
        "test_a_signalled_bot_process_commits_what_it_acknowledged_and_stops_cleanly",
    ),
    Mutation(
        "signals: a stop that overruns its grace ends the process",
        "asyncstore/bots/shutdown.py",
        '        stop._deadline = loop.call_later(grace_s, _force_exit, f"still stopping after '
        '{grace_s} s")\n',
        "",
        "tests/test_signals.py::test_a_stop_that_overruns_its_grace_ends_the_process_at_once",
    ),
    Mutation(
        "tenants: names are validated",
        "asyncstore/tenants.py",
        "    if _TENANT_NAME.fullmatch(name) is None:\n",
        "    if not name:\n",
        "tests/test_tenant_names.py::test_anything_else_is_refused_naming_the_field",
    ),
    Mutation(
        "tenants: each PostgreSQL tenant's change feed has a channel of its own",
        "asyncstore/postgres/schema.py",
        "        return state, CHANNEL if space is None else await feed_channel(conn, space)\n",
        "        return state, CHANNEL\n",
        "tests/test_tenants.py::test_a_tenant_s_change_feed_hears_only_its_own_commits[postgresql]",
    ),
    Mutation(
        "tenants: `asyncstore upgrade` reaches every tenant",
        "asyncstore/cli/schema_commands.py",
        "    for tenant in tenants:\n        admins[tenant]",
        "    for tenant in tenants[:0]:\n        admins[tenant]",
        "tests/test_cli_tenants.py::"
        "test_upgrade_brings_every_sqlite_tenant_to_head_and_reports_each",
    ),
    Mutation(
        "PostgreSQL: a cleanup vacuums the tables it deleted from",
        "asyncstore/operations/retention.py",
        "        report.vacuumed = await store.reclaim_deleted(tables)\n",
        "        report.vacuumed = tables\n",
        "tests/test_cleanup_vacuum.py::"
        "test_the_rows_a_cleanup_deleted_leave_room_the_next_rows_reuse",
    ),
    Mutation(
        "an archive append the disk fails is cut back to the archive's old end",
        "asyncstore/operations/archive.py",
        "                os.ftruncate(fd, end)\n",
        "                pass\n",
        "tests/test_io_faults.py::test_an_archive_whose_disk_fails_holds_every_deleted_row_once"
        "[fsync-EIO-once-normal-after]",
    ),
    Mutation(
        "an archive is cut back to where it ended when the batch was staged",
        "asyncstore/operations/archive.py",
        "            self._cut_to(self.staged_end)\n",
        "            pass\n",
        "tests/test_archive.py::"
        "test_what_a_stopped_run_appended_of_its_batch_is_cut_before_the_batch_goes_in_once",
    ),
    Mutation(
        "a Parquet archive drops the parts a stopped run wrote of its staged batch",
        "asyncstore/operations/archive.py",
        "        for part in self._part_paths()[end:]:\n            part.unlink()\n",
        "        for part in self._part_paths()[end:]:\n            pass\n",
        "tests/test_archive.py::"
        "test_what_a_stopped_run_appended_of_its_batch_is_cut_before_the_batch_goes_in_once",
    ),
    Mutation(
        "a cleanup's VACUUM skips a table another VACUUM holds, never waits",
        "asyncstore/postgres/compaction.py",
        'CLEANUP_VACUUM = "VACUUM (ANALYZE, SKIP_LOCKED, TRUNCATE false)"',
        'CLEANUP_VACUUM = "VACUUM (ANALYZE, TRUNCATE false)"',
        "tests/test_cleanup_vacuum.py::test_a_table_another_vacuum_holds_is_skipped_not_waited_for",
    ),
    Mutation(
        "a cleanup's VACUUM is best effort: its failure leaves the cleanup done",
        "asyncstore/operations/retention.py",
        "    except AsyncStoreError as exc:\n        report.vacuum_error = str(exc)\n",
        "    except ZeroDivisionError as exc:\n        report.vacuum_error = str(exc)\n",
        "tests/test_cleanup_vacuum.py::"
        "test_a_vacuum_that_cannot_run_leaves_the_cleanup_done_and_says_why",
    ),
    Mutation(
        "PostgreSQL: close() cancels a VACUUM under way",
        "asyncstore/postgres/backend.py",
        "            running.cancel()\n",
        "            pass\n",
        "tests/test_cleanup_vacuum.py::test_close_cancels_a_vacuum_rather_than_wait_for_it",
    ),
]


def _run(worktree: Path, mutation: Mutation) -> tuple[bool, str]:
    path = worktree / mutation.path
    text = path.read_text()
    if text.count(mutation.old) != 1:
        return False, f"the code to remove was found {text.count(mutation.old)} times"
    path.write_text(text.replace(mutation.old, mutation.new))
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(worktree)}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    try:
        run = subprocess.run(
            [*command, *mutation.tests.split()],
            cwd=worktree,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        path.write_text(text)
    lines = run.stdout.strip().splitlines()
    why = next((line.strip() for line in lines if line.startswith("E ")), "")
    summary = lines[-1] if lines else run.stderr.strip()[-200:]
    return run.returncode != 0, f"{summary}  {why[:150]}".strip()


def main(words: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not words or any(w in m.title for w in words)]
    survived = 0
    with tempfile.TemporaryDirectory(prefix="asyncstore-mutations-") as folder:
        worktree = Path(folder) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(worktree), "HEAD"],
            cwd=ROOT,
            check=True,
        )
        try:
            for mutation in chosen:
                caught, detail = _run(worktree, mutation)
                survived += not caught
                verdict = "CAUGHT  " if caught else "SURVIVED"
                print(f"{verdict} {mutation.title}", flush=True)
                print(f"         {mutation.tests}: {detail}", flush=True)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
            )
    print(f"{len(chosen) - survived} of {len(chosen)} removed mechanisms caught by a test")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
