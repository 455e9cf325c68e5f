"""Tenants on PostgreSQL: a schema and a role per tenant, so the server keeps them apart.

For tenant "alice", in the database the URL names:
- schema `tenant_alice` holds the tenant's tables, views, trigger function and alembic_version,
  built by the same Alembic revisions as the default schema (run with search_path set to it)
  and owned by the URL's user, who provisions it (a superuser, or a role with CREATEROLE that
  may create schemas in the database);
- table `tenant_alice.asyncstore_feed_channel` holds the NOTIFY channel of the tenant's change
  feed, a random name: PostgreSQL lets any session NOTIFY or LISTEN on any channel, so only a
  name other tenants cannot read keeps them from forging the tenant's changes or hearing them;
- role `asyncstore_tenant_alice` (NOLOGIN, not a superuser, no BYPASSRLS, owns nothing) may use
  that schema, and SELECT, INSERT, UPDATE and DELETE its tables (only SELECT alembic_version and
  the channel's table);
  nothing else: no other schema's tables, no DDL, no VACUUM, no role to switch to.

Every connection of a tenant's Store (writer, read pools, replicas, the change feed's LISTEN)
opens its session with `role` and `search_path` as startup parameters, sent by asyncpg from the
DSN's query. Startup values are the session's own defaults: RESET ROLE and RESET ALL return to
them, and the tenant's pools also reset the session's authorization and role on every release
(`tenant_connection_class`), as does the writer after a batch that ran SQL a caller gave
(`WRITER_SESSION_RESET`), so no connection carries a caller's SET into the next call. Unqualified
names resolve in the tenant's schema only (public is not on the path; pg_temp comes last, so a
temporary table cannot stand in for a tenant's table). A name outside it is refused by the
server ("permission denied for schema tenant_bob").

The trust boundary: when the URL logs in as a superuser (or a member of other roles), SQL a
caller passes that itself says SET ROLE or SET SESSION AUTHORIZATION can leave the tenant's
role until that call's transaction ends (on the writer, a group commit may hold other writes
of the same tenant). For bot code that is not trusted, log in as the tenant's own
role (`ALTER ROLE asyncstore_tenant_alice LOGIN PASSWORD '…'`): it has no other role to
switch to. The catalogs (pg_namespace, pg_class) stay readable to every role, as always in
PostgreSQL: a tenant can learn other tenants' names and table sizes, never their rows.

Names longer than PostgreSQL's 63-byte identifiers keep a readable head and end in `#` and a
hash of the whole tenant name (`#` is never in a tenant name, so no name can forge another's).
Roles belong to the server, not to one database: the same tenant name in two databases of one
server is one role.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url

from asyncstore.tenants import validate_tenant

__all__ = [
    "WRITER_SESSION_RESET",
    "TenantSpace",
    "feed_channel",
    "grant_space",
    "list_tenants",
    "provide_space",
    "quote_identifier",
    "schema_size_sql",
    "tenant_connection_class",
]

SCHEMA_PREFIX = "tenant_"
ROLE_PREFIX = "asyncstore_tenant_"
# The table that holds the tenant's change feed channel: a random name only the tenant's role
# (and the URL's user) can read, so no other tenant can send to it (NOTIFY needs no privilege)
# or LISTEN to it.
FEED_CHANNEL_TABLE = "asyncstore_feed_channel"
_COMMENT_PREFIX = "asyncstore tenant: "
_IDENTIFIER_BYTES = 63


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(prefix: str, tenant: str) -> str:
    name = prefix + tenant
    if len(name) <= _IDENTIFIER_BYTES:  # tenant names are ASCII: characters are bytes
        return name
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:16]
    return f"{prefix}{tenant[: _IDENTIFIER_BYTES - len(prefix) - 17]}#{digest}"


@dataclass(frozen=True, slots=True)
class TenantSpace:
    """Where one tenant lives in a PostgreSQL database, and how its sessions open."""

    tenant: str
    schema: str
    role: str

    @classmethod
    def of(cls, tenant: str) -> TenantSpace:
        validate_tenant(tenant)
        return cls(
            tenant,
            _identifier(SCHEMA_PREFIX, tenant),
            _identifier(ROLE_PREFIX, tenant),
        )

    def session_dsn(self, dsn: str) -> str:
        """`dsn` whose sessions run as the tenant's role, in its schema only. pg_temp is named
        last: a temporary table can never stand in for one of the schema's tables."""
        search_path = f"{quote_identifier(self.schema)}, pg_temp"
        return _with_startup(dsn, search_path=search_path, role=self.role)

    @property
    def lock_key(self) -> int:
        """The advisory lock of this tenant's schema work: tenants start and upgrade in
        parallel, and two processes provisioning the same tenant take turns."""
        digest = hashlib.sha256(f"asyncstore schema {self.schema}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def schema_dsn(self, dsn: str) -> str:
        """`dsn` in the tenant's schema as the URL's own user: provisioning and migrations."""
        return _with_startup(dsn, search_path=quote_identifier(self.schema))


def _with_startup(dsn: str, **parameters: str) -> str:
    # asyncpg sends a DSN's query parameters it does not know as startup server settings.
    url = make_url(dsn)
    return url.update_query_dict(parameters).render_as_string(hide_password=False)


async def provide_space(conn: Any, space: TenantSpace) -> bool:
    """Create the tenant's role and schema if missing (under the schema lock); True if the
    role's grants must be brought up to date (call `grant_space` after the migrations)."""
    import asyncpg

    role, schema = quote_identifier(space.role), quote_identifier(space.schema)
    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", space.role):
        # Suppressed: a Store on another database of this server made it just now.
        with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            await conn.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS")
    superuser = await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    member = await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", space.role)
    if not superuser and not member:  # to switch to it (SET ROLE) without being a superuser
        # Suppressed: a Store on another database granted it just now (roles are the server's).
        with contextlib.suppress(asyncpg.UniqueViolationError):
            await conn.execute(f"GRANT {role} TO CURRENT_USER")
    created = False
    if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", space.schema):
        comment = _quote_literal(_COMMENT_PREFIX + space.tenant)
        async with conn.transaction():  # the comment is how `asyncstore tenants` finds it
            await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.execute(f"COMMENT ON SCHEMA {schema} IS {comment}")
        created = True
    channel_table = f"{schema}.{FEED_CHANNEL_TABLE}"
    if await conn.fetchval("SELECT to_regclass($1)", channel_table) is None:
        async with conn.transaction():
            await conn.execute(f"CREATE TABLE {channel_table} (channel text NOT NULL)")
            await conn.execute(
                f"INSERT INTO {channel_table} "
                "SELECT 'asyncstore_changes_' || replace(gen_random_uuid()::text, '-', '')"
            )
        created = True
    if created:
        return True
    ungranted = await conn.fetchval(
        "SELECT count(*) FROM pg_class c WHERE c.relnamespace = $1::regnamespace "
        "AND c.relkind IN ('r', 'v', 'p') AND NOT has_table_privilege($2, c.oid, 'SELECT')",
        quote_identifier(space.schema),
        space.role,
    )
    return bool(ungranted)


async def grant_space(conn: Any, space: TenantSpace) -> None:
    """The tenant's role may read and write its tables' rows, and nothing more."""
    role, schema = quote_identifier(space.role), quote_identifier(space.schema)
    await conn.execute(
        f"GRANT USAGE ON SCHEMA {schema} TO {role};"
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};"
        f"REVOKE INSERT, UPDATE, DELETE ON {schema}.alembic_version FROM {role};"
        f"REVOKE INSERT, UPDATE, DELETE ON {schema}.{FEED_CHANNEL_TABLE} FROM {role};"
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};"
    )


