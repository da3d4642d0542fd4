"""Read deploy/Dockerfile and its ignore file, so tests can run and check their steps.

Only what the project's Dockerfile uses is understood: instructions with
backslash continuations and comment lines, leading ``--flag=value`` options, the
JSON (exec) form, ``ARG`` defaults, and ``${NAME}``/``$NAME`` references.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = ["Instruction", "Stage", "ignored", "parse", "substitute"]

_REFERENCE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with ``${NAME}`` and ``$NAME`` replaced from ``values`` (unknown names stay)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return _REFERENCE.sub(one, text)


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), leading ``--`` flags and the rest."""

    keyword: str
    flags: tuple[tuple[str, str], ...]
    text: str
    line: int

    def flag(self, name: str) -> str | None:
        return next((value for key, value in self.flags if key == name), None)

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form instruction; fails on the shell form."""
        value = json.loads(self.text)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AssertionError(f"line {self.line}: {self.keyword} is not in the exec form")
        return value

    def assignments(self) -> list[tuple[str, str]]:
        """``NAME=value`` pairs of ENV and ARG (``ARG NAME`` alone gives an empty value)."""
        pairs = []
        for word in shlex.split(self.text):
            name, _, value = word.partition("=")
            pairs.append((name, value))
        return pairs


@dataclass
class Stage:
    """One ``FROM`` and the instructions under it."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        if len(found) != 1:
            raise AssertionError(f"stage {self.name or self.base}: {len(found)} {keyword} lines")
        return found[0]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions joined across backslash continuations, comments dropped."""
    lines: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        lines.append((start, " ".join(part for part in current if part)))
        current = []
    if current:
        raise AssertionError("the Dockerfile ends inside a continued line")
    return lines


def _instruction(number: int, line: str) -> Instruction:
    keyword, _, rest = line.partition(" ")
    flags: list[tuple[str, str]] = []
    rest = rest.strip()
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        name, _, value = word[2:].partition("=")
        flags.append((name, value))
        rest = rest.strip()
    return Instruction(keyword.upper(), tuple(flags), rest, number)


def parse(path: Path) -> list[Stage]:
    """The stages of the Dockerfile at ``path``."""
    stages: list[Stage] = []
    for number, line in _logical_lines(path.read_text(encoding="utf-8")):
        instruction = _instruction(number, line)
        if instruction.keyword == "FROM":
            words = instruction.text.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            raise AssertionError(f"line {number}: {instruction.keyword} before the first FROM")
        else:
            stages[-1].instructions.append(instruction)
    return stages


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` (relative, ``/``-separated) out, by
    Docker's rules: the last matching pattern wins, ``!`` lets a path back in, and a
    pattern matching a directory matches everything under it."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for raw in patterns:
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(_match(prefix, pattern) for prefix in prefixes):
            result = not negate
    return result


def _match(path: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(
            fnmatch.fnmatchcase("/".join(path.split("/")[n:]), tail)
            for n in range(len(path.split("/")))
        )
    return path.count("/") == pattern.count("/") and fnmatch.fnmatchcase(path, pattern)
