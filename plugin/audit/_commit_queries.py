"""The audit store's queries of commits: the commits of some runs, a page of commits,
and the counts per repository, author, day (UTC) and message source, grouped by
the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from .._commits import CommitEntry
from ._rows import aware, commit_entry
from ._schema import RepoCommit

__all__ = ["commit_statistics", "commits_of", "list_commits"]


def commits_of(session: Session, run_pks: Sequence[int]) -> dict[int, RepoCommit]:
    """The commit of each of the runs ``run_pks`` that made one."""
    if not run_pks:
        return {}
    query = select(RepoCommit).where(col(RepoCommit.run_pk).in_(run_pks))
    return {row.run_pk: row for row in session.exec(query)}


def _filters(repo: str | None, since: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if repo is not None:
        conditions.append(col(RepoCommit.repo) == repo)
    if since is not None:
        conditions.append(col(RepoCommit.created_at) >= aware(since, "since"))
    return conditions


def list_commits(
    session: Session, repo: str | None, since: datetime | None, limit: int
) -> list[CommitEntry]:
    """Commits, newest first."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = (
        select(RepoCommit)
        .where(*_filters(repo, since))
        .order_by(col(RepoCommit.created_at).desc(), col(RepoCommit.id).desc())
        .limit(limit)
    )
    return [commit_entry(row) for row in session.exec(query)]


def _day(dialect: str) -> Any:
    """The UTC day of ``created_at`` as ``YYYY-MM-DD``, in the database's terms
    (SQLite holds naive UTC text; PostgreSQL a timestamptz)."""
    created = col(RepoCommit.created_at)
    if dialect == "sqlite":
        return func.substr(created, 1, 10)
    return func.to_char(func.timezone("UTC", created), "YYYY-MM-DD")


def commit_statistics(
    session: Session, dialect: str, repo: str | None, since: datetime | None
) -> dict[str, Any]:
    """Counts of the matching commits per repository, author, day and message source."""
    conditions = _filters(repo, since)
    # String + renders ||, which SQLite and PostgreSQL both have.
    author = col(RepoCommit.author_name) + " <" + col(RepoCommit.author_email) + ">"
    groups = {
        "per_repo": col(RepoCommit.repo),
        "per_author": author,
        "per_day": _day(dialect),
        "per_message_source": col(RepoCommit.message_source),
    }
    answer: dict[str, Any] = {}
    for name, key in groups.items():
        query = select(key, func.count()).where(*conditions).group_by(key).order_by(key)
        answer[name] = {str(k): int(n) for k, n in session.exec(query)}
    answer = {"total": sum(answer["per_repo"].values()), **answer}
    return answer
