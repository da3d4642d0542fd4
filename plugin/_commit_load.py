"""The parts of a commit policy the ``[commit]`` tables name but do not hold: the
signer (``sign``, ``signing_key``, ``gpg_home``) and the language model
(``[commit.llm]``), made into the policy's ``signer`` and ``generator``.

The signing keys of ``[repos.commit]`` replace ``[commit]``'s one by one, as every
other key does; a ``[repos.commit.llm]`` table replaces ``[commit.llm]`` whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reconcile import InvalidSpecError, LLMConfig, LLMGenerator, make_signer

from ._commit_tables import SIGN_KEYS, CommitTable, LLMTable
from ._table_kit import Table, sets

__all__ = ["commit_extras"]

Loc = tuple[str | int, ...]
Report = Callable[[Loc, str], None]


def _blame(report: Report, loc: Loc, text: str, keys: Sequence[str]) -> None:
    """The complaint at the key its first word names, else at the table."""
    first = text.split(" ", 1)[0].rstrip(":")
    if first in keys:
        report((*loc, first), text[len(first) :].lstrip(": "))
    else:
        report(loc, text)


def _signer(tables: Sequence[CommitTable], loc: Loc, report: Report) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for table in tables:
        given |= {k: getattr(table, k) for k in SIGN_KEYS if k in table.model_fields_set}
    if not given:
        return {}
    if "sign" not in given:
        report((*loc, next(iter(given))), 'only with sign = "ssh" or "gpg"')
        return {}
    if "signing_key" not in given:
        report((*loc, "signing_key"), f'sign = "{given["sign"]}" needs a signing_key')
        return {}
    try:
        return {"signer": make_signer(given["sign"], given["signing_key"], given.get("gpg_home"))}
    except InvalidSpecError as exc:
        _blame(report, loc, str(exc), SIGN_KEYS)
        return {}


def _generator(llm: tuple[Loc, LLMTable] | None, report: Report) -> dict[str, Any]:
    if llm is None:
        return {}
    loc, table = llm
    args = {param: getattr(table, key) for key, param in sets(type(table), LLMConfig).items()}
    args = {k: v for k, v in args.items() if v is not None}
    try:
        return {"generator": LLMGenerator(LLMConfig(**args))}
    except InvalidSpecError as exc:
        _blame(report, loc, str(exc), tuple(args))
        return {}


def commit_extras(
    tables: Sequence[tuple[Loc, Table, tuple[Loc, LLMTable] | None]], report: Report
) -> dict[str, Any]:
    """The ``signer`` and ``generator`` arguments of the policy the ``[commit]``
    tables make, in order (``[commit]``'s, then ``[repos.commit]``'s), each with its
    location and its ``llm`` table; problems go to ``report``."""
    if not tables:
        return {}
    loc = tables[-1][0]
    commit_tables = [t for _l, t, _llm in tables if isinstance(t, CommitTable)]
    llm = next((found for *_rest, found in reversed(tables) if found is not None), None)
    return _signer(commit_tables, loc, report) | _generator(llm, report)
