"""The machinery of the configuration file's reader: problems gathered with their key
paths, the file's tables walked and checked by their models, and value objects built
from the keys a table sets (their complaints turned into problems at those keys).
``_load`` reads the file with it, and so does the reader of ``[fleet]``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from reconcile import InvalidSpecError

from ._errors import ConfigError
from ._tables import Child, Table, children, error_text, got, sets

__all__ = [
    "Loc",
    "Node",
    "Problems",
    "args_of",
    "build",
    "leads",
    "one_of",
    "walk",
    "where",
]

T = TypeVar("T")
Loc = tuple[str | int, ...]
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def where(loc: Loc) -> str:
    """A key's path in TOML terms: ``alerts.webhook[0].url``, ``alerts.hosts."a.b"``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            text += f".{key}" if text else key
    return text


@dataclass
class Problems:
    found: list[tuple[Loc, str]] = field(default_factory=list)
    tables: dict[Loc, int] = field(default_factory=dict)  # in the file's order
    # Tables whose malformed keys were left out: the well-formed keys the file sets.
    partial: dict[Loc, frozenset[str | int]] = field(default_factory=dict)

    def add(self, loc: Loc, message: str) -> None:
        """Add a problem at ``loc``; the first one found at a key is the one said, and
        of a table checked without its malformed keys only those at keys it sets."""
        if loc and any(found == loc for found, _ in self.found):
            return
        for table, keys in self.partial.items():
            rest = loc[len(table) :]
            if loc[: len(table)] == table and (not rest or rest[0] not in keys):
                return
        self.found.append((loc, message))

    @property
    def lines(self) -> list[str]:
        """The problems, grouped by the table they are in (tables in reading order)."""

        def table(loc: Loc) -> int:
            return max(n for t, n in self.tables.items() if loc[: len(t)] == t)

        ordered = sorted(self.found, key=lambda item: table(item[0]))
        return [f"{where(loc)}: {message}" if loc else message for loc, message in ordered]

    def blame(self, text: str, loc: Loc, leads: Mapping[str, str], ignore: frozenset[str]) -> None:
        """Add a value object's complaint at the key its first words name (messages
        start with the parameter: ``timeout must be ...``), else at its table."""
        for lead in sorted(leads, key=len, reverse=True):
            rest = text[len(lead) :]
            if text.startswith(lead) and rest[:1] in (" ", ":"):
                if leads[lead] not in ignore:
                    self.add((*loc, leads[lead]), rest.lstrip(":").strip())
                return
        self.add(loc, text)


# --- tables: shape ----------------------------------------------------------------------


@dataclass
class Node:
    """A table of the file: its path, its validated keys (None when its shape is wrong)
    and the tables under it."""

    loc: Loc
    table: Table | None
    children: dict[str, list[Node]] = field(default_factory=dict)


def walk(
    model: type[Table], raw: Any, loc: Loc, context: dict[str, Any], problems: Problems
) -> Node:
    problems.tables.setdefault(loc, len(problems.tables))
    if not isinstance(raw, dict):
        problems.add(loc, f"expected a table, got {got(raw)}")
        return Node(loc, None)
    kids = children(model)
    table, malformed = _validate(
        model, {k: v for k, v in raw.items() if k not in kids}, loc, context, problems
    )
    if table is not None and malformed:
        problems.partial[loc] = frozenset(raw) - malformed
    node = Node(loc, table)
    for key, child in kids.items():
        if key in raw:
            node.children[key] = list(_tables(child, raw[key], (*loc, key), context, problems))
    return node


def _tables(
    child: Child, raw: Any, loc: Loc, context: dict[str, Any], problems: Problems
) -> Iterator[Node]:
    problems.tables.setdefault(loc, len(problems.tables))
    if child.shape == "table" or (child.shape == "array" and isinstance(raw, dict)):
        yield walk(child.model, raw, loc, context, problems)
    elif child.shape == "array":
        if not isinstance(raw, list):
            problems.add(loc, f"expected an array of tables ([[{where(loc)}]]), got {got(raw)}")
            return
        for index, item in enumerate(raw):
            yield walk(child.model, item, (*loc, index), context, problems)
    else:
        assert child.names is not None
        what, names = child.names.what, child.names.names
        if not isinstance(raw, dict):
            problems.add(loc, f"expected tables ([{where(loc)}.<{what}>]), got {got(raw)}")
            return
        for name, item in raw.items():
            if name in names:
                yield walk(child.model, item, (*loc, name), context, problems)
            else:
                problems.tables.setdefault((*loc, name), len(problems.tables))
                problems.add((*loc, name), f"unknown {what} (known: {', '.join(names)})")


def _validate(
    model: type[Table], raw: dict[str, Any], loc: Loc, context: dict[str, Any], problems: Problems
) -> tuple[Table | None, frozenset[str | int]]:
    """The table, and the keys left out of it as malformed (reported here)."""
    try:
        return model.model_validate(raw, context=context), frozenset()
    except ValidationError as exc:
        errors = exc.errors()
    for error in errors:
        problems.add((*loc, *error["loc"]), error_text(error, model))
    malformed = frozenset(error["loc"][0] for error in errors if error["loc"])
    return _without(model, raw, errors, context), malformed


def _without(
    model: type[Table], raw: dict[str, Any], errors: list[Any], context: dict[str, Any]
) -> Table | None:
    """The table without the keys whose shape is wrong (reported already), so that the
    value objects its other keys build still check them: every problem of a table is
    found at once, not the range errors after the type errors are fixed. None when
    the table cannot do without them (a required key, a problem of the whole) or has
    keys it does not know (what they meant is unknown: the other keys' complaints
    would be guesses)."""
    bad = {error["loc"][0] for error in errors if error["loc"]}
    known = model.model_fields
    if any(not error["loc"] or error["loc"][0] not in known for error in errors):
        return None
    try:
        return model.model_validate({k: v for k, v in raw.items() if k not in bad}, context=context)
    except ValidationError:
        return None


# --- tables -> value objects ------------------------------------------------------------


def args_of(table: Table, owner: type) -> dict[str, Any]:
    """The parameters of ``owner`` that ``table`` sets: only the keys the file has."""
    given = table.model_fields_set
    found = {}
    for key, param in sets(type(table), owner).items():
        if key in given:
            value = getattr(table, key)
            found[param] = tuple(value) if isinstance(value, list) else value
    return found


def leads(model: type[Table], owner: type, **more: str) -> dict[str, str]:
    """``{first words of owner's messages: key}``: each parameter names its key."""
    return {param: key for key, param in sets(model, owner).items()} | more


def build(
    problems: Problems,
    loc: Loc,
    leads: Mapping[str, str],
    make: Callable[[], T],
    ignore: frozenset[str] = frozenset(),
) -> T | None:
    """``make()``; its complaints, if any, become problems at the keys they name."""
    try:
        return make()
    except ConfigError as exc:
        for text in exc.problems:
            problems.blame(text, loc, leads, ignore)
    except InvalidSpecError as exc:
        problems.blame(str(exc), loc, leads, ignore)
    return None


def one_of(problems: Problems, node: Node, keys: tuple[str, str], *, required: bool = True) -> bool:
    """Whether the table gives exactly one of ``keys`` (or none, when not required)."""
    assert node.table is not None
    given = [k for k in keys if k in node.table.model_fields_set]
    if len(given) == 1 or (not given and not required):
        return True
    both = ", not both" if given else ""
    problems.add((*node.loc, keys[0]), f"give {keys[0]} or {keys[1]}{both}")
    return False
