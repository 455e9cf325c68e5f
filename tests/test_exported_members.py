import asyncstore


def test_all_is_sorted_and_complete() -> None:
    assert asyncstore.__all__ == sorted(asyncstore.__all__)
    for name in asyncstore.__all__:
        assert hasattr(asyncstore, name), name


def test_public_api_contract_names() -> None:
    # DESIGN.md §3: users' code and acceptance checks depend on these names.
    from asyncstore import Store, TradeRepository

    for method in [
        "create_bot_instance",
        "get_bot_instance",
        "update_bot_instance",
        "heartbeat",
        "create_trade",
        "update_trade",
        "get_trade_by_id",
        "get_open_trades",
        "get_closed_trades",
        "bulk_create_trades",
        "create_performance_metrics",
        "get_trade_summary",
        "cleanup_old_data",
    ]:
        assert callable(getattr(TradeRepository, method)), method
    # DESIGN.md §3, the newer part: pages and time ranges.
    for method in ["get_trades", "iter_trades", "get_strategy_summary"]:
        assert callable(getattr(TradeRepository, method)), method
    # … and bookkeeping: closing with PnL, units of work, bulk updates.
    for method in ["close_trade", "atomic", "bulk_update_trades"]:
        assert callable(getattr(TradeRepository, method)), method
    for method in [
        "start",
        "close",
        "create_tables",
        "health",
        "compact",
        "__aenter__",
        "__aexit__",
    ]:
        assert callable(getattr(Store, method)), method


def test_summaries_are_exported() -> None:
    from asyncstore import StrategySummary, TradeSummary

    assert {"StrategySummary", "TradeSummary"} <= set(asyncstore.__all__)
    assert TradeSummary.__module__ == StrategySummary.__module__ == "asyncstore.repository.summary"


def test_activity_reads_and_records_are_exported() -> None:
    from asyncstore import ActivityBucket, BotRepository, EquityPoint, TradeRepository
    from asyncstore.repository import activity

    assert {"ActivityBucket", "EquityPoint"} <= set(asyncstore.__all__)
    assert EquityPoint.__module__ == ActivityBucket.__module__ == "asyncstore.repository.activity"
    # The dashboard calls these by name (issue #15).
    assert callable(activity.equity_history) and callable(activity.heartbeat_timeline)
    for repository in (TradeRepository, BotRepository):
        for method in ["equity_history", "heartbeat_timeline"]:
            assert callable(getattr(repository, method)), (repository, method)


def test_error_tree() -> None:
    from asyncstore import (
        AsyncStoreError,
        ConfigurationError,
        DuplicateError,
        ForeignKeyError,
        IntegrityError,
        InvalidDataError,
        NotFoundError,
        StoreClosedError,
    )

    for error in [
        ConfigurationError,
        StoreClosedError,
        InvalidDataError,
        NotFoundError,
        IntegrityError,
    ]:
        assert issubclass(error, AsyncStoreError)
    assert issubclass(InvalidDataError, ValueError)
    assert issubclass(DuplicateError, IntegrityError)
    assert issubclass(ForeignKeyError, IntegrityError)
