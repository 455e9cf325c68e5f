"""The trade the signal and disk-fault bot processes write, one after another."""

from __future__ import annotations

from datetime import UTC, datetime


def paper_trade(bot_id: str) -> dict[str, object]:
    """An open paper trade of `bot_id`, entered now."""
    return {
        "bot_id": bot_id,
        "trade_type": "paper",
        "entry_logic_name": "Entry",
        "exit_logic_name": "Exit",
        "symbol": "BTCUSDT",
        "interval": "1m",
        "direction": "long",
        "entry_price": "50000.5",
        "size": "0.01",
        "entry_time": datetime.now(UTC),
    }
