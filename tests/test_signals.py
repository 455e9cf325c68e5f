"""A bot process asked to stop (SIGTERM from a process manager, SIGINT from Ctrl+C) under
`stop_on_signals`: it exits 0 within a bounded time, every write it acknowledged is stored, and
its bots are marked stopped. Real processes (tests/processes/signal_bot.py), both backends."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from asyncstore import Store, TradeRepository
from asyncstore.bots.shutdown import FORCED_EXIT_STATUS

BOTS = 8
ACKS_BEFORE_THE_SIGNAL = 40
STOP_WITHIN_S = 30.0  # generous for a loaded CI machine; a clean stop takes well under 1 s


async def _start(url: str, *options: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCSTORE_")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.processes.signal_bot",
        url,
        str(BOTS),
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _lines_until(child: asyncio.subprocess.Process, acks: list[str], wanted: int) -> None:
    """Read the child's output until READY and `wanted` acknowledged trades."""
    assert child.stdout is not None
    ready = False
    while not (ready and len(acks) >= wanted):
        line = (await asyncio.wait_for(child.stdout.readline(), 60)).decode()
        assert line, "the bot process ended before it was asked to stop"
        ready = ready or line.strip() == "READY"
        if line.startswith("ACK "):
            acks.append(line.split()[1])


async def _stop(
    child: asyncio.subprocess.Process, sig: signal.Signals, acks: list[str]
) -> tuple[int, list[str], str, float]:
    """Send `sig`; (exit status, the lines after the last ACK, stderr, seconds to exit)."""
    assert child.stdout is not None and child.stderr is not None
    sent = time.monotonic()
    child.send_signal(sig)
    out, err = await asyncio.wait_for(child.communicate(), STOP_WITHIN_S)
    took = time.monotonic() - sent
    rest = []
    for line in out.decode().splitlines():
        if line.startswith("ACK "):
            acks.append(line.split()[1])  # acknowledged after the signal, before the cancel
        else:
            rest.append(line.strip())
    return child.returncode if child.returncode is not None else -1, rest, err.decode(), took


async def _stored(url: str, trade_ids: list[str]) -> tuple[int, dict[str, str]]:
    """(how many of `trade_ids` are stored, each bot's status)."""
    async with Store(url) as store:
        stored = {
            row[0]
            for row in await store.fetch_all("SELECT id FROM trades WHERE bot_id LIKE 'signal-%'")
        }
        bots = await TradeRepository(store).get_bot_instances()
    return len(stored & set(trade_ids)), {b.id: b.status for b in bots}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signalled_bot_process_commits_what_it_acknowledged_and_stops_cleanly(
    db_url: str, sig: signal.Signals
) -> None:
    child = await _start(db_url)
    acks: list[str] = []
    try:
        await _lines_until(child, acks, ACKS_BEFORE_THE_SIGNAL)
        status, rest, stderr, took = await _stop(child, sig, acks)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert status == 0, stderr
    assert rest[-1] == f"STOPPED {sig.name}", (rest, stderr)
    assert "Traceback" not in stderr, stderr
    assert took < STOP_WITHIN_S
    stored, statuses = await _stored(db_url, acks)
    assert stored == len(acks)  # every acknowledged write survived the stop
    assert statuses == {f"signal-bot-{n}": "stopped" for n in range(BOTS)}


async def test_a_stop_that_overruns_its_grace_ends_the_process_at_once(db_url: str) -> None:
    """Cleanup that hangs (here: each bot's takes 60 s) does not keep the process alive past
    its grace: it exits with status 1 after about `--grace` seconds, and what was acknowledged
    before is stored all the same."""
    child = await _start(db_url, "--slow-stop", "60", "--grace", "2")
    acks: list[str] = []
    try:
        await _lines_until(child, acks, ACKS_BEFORE_THE_SIGNAL)
        status, rest, stderr, took = await _stop(child, signal.SIGTERM, acks)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert status == FORCED_EXIT_STATUS, stderr
    assert "still stopping after 2.0 s" in stderr
    assert 2.0 <= took < STOP_WITHIN_S
    stored, _ = await _stored(db_url, acks)
    assert stored == len(acks)
