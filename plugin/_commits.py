"""``GET /commits`` and ``GET /commits/statistics``: the commits runs made, one form for
the audit store and for the in-memory history alike.

A listed commit is ``CommitEntry.to_dict()``; the statistics are counts per
repository, per author, per day (UTC) and per message source, of the commits that
match the query (``repo``, ``since``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconcile import CommitRequest, Identity, InvalidSpecError, parse_trailer

from ._history import MAX_LIMIT
from ._record import RunRecord

__all__ = ["CommitEntry", "CommitQuery", "commit_request", "entries_of", "statistics"]

_DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class CommitEntry:
    """A commit a run made, as the audit store keeps it."""

    sha: str
    repo: str
    run_id: str
    branch: str
    paths: tuple[str, ...]
    message: str
    message_source: str
    author: str  # "Name <email>"
    committer: str
    signed: bool
    squashed: int
    created_at: float  # Unix time the run finished
    signature: str | None = None  # ssh, gpg

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.created_at, UTC).strftime("%Y-%m-%d")

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "repo": self.repo,
            "run_id": self.run_id,
            "branch": self.branch,
            "paths": list(self.paths),
            "paths_count": len(self.paths),
            "message": self.message,
            "message_source": self.message_source,
            "author": self.author,
            "committer": self.committer,
            "signed": self.signed,
            "signature": self.signature,
            "squashed": self.squashed,
            "created_at": datetime.fromtimestamp(self.created_at, UTC).isoformat(),
        }


def entry_of(record: RunRecord) -> CommitEntry | None:
    """The commit of a finished run, if it made one."""
    result = record.result
    if result is None or result.commit is None:
        return None
    commit = result.commit
    return CommitEntry(
        sha=commit.sha,
        repo=record.repo,
        run_id=record.run_id,
        branch=result.branch,
        paths=commit.paths,
        message=commit.message,
        message_source=commit.message_source,
        author=str(commit.author),
        committer=str(commit.committer),
        signed=commit.signed,
        squashed=commit.squashed,
        created_at=record.finished_at or record.queued_at,
        signature=commit.signature,
    )


def entries_of(records: Iterable[RunRecord]) -> list[CommitEntry]:
    return [e for e in map(entry_of, records) if e is not None]


@dataclass(frozen=True, slots=True)
class CommitQuery:
    """Which commits: a repository, a start time, how many (newest first)."""

    repo: str | None = None
    since: datetime | None = None
    limit: int = _DEFAULT_LIMIT

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> CommitQuery:
        """The query of ``?repo=&since=&limit=``. Raises ``ValueError`` for a limit
        that is not a number or a time that is not ISO 8601 (a naive time is UTC);
        the limit is clamped to 1..1000."""
        limit = max(1, min(MAX_LIMIT, int(params.get("limit", _DEFAULT_LIMIT))))
        since_text = params.get("since")
        since = datetime.fromisoformat(since_text) if since_text else None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return cls(repo=params.get("repo") or None, since=since, limit=limit)

    def matches(self, entry: CommitEntry) -> bool:
        if self.repo is not None and entry.repo != self.repo:
            return False
        return self.since is None or entry.created_at >= self.since.timestamp()

    def select(self, records: Sequence[RunRecord]) -> list[CommitEntry]:
        """The matching commits of ``records`` (oldest first), newest first."""
        found = filter(self.matches, entries_of(reversed(records)))
        return list(itertools.islice(found, self.limit))


def statistics(entries: Iterable[CommitEntry]) -> dict[str, Any]:
    """Counts of ``entries`` per repository, author, day and message source."""
    repos: Counter[str] = Counter()
    authors: Counter[str] = Counter()
    days: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for entry in entries:
        repos[entry.repo] += 1
        authors[entry.author] += 1
        days[entry.day] += 1
        sources[entry.message_source] += 1
    return {
        "total": sum(repos.values()),
        "per_repo": dict(sorted(repos.items())),
        "per_author": dict(sorted(authors.items())),
        "per_day": dict(sorted(days.items())),
        "per_message_source": dict(sorted(sources.items())),
    }


_BODY_KEYS = frozenset({"message", "paths", "author", "co_authors", "trailers"})


def _strings(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: give an array of strings")
    return value


def commit_request(body: Any) -> CommitRequest:
    """The request of ``POST /commit``'s JSON body (none: commit everything):
    ``message``, ``paths``, ``author`` and ``co_authors`` (``"Name <email>"``),
    ``trailers`` (``"Key: value"``). Raises ``ValueError`` saying what is wrong."""
    if body is None:
        return CommitRequest(trigger="http")
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise ValueError(
            f"unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_BODY_KEYS))})"
        )
    message, author = body.get("message"), body.get("author")
    if message is not None and not isinstance(message, str):
        raise ValueError("message: give a string")
    if author is not None and not isinstance(author, str):
        raise ValueError("author: give 'Name <email>'")
    try:
        return CommitRequest(
            message=message,
            paths=tuple(_strings(body, "paths")) if "paths" in body else None,
            author=None if author is None else Identity.parse(author),
            co_authors=tuple(Identity.parse(a) for a in _strings(body, "co_authors")),
            trailers=tuple(parse_trailer(t) for t in _strings(body, "trailers")),
            trigger="http",
        )
    except InvalidSpecError as exc:
        raise ValueError(str(exc)) from None
