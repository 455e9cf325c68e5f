"""Benchmarks: asyncstore beside raw sqlite3 (the physical limit) and naive SQLAlchemy."""
