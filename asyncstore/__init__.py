"""asyncstore: the trading database of the spec as an async library for asyncio bots.

One writer with group commit serialises SQLite writes; read-only connections serve reads.
"""

from asyncstore.config import StoreSettings
from asyncstore.errors import (
    AsyncStoreError,
    BackupError,
    ConfigurationError,
    DatabaseInUseError,
    DuplicateError,
    FieldError,
    ForeignKeyError,
    IntegrityError,
    InvalidDataError,
    MigrationError,
    NotFoundError,
    SchemaVersionError,
    StoreClosedError,
)
from asyncstore.ids import new_id
from asyncstore.repository import TradeRepository
from asyncstore.retention import CleanupProgress, CleanupReport
from asyncstore.runtime import (
    BotHeartbeat,
    BotRecovery,
    find_stale_bots,
    mark_stale_bots,
    recover_bot,
)
from asyncstore.schema_migrations import SchemaState
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
    "BackupError",
    "BotHeartbeat",
    "BotInstanceCreate",
    "BotInstanceRecord",
    "BotInstanceUpdate",
    "BotRecovery",
    "CleanupProgress",
    "CleanupReport",
    "ConfigurationError",
    "DatabaseInUseError",
    "DuplicateError",
    "FieldError",
    "ForeignKeyError",
    "HealthReport",
    "IntegrityError",
    "InvalidDataError",
    "MigrationError",
    "NotFoundError",
    "PerformanceMetricsCreate",
    "PerformanceMetricsRecord",
    "SchemaState",
    "SchemaVersionError",
    "Store",
    "StoreClosedError",
    "StoreSettings",
    "StoreState",
    "TradeCreate",
    "TradeRecord",
    "TradeRepository",
    "TradeUpdate",
    "__version__",
    "find_stale_bots",
    "mark_stale_bots",
    "new_id",
    "recover_bot",
]
