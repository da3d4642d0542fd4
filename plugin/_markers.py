"""The README's generated blocks (the state diagram, the exit codes, the configuration
reference): the text between a block's two markers, replaced, and a file rewritten
only when that changed it. Standard library only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["rewrite", "with_block"]


def with_block(text: str, begin: str, end: str, block: str, what: str) -> str:
    """``text`` with what stands between ``begin`` and ``end`` replaced by ``block``;
    ``ValueError`` naming ``what`` when the markers are not there."""
    start = text.find(begin)
    stop = text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"the README has no {what} markers ({begin} ... {end})")
    return f"{text[:start]}{begin}\n{block}{text[stop:]}"


def rewrite(path: Path, rewritten: Callable[[str], str]) -> bool:
    """Rewrite ``path`` as ``rewritten`` makes its text; True when that changed it."""
    old = path.read_text(encoding="utf-8")
    new = rewritten(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old
