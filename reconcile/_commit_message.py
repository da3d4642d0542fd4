"""Commit messages: the template, git's whitespace clean-up, trailers in git's format,
the length cap that never cuts a trailer, and several messages made one (for
coalesced requests and squashed commits).

A trailer block is the message's last paragraph when every line of it is
``Key: value`` and it is not the message's only paragraph, as
``git interpret-trailers --parse`` reads it. New trailers join an existing block;
otherwise they start one after a blank line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ._commit import Trailer

__all__ = ["FILES_SHOWN", "cleanup", "combine", "compose", "files_text", "render", "split_trailers"]

FILES_SHOWN = 5  # paths {files} names before "and N more"
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"

_TRAILER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*): ?(.*)$")


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced, everywhere it appears
    (other braces are left as they are)."""
    text = template
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def files_text(paths: Sequence[str], shown: int = FILES_SHOWN) -> str:
    """The first ``shown`` paths, then "and N more"."""
    more = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" and {more} more" if more > 0 else "")


def cleanup(message: str) -> str:
    """git's ``whitespace`` clean-up (``git commit -m``): trailing spaces removed, runs
    of blank lines made one, blank lines at both ends removed, one final newline."""
    lines: list[str] = []
    for raw in message.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def split_trailers(message: str) -> tuple[str, list[Trailer]]:
    """The message without its trailer block, and the block's ``(key, value)`` pairs."""
    text = cleanup(message).rstrip("\n")
    head, blank, last = text.rpartition("\n\n")
    if not blank:
        return text, []
    found = [_TRAILER_LINE.match(line) for line in last.split("\n")]
    if not all(found):
        return text, []
    return head, [(m[1], m[2].strip()) for m in found if m is not None]


def _truncate(body: str, room: int) -> str:
    """``body`` cut at a word boundary to at most ``room`` characters, an ellipsis
    marking the cut; at least its first word is kept."""
    if len(body) <= room:
        return body
    keep = body[: max(room - 1, 0)]
    boundary = max(keep.rfind(" "), keep.rfind("\n"))
    keep = (keep[:boundary] if boundary > 0 else keep).rstrip()
    if not keep:
        keep = body.split(maxsplit=1)[0][: max(room - 1, 1)]
    return keep + ELLIPSIS


def compose(body: str, trailers: Sequence[Trailer], max_length: int | None = None) -> str:
    """The message: ``body``, then its own trailers and ``trailers`` (a repeated one
    once) in one block after a blank line. With ``max_length``, the body is cut at a
    word so that the whole fits; the trailers are never cut."""
    text, own = split_trailers(body)
    block = list(dict.fromkeys([*own, *trailers]))
    tail = "\n".join(f"{key}: {value}" for key, value in block)
    if max_length is not None:
        text = _truncate(text, max_length - (len(tail) + 2 if tail else 0))
    return cleanup(text + (f"\n\n{tail}" if tail else ""))


def combine(messages: Sequence[str]) -> str:
    """Several messages as one: their texts in order (a repeated one once), then every
    trailer of each, in one block."""
    texts: list[str] = []
    block: list[Trailer] = []
    for message in messages:
        text, own = split_trailers(message)
        if text.strip() and text not in texts:
            texts.append(text)
        block += own
    return compose("\n\n".join(texts), block)
