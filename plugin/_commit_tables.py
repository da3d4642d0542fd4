"""The ``[commit]`` tables of the configuration file: how the commits of the write path
are made and guarded, for every repository (``[commit]``) and for one
(``[repos.commit]``, whose keys replace ``[commit]``'s one by one). Each key sets the
``reconcile.CommitPolicy`` parameter of its name, except ``extend_exclude``, which
the loader adds to ``exclude``."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from reconcile import DEFAULT_EXCLUDE, CommitPolicy, Identity, InvalidSpecError, parse_trailer

from ._table_kit import Default, Sets, Shown, Table, Text, key

__all__ = ["CommitTable", "RepoCommitTable"]


def _identity(value: str) -> str:
    try:
        Identity.parse(value)
    except InvalidSpecError as exc:
        raise ValueError(str(exc)) from None
    return value


def _trailer(value: str) -> str:
    try:
        parse_trailer(value)
    except InvalidSpecError as exc:
        raise ValueError(str(exc)) from None
    return value


IdentityText = Annotated[str, AfterValidator(_identity)]
TrailerText = Annotated[str, AfterValidator(_trailer)]
_EXCLUDED = ", ".join(f"`{p}`" for p in DEFAULT_EXCLUDE)


class CommitTable(Table):
    """How git-reconcile commits an application's changes (see [Writing: the commit
    path](#writing-the-commit-path)), for every repository. Each `[repos.commit]`
    table replaces its keys for its repository."""

    template: Annotated[Text | None, Sets(CommitPolicy, "template")] = key(
        "the message of a commit whose request gives none (and no generator writes one); "
        "placeholders `{date}`, `{time}`, `{hostname}`, `{repo}`, `{branch}`, `{trigger}`, "
        "`{num_files}`, `{files}`"
    )
    exclude: Annotated[
        list[Text] | None,
        Sets(CommitPolicy, "exclude"),
        Default(f"the usual secret files: {_EXCLUDED}"),
    ] = key(
        "globs of paths never committed (reported as `skipped_paths`); this list replaces "
        "the default one"
    )
    extend_exclude: Annotated[list[Text] | None, Default("none")] = key(
        "more globs, added to `exclude` (or to its default)"
    )
    max_file_size: Annotated[
        int | None, Sets(CommitPolicy, "max_file_size"), Default("`52428800` (50 MiB)")
    ] = key("bytes: a larger changed file blocks the commit")
    hooks: Annotated[Text | None, Sets(CommitPolicy, "hooks")] = key(
        '`"run"` the repository\'s `pre-commit` and `commit-msg` hooks, or `"skip"` them'
    )
    hook_timeout: Annotated[float | None, Sets(CommitPolicy, "hook_timeout")] = key(
        "seconds each hook may take (at most 3600); a hook still running then blocks the commit"
    )
    squash_unpushed: Annotated[bool | None, Sets(CommitPolicy, "squash_unpushed")] = key(
        "squash git-reconcile's own commits that have not reached the remote into one "
        "before each push"
    )
    co_authors: Annotated[
        list[IdentityText] | None,
        Sets(CommitPolicy, "co_authors"),
        Shown('array of strings "Name <email>"'),
    ] = key("added to every commit as `Co-authored-by` trailers")
    trailers: Annotated[
        list[TrailerText] | None,
        Sets(CommitPolicy, "trailers"),
        Shown('array of strings "Key: value"'),
    ] = key("trailers added to every commit, in order")
    max_message_length: Annotated[int | None, Sets(CommitPolicy, "max_message_length")] = key(
        "characters: a longer message is cut at a word, before its trailers (at least 20)"
    )
    bypass_filters: Annotated[list[Text] | None, Sets(CommitPolicy, "bypass_filters")] = key(
        "filters (`filter=` attributes, e.g. `lfs`) whose paths may be committed raw"
    )
    scan_secrets: Annotated[bool | None, Sets(CommitPolicy, "scan_secrets")] = key(
        "scan the lines a commit adds for private keys and token formats"
    )


class RepoCommitTable(CommitTable):
    """How this repository's commits are made: each key replaces the same key of
    `[commit]` (the others keep `[commit]`'s value)."""
