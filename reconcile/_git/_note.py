"""The move note: the journal a checked-out branch's move keeps in the git directory.

``git-reconcile-move`` holds one line, ``<branch> <old> <new>``: the branch, the
commit it was at (git's null id when it was unborn) and the commit it is moving
to. The move writes it before the checkout starts and removes it once the ref has
moved, so a note found by a run is a move a crash cut short. The note is written
to a temporary name and renamed into place, so a crash while writing it leaves no
half note behind.

A note that does not parse (three fields, a valid branch name, two 40-hex ids) is
never obeyed: the next run renames it ``git-reconcile-move.invalid-<UTC>`` and goes
on. A note that can no longer be obeyed (its branch moved elsewhere since) is
renamed ``git-reconcile-move.outdated-<UTC>``. Notes set aside are kept for a
human to read; nothing reads them again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from ._repo import ZERO

__all__ = ["JOURNAL", "MoveNote", "drop_note", "read_note", "set_aside", "write_note"]

JOURNAL = "git-reconcile-move"  # in the git directory while a checked-out branch moves
_HEX = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class MoveNote:
    """A move of ``branch`` from ``old`` (None: unborn) to ``new``."""

    branch: str
    old: str | None
    new: str

    @property
    def refname(self) -> str:
        return f"refs/heads/{self.branch}"

    def line(self) -> str:
        return f"{self.branch} {self.old or ZERO} {self.new}\n"


def write_note(gitdir: Path, note: MoveNote) -> None:
    """Put ``note`` in place, all of it or nothing."""
    temporary = gitdir / f"{JOURNAL}.writing"
    temporary.write_text(note.line())
    os.replace(temporary, gitdir / JOURNAL)


def drop_note(gitdir: Path) -> None:
    (gitdir / JOURNAL).unlink(missing_ok=True)


def read_note(gitdir: Path) -> MoveNote | str | None:
    """The note in ``gitdir``: None when there is none, the note, or (a str) the
    text of a note that does not parse."""
    try:
        text = (gitdir / JOURNAL).read_text(errors="replace")
    except FileNotFoundError:
        return None
    fields = text.split()
    if len(fields) != 3:
        return text
    branch, old, new = fields
    valid = (
        bool(pygit2.reference_is_valid_name(f"refs/heads/{branch}"))
        and bool(_HEX.fullmatch(old))
        and bool(_HEX.fullmatch(new))
        and new != ZERO
    )
    if not valid:
        return text
    return MoveNote(branch, None if old == ZERO else old, new)


def set_aside(gitdir: Path, why: str) -> Path:
    """Rename the note ``git-reconcile-move.<why>-<UTC>`` (a number added when that
    name is taken); return its new path."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    base = gitdir / f"{JOURNAL}.{why}-{stamp}"
    target, n = base, 1
    while target.exists():
        n += 1
        target = base.with_name(f"{base.name}-{n}")
    os.replace(gitdir / JOURNAL, target)
    return target
