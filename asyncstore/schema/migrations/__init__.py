"""Alembic migrations of the asyncstore schema (run by `asyncstore.schema_migrations`)."""
