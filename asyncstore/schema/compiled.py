"""SQL compiled once per dialect from SQLAlchemy statement objects.

asyncstore builds every statement it runs as a SQLAlchemy object (select, insert, update,
delete, DDL). Each backend compiles it with its own dialect (SQLite: `?` placeholders; asyncpg:
`$1::TYPE`), once: SQLAlchemy's compiler costs ~100 µs a call, and the statements are fixed, so
the compiled text is cached per (statement, dialect). Values are bound by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import ClauseElement, Executable

from asyncstore.errors import FieldError, InvalidDataError

__all__ = ["CompiledSQL", "compile_statement", "named_params", "positional_params"]


@dataclass(frozen=True, slots=True)
class CompiledSQL:
    """A statement compiled for one dialect: its text, bind names in order, literal values."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]

    def params(self, values: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
        """Positional parameters: `values` by bind name, else the literal compiled in; a bind
        with neither is an InvalidDataError (never a silent NULL, as SQLAlchemy would say)."""
        given = values or {}
        try:
            return tuple(
                given[name] if name in given else self.defaults[name] for name in self.names
            )
        except KeyError as missing:
            raise InvalidDataError(
                "query",
                [FieldError("params", f"no value for the bind parameter :{missing.args[0]}")],
            ) from None


@lru_cache(maxsize=1024)
def compile_statement(statement: Executable, dialect: Dialect) -> CompiledSQL:
    """`statement` compiled for `dialect` (cached: statements are module-level or cached
    objects, so the same object comes back and compiles once)."""
    # render_postcompile: an IN over a list of values (a caller's own statement) becomes one
    # placeholder per value, bound like any other.
    compiled = cast(ClauseElement, statement).compile(
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    # Positional dialects (qmark, numeric_dollar) record the order of their binds.
    order: list[str] | None = getattr(compiled, "positiontup", None)
    # Values compiled in (literals, LIMIT's OFFSET 0) are defaults; a bind made without a value
    # (`bindparam("x")`) is required, so leaving it out is an error, not NULL.
    binds = getattr(compiled, "binds", {})  # DDL compilers have none
    literals = {
        name: value
        for name, value in (compiled.params or {}).items()
        if name not in binds or not binds[name].required
    }
    return CompiledSQL(str(compiled), tuple(order or ()), literals)


def positional_params(params: Mapping[str, Any] | Sequence[Any]) -> Sequence[Any]:
    """The parameters of a SQL string: a sequence, one per `?` placeholder."""
    if isinstance(params, Mapping | str | bytes):
        raise InvalidDataError(
            "query", [FieldError("params", "a SQL string takes a sequence of values, one per ?")]
        )
    if not isinstance(params, Sequence):
        raise InvalidDataError(
            "query", [FieldError("params", f"must be a sequence of values, got {params!r:.60}")]
        )
    return params


def named_params(params: Mapping[str, Any] | Sequence[Any]) -> Mapping[str, Any]:
    """The parameters of a SQLAlchemy statement: a mapping of bind names to values."""
    if isinstance(params, Mapping):
        return params
    if isinstance(params, Sequence) and not isinstance(params, str | bytes) and not params:
        return {}  # the default `()`: a statement without binds
    raise InvalidDataError(
        "query", [FieldError("params", "a SQLAlchemy statement takes a mapping of named values")]
    )
