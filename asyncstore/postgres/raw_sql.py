"""Raw SQL strings on PostgreSQL: `?` placeholders (as on SQLite) numbered `$1, $2, …`.

asyncstore's own statements are SQLAlchemy objects compiled for PostgreSQL; this is only for SQL
text a caller passes to `Store.fetch_all`, so a string written for SQLite's `?` runs here too. A
small lexer walks the text and numbers each `?` that is code: a `?` inside a string ('…', E'…'
with backslash escapes, $tag$…$tag$), a quoted identifier or a comment is left alone, and `??`
stands for a literal `?` (jsonb's operator, so PostgreSQL-only SQL anyway), as in JDBC.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["numbered_placeholders"]

# What a `?` inside is not a placeholder; each alternative is matched whole, first match wins.
_SKIPPED = re.compile(
    r"""(?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'"""  # E'it\'s' (backslash escapes)
    r"""|'(?:[^']|'')*'"""  # 'it''s'
    r'|"(?:[^"]|"")*"'  # "odd ?name"
    r"|(?<![\w$])\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$"  # $$ … $$, $fn$ … $fn$
    r"|--[^\n]*"  # -- comment
    r"|/\*.*?\*/",  # /* comment */
    re.DOTALL,
)


@lru_cache(maxsize=512)
def numbered_placeholders(sql: str) -> str:
    """'… = ? AND … IN (?, ?)' → '… = $1 AND … IN ($2, $3)'; `??` → `?`."""
    out: list[str] = []
    number = 0
    position = 0
    while position < len(sql):
        char = sql[position]
        if char == "?":
            if sql.startswith("??", position):
                out.append("?")
                position += 2
                continue
            number += 1
            out.append(f"${number}")
            position += 1
            continue
        skipped = _SKIPPED.match(sql, position) if char in "'\"$-/Ee" else None
        if skipped is not None and skipped.end() > position:
            out.append(skipped.group())
            position = skipped.end()
            continue
        out.append(char)
        position += 1
    return "".join(out)
