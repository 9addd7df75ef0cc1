"""Citations: every plan attribute rests on a sentence of a plan, quoted verbatim.

``source`` is ``"<plan file name> <chapter/section/box>"``; ``quote`` must be a
substring of that plan's text. The plans are kept in ``data/plans`` exactly as
received.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PLAN_FILES = {
    "chongqing": "chongqing-sti-plan-2021-2025.txt",
    "yunyang": "yunyang-sti-plan-2021-2025.txt",
}


@lru_cache(maxsize=8)
def plan_text(plans_dir: Path, file_name: str) -> str:
    return (plans_dir / file_name).read_text(encoding="utf-8")


def citation_problem(source: object, quote: object, plans_dir: Path) -> str | None:
    """Why a (source, quote) pair is not a valid citation, or None if it is."""
    if not isinstance(source, str) or not source.strip():
        return "missing 'source'"
    if not isinstance(quote, str) or not quote.strip():
        return "missing 'quote'"
    file_name = source.split()[0]
    if file_name not in PLAN_FILES.values():
        return f"source {source!r} must start with a plan file name ({', '.join(PLAN_FILES.values())})"
    if len(source.split()) < 2:
        return f"source {source!r} must name a chapter/section/box after the file name"
    if quote not in plan_text(plans_dir, file_name):
        return f"quote not found verbatim in {file_name}: {quote[:60]!r}"
    return None
