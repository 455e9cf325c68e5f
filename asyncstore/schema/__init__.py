"""The data model shared by every backend: the spec's tables (SQLAlchemy), the records and
input rules (pydantic), how values are stored (codec), SQL compiled per dialect, and the schema
revisions (Alembic, in `migrations/`)."""
