"""What a language model is shown to write a commit message, and what is kept of its
answer.

The prompt is the changed-file list with each file's status, then the diff,
filtered: lock files, binary files, files whose diff is over ``LARGE_DIFF``
characters and every path the policy's ``exclude`` covers are left out (named in
the list, their content not sent); every line holding what the secret scanner
takes for a secret is replaced by ``[redacted: <kind>]`` before the prompt leaves
the process; and a diff over the budget is cut per file so that each keeps a fair
share (small diffs whole, the rest cut to an equal share of what is left), the list
saying which were cut.

The answer is cleaned (``<think>`` blocks, code fences, surrounding quotes, markdown
emphasis and labels such as ``Commit message:`` removed) into a subject of at most
72 characters (cut at a word) and an optional body; an empty, truncated or
unusable answer is refused with the reason.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ._commit_context import FileChange, MessageContext
from ._commit_guard import excluded, secret_in_line

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "LARGE_DIFF",
    "LOCK_FILES",
    "SUBJECT_LENGTH",
    "UnusableAnswer",
    "build_prompt",
    "clean_answer",
]

DEFAULT_SYSTEM_PROMPT: Final = (
    "You write git commit messages. Answer with the commit message only: a subject "
    'line of at most 72 characters in the imperative mood ("Add", "Fix", '
    '"Update"), then, when the change needs it, a blank line and a short body '
    "saying what changed and why. No code fences, no quotes, no markdown, no "
    "preamble."
)
LARGE_DIFF: Final = 100_000  # characters: a file's diff over this is left out
SUBJECT_LENGTH: Final = 72
_BODY_LENGTH = 4000
#: Lock files: their diffs say nothing a message needs, and are long.
LOCK_FILES: Final = (
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "Cargo.lock",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "pdm.lock",
    "composer.lock",
    "Gemfile.lock",
    "go.sum",
    "mix.lock",
    "flake.lock",
    "packages.lock.json",
    "*.lock",
)
_STATUS = {"added": "A", "modified": "M", "deleted": "D"}
_CUT = "[... cut ...]"


class UnusableAnswer(ValueError):
    """The model's answer cannot be a commit message; its text says why."""


@dataclass
class _Section:
    """One file's part of the diff, and what the list says of it."""

    path: str
    text: str
    note: str = ""
    shown: str = ""


def _split(diff: str, paths: Iterable[str]) -> dict[str, str]:
    """The diff of each path, from the ``diff --git a/X b/X`` headers."""
    known = sorted(paths, key=len, reverse=True)
    found: dict[str, str] = {}
    current: str | None = None
    for line in diff.splitlines(keepends=True):
        if line.startswith("diff --git "):
            header = line.rstrip("\n")
            current = next((p for p in known if header.endswith(f" b/{p}")), None)
            current = current or next((p for p in known if f" a/{p} " in header), None)
        if current is not None:
            found[current] = found.get(current, "") + line
    return found


def _is_lock(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in LOCK_FILES)


def _left_out(path: str, text: str, exclude: tuple[str, ...]) -> str:
    """Why the diff of ``path`` is not shown (empty: it is)."""
    if exclude and excluded(path, exclude):
        return "excluded: content not shown"
    if _is_lock(path):
        return "lock file: content not shown"
    if "\nBinary files " in text or "\nGIT binary patch" in text:
        return "binary: content not shown"
    if len(text) > LARGE_DIFF:
        return f"diff of {len(text):,} characters: content not shown"
    return ""


def _redacted(text: str) -> str:
    """``text`` with each line holding a secret replaced, its diff marker kept (the
    lines of a file's header are git's own, until its first hunk)."""
    lines = text.split("\n")
    in_hunk = False
    for number, line in enumerate(lines):
        if line.startswith(("diff --git ", "@@")):
            in_hunk = line.startswith("@@")
            continue
        if not in_hunk and line.startswith(("index ", "--- ", "+++ ", "new file", "deleted file")):
            continue
        kind = secret_in_line(line[1:] if in_hunk else line)
        if kind is not None:
            lines[number] = f"{line[:1] if in_hunk else ''}[redacted: {kind}]"
    return "\n".join(lines)


def _cut(section: _Section, room: int) -> None:
    """Show at most ``room`` characters of the section, cut at a line."""
    text = section.text
    if len(text) <= room:
        section.shown = text
        return
    keep = text[: max(room - len(_CUT) - 1, 0)]
    keep = keep[: keep.rfind("\n") + 1] if "\n" in keep else ""
    section.shown = keep + _CUT + "\n" if keep else ""
    section.note = (
        f"diff cut to {len(keep):,} of {len(text):,} characters"
        if keep
        else f"diff of {len(text):,} characters: no room to show it"
    )


