"""The SQL logging switch: `echo=True`, or the spec's own troubleshooting recipe."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from asyncstore import Store, TradeRepository
from tests.conftest import BOT_ID, run_python, trade_data


@pytest.fixture
def spec_recipe() -> Iterator[None]:
    engine_logger = logging.getLogger("sqlalchemy.engine")
    level = engine_logger.level
    engine_logger.setLevel(logging.INFO)  # the spec's "Enable SQL logging"
    yield
    engine_logger.setLevel(level)


async def _trade_and_read(db_url: str, **options: bool) -> str:
    async with Store(db_url, **options) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        trade = await repo.create_trade(trade_data(symbol="ECHOUSDT"))
        await repo.get_trade_by_id(trade.id)
        return trade.id


async def test_echo_logs_every_statement_with_its_values(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncstore.sql")
    trade_id = await _trade_and_read(db_url, echo=True)
    logged = [r.getMessage() for r in caplog.records if r.name == "asyncstore.sql"]
    assert any("INSERT INTO trades" in m and "'ECHOUSDT'" in m for m in logged)
    assert any(m.startswith("SELECT") and trade_id in m for m in logged)  # reads too
    assert "COMMIT" in logged


async def test_no_sql_is_logged_by_default(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asyncstore.sql")
    await _trade_and_read(db_url)
    assert [r for r in caplog.records if r.name == "asyncstore.sql"] == []


@pytest.mark.usefixtures("spec_recipe")
async def test_the_specs_recipe_turns_it_on(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asyncstore.sql")
    await _trade_and_read(db_url)
    assert any("INSERT INTO trades" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "setup",
    [
        # The spec's troubleshooting recipe, in a program that set up logging the usual way.
        'logging.basicConfig(); logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)',
        # echo=True in a program that set up no logging at all.
        "",
    ],
)
def test_sql_is_seen_in_a_real_program(db_url: str, setup: str) -> None:
    # Not through caplog, which lowers the logger's level itself: what a user's program prints.
    echo = "" if setup else ", echo=True"
    program = f"""
import asyncio, logging
from asyncstore import Store, TradeRepository
{setup}

async def main() -> None:
    async with Store({db_url!r}{echo}) as store:
        await TradeRepository(store).create_bot_instance({{"id": "echo_bot", "type": "paper"}})

asyncio.run(main())
"""
    done = run_python(program)
    assert done.returncode == 0, done.stderr
    assert "INSERT INTO bot_instances" in done.stderr and "'echo_bot'" in done.stderr
