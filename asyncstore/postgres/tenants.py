"""Tenants on PostgreSQL: a schema and a role per tenant, so the server keeps them apart.

For tenant "alice", in the database the URL names:
- schema `tenant_alice` holds the tenant's tables, views, trigger function and alembic_version,
  built by the same Alembic revisions as the default schema (run with search_path set to it)
  and owned by the URL's user, who provisions it (a superuser, or a role with CREATEROLE that
  may create schemas in the database);
- role `asyncstore_tenant_alice` (NOLOGIN, not a superuser, no BYPASSRLS, owns nothing) may use
  that schema, and SELECT, INSERT, UPDATE and DELETE its tables (only SELECT alembic_version);
  nothing else: no other schema's tables, no DDL, no VACUUM, no role to switch to.

Every connection of a tenant's Store (writer, read pools, replicas, the change feed's LISTEN)
opens its session with `role` and `search_path` as startup parameters, sent by asyncpg from the
DSN's query. Startup values are the session's own defaults: RESET ROLE and RESET ALL return to
them, and the tenant's pools also RESET ROLE on every release (`tenant_connection_class`), so no
connection carries another tenant's setting or a caller's SET into the next call, and
unqualified names resolve in the tenant's schema only (public is not on the path). A name
outside it is refused by the server ("permission denied for schema tenant_bob").

The trust boundary: when the URL logs in as a superuser (or a member of other roles), SQL a
caller passes that itself says SET ROLE or SET SESSION AUTHORIZATION can leave the tenant's
role for the rest of that call. For bot code that is not trusted, log in as the tenant's own
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
    "TenantSpace",
    "grant_space",
    "list_tenants",
    "provide_space",
    "quote_identifier",
    "schema_size_sql",
    "tenant_connection_class",
]

SCHEMA_PREFIX = "tenant_"
ROLE_PREFIX = "asyncstore_tenant_"
CHANNEL_PREFIX = "asyncstore_changes_"
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
    channel: str  # its change feed's NOTIFY channel: other tenants' Stores never hear it

    @classmethod
    def of(cls, tenant: str) -> TenantSpace:
        validate_tenant(tenant)
        return cls(
            tenant,
            _identifier(SCHEMA_PREFIX, tenant),
            _identifier(ROLE_PREFIX, tenant),
            _identifier(CHANNEL_PREFIX, tenant),
        )

    def session_dsn(self, dsn: str) -> str:
        """`dsn` whose sessions run as the tenant's role, in its schema only."""
        return _with_startup(dsn, search_path=quote_identifier(self.schema), role=self.role)

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
        await conn.execute(f"GRANT {role} TO CURRENT_USER")
    if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", space.schema):
        await conn.execute(f"CREATE SCHEMA {schema}")
        comment = _quote_literal(_COMMENT_PREFIX + space.tenant)
        await conn.execute(f"COMMENT ON SCHEMA {schema} IS {comment}")
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
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};"
    )


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


def tenant_connection_class() -> Any:
    """asyncpg's Connection whose release reset also says RESET ROLE (in the same round trip):
    a pooled connection goes back to the tenant's role whatever a caller's SQL set."""
    import asyncpg

    class _TenantConnection(asyncpg.Connection):  # type: ignore[misc]
        def get_reset_query(self) -> str:
            return "RESET ROLE;\n" + str(super().get_reset_query())

    return _TenantConnection
