"""Text helpers shared by the events and the sinks: one-line summaries, clipped
blocks and counted nouns."""

from __future__ import annotations

__all__ = ["clip", "one_line", "plural"]

SUMMARY_MAX = 300


def one_line(text: str, limit: int = SUMMARY_MAX) -> str:
    """``text`` with its whitespace runs made single spaces, clipped to ``limit``
    characters (the last one an ellipsis when clipped)."""
    return clip(" ".join(text.split()), limit)


def clip(text: str, limit: int) -> str:
    """``text`` clipped to ``limit`` characters, the last one an ellipsis when clipped."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(n: int, word: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
