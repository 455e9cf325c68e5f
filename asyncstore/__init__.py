"""asyncstore: the trading database of the spec as an async library for asyncio bots.

One writer with group commit serialises SQLite writes; read-only connections serve reads.
"""

from asyncstore.config import StoreSettings
from asyncstore.errors import (
    AsyncStoreError,
    ConfigurationError,
    DuplicateError,
    FieldError,
    ForeignKeyError,
    IntegrityError,
    InvalidDataError,
    NotFoundError,
    StoreClosedError,
)
from asyncstore.ids import new_id
from asyncstore.repository import TradeRepository
from asyncstore.schemas import (
    BotInstanceCreate,
    BotInstanceRecord,
    BotInstanceUpdate,
    PerformanceMetricsCreate,
    PerformanceMetricsRecord,
    TradeCreate,
    TradeRecord,
    TradeUpdate,
)
from asyncstore.store import HealthReport, Store, StoreState

__version__ = "0.1.0"

__all__ = [
    "AsyncStoreError",
    "BotInstanceCreate",
    "BotInstanceRecord",
    "BotInstanceUpdate",
    "ConfigurationError",
    "DuplicateError",
    "FieldError",
    "ForeignKeyError",
    "HealthReport",
    "IntegrityError",
    "InvalidDataError",
    "NotFoundError",
    "PerformanceMetricsCreate",
    "PerformanceMetricsRecord",
    "Store",
    "StoreClosedError",
    "StoreSettings",
    "StoreState",
    "TradeCreate",
    "TradeRecord",
    "TradeRepository",
    "TradeUpdate",
    "__version__",
    "new_id",
]
