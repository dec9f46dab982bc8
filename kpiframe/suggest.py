"""'Did you mean' hints for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def unknown(kind: str, name: str, candidates: Iterable[str]) -> tuple[str, str | None]:
    """Message and hint for an unknown reference, e.g. unknown metric 'bookngs' (did you mean ...)."""
    hint = did_you_mean(name, candidates)
    return (
        f"unknown {kind} '{name}'" + (f" ({hint})" if hint else ""),
        None if hint else f"known {kind}s: {', '.join(sorted(candidates)[:12]) or 'none'}",
    )
