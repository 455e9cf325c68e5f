"""asyncstore: the trading database of the spec as an async library for asyncio bots.

One writer with group commit serialises SQLite writes; read-only connections serve reads;
PostgreSQL serves fleets of bots on many hosts. The layout follows the architecture:
`store` (lifecycle) over `backend` (the protocol) over `sqlite/` and `postgres/`; `schema/`
(tables, records, codec, revisions) below them; `repository/`, `operations/`, `bots/` and
`cli/` above.
"""

from asyncstore.bots import (
    BotHeartbeat,
    BotRecovery,
    StopRequest,
    find_stale_bots,
    mark_stale_bots,
    recover_bot,
    stop_on_signals,
)
from asyncstore.config import StoreSettings
from asyncstore.errors import (
    AsyncStoreError,
    BackupError,
    ConfigurationError,
    DatabaseInUseError,
    DatabaseUnavailableError,
    DuplicateError,
    FieldError,
    ForeignKeyError,
    IntegrityError,
    InvalidDataError,
    LifecycleError,
    MigrationError,
    NotFoundError,
    SchemaVersionError,
    StoreClosedError,
    UnreadableRowError,
)
from asyncstore.feed import Change, ChangeStream
from asyncstore.ids import new_id
from asyncstore.operations.retention import CleanupProgress, CleanupReport
from asyncstore.reports import CompactReport, HealthReport
from asyncstore.repository import BotRepository, TradeRepository
from asyncstore.repository.activity import ActivityBucket, EquityPoint
from asyncstore.repository.summary import StrategySummary, TradeSummary
from asyncstore.schema.records import (
    BotInstanceCreate,
    BotInstanceRecord,
    BotInstanceUpdate,
    PerformanceMetricsCreate,
    PerformanceMetricsRecord,
    TradeCreate,
    TradeRecord,
    TradeUpdate,
)
from asyncstore.schema.revisions import SchemaState
from asyncstore.store import Store, StoreState

__version__ = "0.1.0"

__all__ = [
    "ActivityBucket",
    "AsyncStoreError",
    "BackupError",
    "BotHeartbeat",
    "BotInstanceCreate",
    "BotInstanceRecord",
    "BotInstanceUpdate",
    "BotRecovery",
    "BotRepository",
    "Change",
    "ChangeStream",
    "CleanupProgress",
    "CleanupReport",
    "CompactReport",
    "ConfigurationError",
    "DatabaseInUseError",
    "DatabaseUnavailableError",
    "DuplicateError",
    "EquityPoint",
    "FieldError",
    "ForeignKeyError",
    "HealthReport",
    "IntegrityError",
    "InvalidDataError",
    "LifecycleError",
    "MigrationError",
    "NotFoundError",
    "PerformanceMetricsCreate",
    "PerformanceMetricsRecord",
    "SchemaState",
    "SchemaVersionError",
    "StopRequest",
    "Store",
    "StoreClosedError",
    "StoreSettings",
    "StoreState",
    "StrategySummary",
    "TradeCreate",
    "TradeRecord",
    "TradeRepository",
    "TradeSummary",
    "TradeUpdate",
    "UnreadableRowError",
    "__version__",
    "find_stale_bots",
    "mark_stale_bots",
    "new_id",
    "recover_bot",
    "stop_on_signals",
]
