"""The repository layer: the spec's API over a Store, for all bots or one.

`TradeRepository` and `BotRepository` are thin: each method hands over to the module that does
the work (`bots`, `trades`, `metrics`, `bulk`), which validates, encodes and submits write
operations, and decodes what reads return (`records`). `queries` holds the read statements,
`changes` the update path, `performance` the metrics arithmetic.
"""

from asyncstore.repository.bot_repository import BotRepository
from asyncstore.repository.trade_repository import TradeRepository

__all__ = ["BotRepository", "TradeRepository"]