def _share(sections: list[_Section], budget: int) -> None:
    """Give each section a fair share of ``budget``: the smallest first, whole when
    they fit in an equal share of what is left."""
    left = budget
    ordered = sorted(sections, key=lambda s: len(s.text))
    for count, section in enumerate(ordered):
        room = left // (len(ordered) - count)
        _cut(section, room)
        left -= len(section.shown)


def _entry(change: FileChange, section: _Section | None) -> str:
    line = f"{_STATUS[change.status]} {change.path}"
    note = section.note if section is not None else "no diff"
    return f"{line}  ({note})" if note else line


def build_prompt(context: MessageContext, max_diff_chars: int) -> str:
    """The user message for ``context``: what the commit changes, then its diff,
    filtered, redacted and cut to ``max_diff_chars`` characters."""
    paths = context.paths
    parts = _split(context.diff(), paths)
    sections = {path: _Section(path, _redacted(text)) for path, text in parts.items()}
    shown: list[_Section] = []
    for path, section in sections.items():
        section.note = _left_out(path, section.text, context.exclude)
        if not section.note:
            shown.append(section)
    _share(shown, max_diff_chars)
    lines = [
        f"Repository {context.repo}, branch {context.branch}. "
        f"The commit changes {len(paths)} file(s) (A added, M modified, D deleted):",
        *(_entry(c, sections.get(c.path)) for c in context.changes),
    ]
    lines += [f"- {p}  (excluded: not committed, not shown)" for p in context.skipped]
    diff = "".join(s.shown for s in sorted(shown, key=lambda s: paths.index(s.path)))
    if diff:
        lines += ["", "The diff:", "", diff.rstrip("\n")]
    return "\n".join(lines) + "\n"


# --- the answer -------------------------------------------------------------------------

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_LABEL = re.compile(r"^(?:commit message|message|subject|summary|title)\s*:\s*", re.IGNORECASE)
_EMPHASIS = re.compile(r"(\*\*)(.+?)\1|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_QUOTES = (('"', '"'), ("'", "'"), ("`", "`"), ("\u201c", "\u201d"), ("\u2018", "\u2019"))
_TRUNCATED = ("...", "\u2026")


def _unwrapped(text: str) -> str:
    """``text`` without think blocks, code fences and surrounding quotes."""
    text = _THINK.sub("", text)
    if _OPEN_THINK.search(text):
        raise UnusableAnswer("the answer ends inside a <think> block (cut short)")
    fenced = _FENCE.search(text)
    if fenced is not None:
        text = fenced[1]
    text = text.strip()
    for left, right in _QUOTES:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            text = text[len(left) : -len(right)].strip()
    return text


def _plain(line: str) -> str:
    line = _EMPHASIS.sub(lambda m: m[2] or m[3], line)
    return line.lstrip("#").strip() if line.startswith("#") else line


def _subject(line: str) -> str:
    """The subject line, cut at a word to ``SUBJECT_LENGTH`` characters."""
    line = _LABEL.sub("", line).strip().strip('"`').strip()
    if len(line) <= SUBJECT_LENGTH:
        return line
    keep = line[: SUBJECT_LENGTH + 1]
    keep = keep[: keep.rfind(" ")] if " " in keep else keep[:SUBJECT_LENGTH]
    return keep.rstrip(" ,;:-")


def clean_answer(text: str) -> str:
    """The commit message in the model's answer ``text``; raises ``UnusableAnswer``."""
    lines = [_plain(line.rstrip()) for line in _unwrapped(text).splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise UnusableAnswer("the answer is empty")
    subject = _subject(lines[0])
    body = "\n".join(lines[1:]).strip()
    if _LABEL.match(body):
        body = _LABEL.sub("", body, count=1).strip()
    if not re.search(r"[^\W\d_]", subject) or len(subject) < 3:
        raise UnusableAnswer(f"the subject {subject[:40]!r} is no sentence")
    if (body or subject).rstrip().endswith(_TRUNCATED):
        raise UnusableAnswer("the answer ends in '...' (cut short)")
    if len(body) > _BODY_LENGTH:
        raise UnusableAnswer(f"the body is {len(body):,} characters long")
    return subject + (f"\n\n{body}" if body else "") + "\n"
