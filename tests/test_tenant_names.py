"""Tenant names: valid ones map to a folder inside `tenants/` and to PostgreSQL identifiers
that fit and never collide; anything else is a ConfigurationError before anything is touched."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncstore import ConfigurationError, Store
from asyncstore.postgres.tenants import TenantSpace
from asyncstore.tenants import TENANTS_FOLDER, tenant_file, validate_tenant

ALLOWED = string.ascii_letters + string.digits + "_-"
valid_names = st.text(alphabet=ALLOWED, min_size=1, max_size=63)
DATABASE = Path("/srv/bots/db/trading.db")


@given(valid_names)
def test_a_valid_name_maps_to_a_folder_inside_tenants(name: str) -> None:
    assert validate_tenant(name) == name
    path = tenant_file(DATABASE, name)
    assert path.parent.parent == DATABASE.parent / TENANTS_FOLDER
    assert path.parent.name == name and path.name == DATABASE.name
    assert path.resolve() == path  # nothing in it walks anywhere ('..', '.', separators)


@given(valid_names)
def test_a_valid_name_gives_postgresql_identifiers_that_fit(name: str) -> None:
    space = TenantSpace.of(name)
    for identifier in (space.schema, space.role):
        assert 0 < len(identifier.encode()) <= 63
        assert '"' not in identifier and "\x00" not in identifier
    assert space.schema not in {"public", "pg_catalog", "information_schema"}


@given(st.lists(valid_names, min_size=2, max_size=2, unique=True))
def test_two_names_never_share_a_schema_or_role(names: list[str]) -> None:
    first, second = (TenantSpace.of(name) for name in names)
    assert first.schema != second.schema
    assert first.role != second.role


def test_long_names_keep_a_readable_head_and_cannot_forge_a_short_one() -> None:
    long_name = "x" * 63
    space = TenantSpace.of(long_name)
    assert space.schema.startswith("tenant_xxxx") and "#" in space.schema
    # A name that spells out the hashed form is impossible: '#' is no tenant name's.
    with pytest.raises(ConfigurationError):
        validate_tenant(space.schema.removeprefix("tenant_"))


invalid_names = st.one_of(
    st.just(""),
    st.text(alphabet=ALLOWED, min_size=64, max_size=200),  # too long
    st.sampled_from(
        [
            "..",
            "../bob",
            "alice/../../etc",
            "a/b",
            "a\\b",
            ".",
            "alice ",
            " alice",
            "al ice",
            "alice\n",
            "alice\x00",
            'alice"; DROP SCHEMA public; --',
            "alice'",
            "tenant.bob",
            "ålice",
            "alice\u200b",  # zero-width space
            "Ａlice",  # fullwidth A
            "алиса",
            "🤖",
        ]
    ),
    # Anything with at least one character outside the allowed set, unicode included.
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.text(alphabet=ALLOWED, max_size=20),
        st.characters(blacklist_characters=ALLOWED),
        st.text(alphabet=ALLOWED, max_size=20),
    ),
)


@settings(max_examples=300)
@given(invalid_names)
def test_anything_else_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ConfigurationError, match="tenant"):
        validate_tenant(name)
    with pytest.raises(ConfigurationError, match="tenant"):
        TenantSpace.of(name)


@pytest.mark.parametrize("name", ["../escape", "a/b", "x" * 64, "", 'q"uote', 7, None])
def test_a_store_with_a_bad_tenant_is_refused_before_anything_is_created(
    tmp_path: Path, name: object
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'trading.db'}"
    if name is None:  # None is "no tenant": the database's own data, as without tenants
        assert Store(url, tenant=name).tenant is None
        return
    with pytest.raises(ConfigurationError, match="tenant"):
        Store(url, tenant=name)
    with pytest.raises(ConfigurationError, match="tenant"):
        Store("postgresql+asyncpg://postgres@127.0.0.1/test", tenant=name)
    assert list(tmp_path.iterdir()) == []  # no folder, no file