async def feed_channel(conn: Any, space: TenantSpace) -> str:
    """The tenant's change feed channel (made by `provide_space`)."""
    table = f"{quote_identifier(space.schema)}.{FEED_CHANNEL_TABLE}"
    return str(await conn.fetchval(f"SELECT channel FROM {table} LIMIT 1"))


def schema_size_sql(schema_expression: str) -> str:
    """Bytes of every table (with its indexes and TOAST) in the schema the expression names."""
    return (
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
        f"WHERE c.relnamespace = ({schema_expression})::regnamespace AND c.relkind IN ('r', 'm')"
    )


async def list_tenants(conn: Any) -> dict[str, int]:
    """Every tenant provisioned in the connected database, with the bytes its tables take."""
    rows = await conn.fetch(
        "SELECT substr(d.description, $1), n.nspname FROM pg_namespace n "
        "JOIN pg_description d ON d.objoid = n.oid "
        "AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0 "
        "WHERE starts_with(d.description, $2) ORDER BY 1",
        len(_COMMENT_PREFIX) + 1,
        _COMMENT_PREFIX,
    )
    sizes = {}
    for tenant, schema in rows:
        sizes[tenant] = int(await conn.fetchval(schema_size_sql("$1"), quote_identifier(schema)))
    return sizes


# Back to the session's own user and the startup role (the tenant's): what a caller's SQL may
# have changed with SET SESSION AUTHORIZATION or SET ROLE. RESET ALL does neither.
_BACK_TO_THE_TENANT = "RESET SESSION AUTHORIZATION;\nRESET ROLE;\n"
# The writer's connection after a batch that ran caller-given SQL (asyncstore.postgres.writer):
# also every other setting, session advisory locks and LISTENs, as asyncpg's pool reset does.
WRITER_SESSION_RESET = (
    _BACK_TO_THE_TENANT + "RESET ALL;\nSELECT pg_advisory_unlock_all();\nUNLISTEN *;"
)


def tenant_connection_class() -> Any:
    """asyncpg's Connection whose release reset also goes back to the tenant's role (in the
    same round trip): a pooled connection never keeps what a caller's SQL set."""
    import asyncpg

    class _TenantConnection(asyncpg.Connection):  # type: ignore[misc]
        def get_reset_query(self) -> str:
            return _BACK_TO_THE_TENANT + str(super().get_reset_query())

    return _TenantConnection
