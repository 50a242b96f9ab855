"""Small markdown tables for notebooks: results grids and each notebook's findings.

A rendered notebook should show a table as a table, not as a dict repr or a block of
aligned text. ``show_table`` displays markdown in Jupyter and prints it elsewhere.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Sequence

__all__ = ["fmt", "markdown_table", "show_table", "findings_table", "evidence_text"]


def fmt(value: Any, digits: int = 3) -> str:
    """A cell: numbers to ``digits`` significant digits, everything else as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        if math.isnan(f) or math.isinf(f):
            return str(f)
        return f"{f:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
                   columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """A GitHub-style markdown table.

    Args:
        rows: dicts (keys are the columns, in first-seen order, unless ``columns`` is
            given) or sequences (then ``columns`` is required).
        columns: header names.
        digits: significant digits for numbers.

    Raises:
        ValueError: no rows, or sequences without ``columns``, or a row of another width.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("markdown_table needs at least one row")
    if isinstance(rows[0], Mapping):
        if columns is None:
            columns = list(dict.fromkeys(k for r in rows for k in r))
        body = [[r.get(c, "") for c in columns] for r in rows]
    else:
        if columns is None:
            raise ValueError("rows given as sequences need columns=")
        body = [list(r) for r in rows]
    columns = list(columns)
    for i, r in enumerate(body):
        if len(r) != len(columns):
            raise ValueError(f"row {i} has {len(r)} cells for {len(columns)} columns")
    lines = ["| " + " | ".join(_cell(str(c)) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(fmt(v, digits)) for v in r) + " |" for r in body]
    return "\n".join(lines)


def show_table(rows, columns=None, digits: int = 3, title: str | None = None) -> None:
    """Display a markdown table in Jupyter (print it outside Jupyter)."""
    text = markdown_table(rows, columns, digits)
    if title:
        text = f"**{title}**\n\n{text}"
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython is always there in notebooks
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


def evidence_text(evidence: Mapping[str, Any] | None) -> str:
    """The key estimate of a claim's evidence: ``estimate [low, high], n = N``."""
    if not evidence:
        return ""
    if "estimate" not in evidence:  # named parts
        return "; ".join(f"{name}: {evidence_text(part)}" for name, part in evidence.items())
    lo, hi = evidence["ci"]
    return f"{fmt(evidence['estimate'])} [{fmt(lo)}, {fmt(hi)}], n = {evidence['n']}"


def findings_table(claims: Sequence[Mapping[str, Any]]) -> str:
    """A notebook's findings: claim, kind, verdict, key estimate with CI, note."""
    rows = []
    for c in claims:
        verdict = c["verdict"] if c["verdict"] == "holds" else f"**{c['verdict']}**"
        rows.append([f"`{c['id']}`: {c['statement']}", c["kind"], verdict,
                     evidence_text(c.get("evidence")) or "–", c.get("note", "") or "–"])
    return "## Findings\n\n" + markdown_table(rows, ["claim", "kind", "verdict", "estimate [CI], n", "note"])
