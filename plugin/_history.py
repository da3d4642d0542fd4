"""``GET /history``: one query, and one page form, for the audit store and for the
in-memory history alike.

A page is ``{"runs": [RunRecord.to_dict(), ...], "next": cursor}``, newest first;
``next`` is None on the last page, else the cursor to pass as ``before`` for the
next one (it is the run id of the page's last run, in both modes).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._record import HISTORY_PAGE, RunRecord

__all__ = ["MAX_LIMIT", "HistoryQuery", "page"]

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which runs to list: filters, page size, and the cursor to go on after."""

    repo: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    limit: int = HISTORY_PAGE
    before: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> HistoryQuery:
        """The query of ``?repo=&outcome=&since=&limit=&before=``. Raises ``ValueError``
        for a limit that is not a number or a time that is not ISO 8601 (a naive time
        is taken as UTC); the limit is clamped to 1..1000."""
        limit = max(1, min(MAX_LIMIT, int(params.get("limit", HISTORY_PAGE))))
        since_text = params.get("since")
        since = datetime.fromisoformat(since_text) if since_text else None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return cls(
            repo=params.get("repo") or None,
            outcome=params.get("outcome") or None,
            since=since,
            limit=limit,
            before=params.get("before") or None,
        )

    def matches(self, record: RunRecord) -> bool:
        """Whether ``record`` passes the filters (the cursor aside)."""
        if self.repo is not None and record.repo != self.repo:
            return False
        if self.outcome is not None:
            outcome = None if record.result is None else record.result.outcome.value
            if outcome != self.outcome:
                return False
        return self.since is None or (record.finished_at or 0.0) >= self.since.timestamp()

    def select(self, records: Sequence[RunRecord]) -> list[RunRecord]:
        """This query's page of ``records`` (oldest first, as the plugin keeps them), as
        the audit store would give it: a cursor no longer kept (so every older run is
        gone too) gives an empty page."""
        newest_first: Iterable[RunRecord] = reversed(records)
        if self.before is not None:
            after = itertools.dropwhile(lambda r: r.run_id != self.before, newest_first)
            newest_first = itertools.islice(after, 1, None)
        return list(itertools.islice(filter(self.matches, newest_first), self.limit))


def page(runs: Sequence[RunRecord], query: HistoryQuery) -> dict[str, Any]:
    """The JSON body of a page of runs."""
    following = runs[-1].run_id if runs and len(runs) >= query.limit else None
    return {"runs": [r.to_dict() for r in runs], "next": following}
