"""Plain-text tables for `rlvr audit`'s listings and summaries.

Its own module, importing nothing, so that `rlvr.audit_report` (which imports `rlvr.audit_query`)
and `rlvr.audit_query` can both use it without importing each other.
"""

from __future__ import annotations


def text_table(headers: list[str], rows: list[list]) -> str:
    """``rows`` under ``headers`` in left-aligned columns, with a dashed line below the header."""
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
