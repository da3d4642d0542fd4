"""The ``[commit]`` tables of the configuration file: how the commits of the write path
are made and guarded, for every repository (``[commit]``) and for one
(``[repos.commit]``, whose keys replace ``[commit]``'s one by one). Each key sets the
``reconcile.CommitPolicy`` parameter of its name, except ``extend_exclude``, which
the loader adds to ``exclude``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from reconcile import (
    DEFAULT_EXCLUDE,
    CommitPolicy,
    Identity,
    InvalidSpecError,
    LLMConfig,
    parse_trailer,
)

from ._table_kit import Default, EnvName, FilePath, Sets, Shown, Table, Text, key

__all__ = ["SIGN_KEYS", "CommitTable", "LLMTable", "RepoCommitTable", "RepoLLMTable"]

#: The keys that choose the signer; the loader makes it of them.
SIGN_KEYS = ("sign", "signing_key", "gpg_home")


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


class LLMTable(Table):
    """Commit messages written by a language model behind an OpenAI-compatible
    chat-completions endpoint (see [Messages from a language
    model](#messages-from-a-language-model)); when it fails or is slow, the template
    writes the message. A `[repos.commit.llm]` table replaces this one as a whole."""

    base_url: Annotated[Text, Sets(LLMConfig, "base_url")] = Field(
        description="the API's root, e.g. `http://127.0.0.1:11434/v1` (Ollama), "
        "`http://127.0.0.1:8080/v1` (llama.cpp)"
    )
    model: Annotated[Text, Sets(LLMConfig, "model")] = Field(
        description="the model's name, as the endpoint knows it"
    )
    api_key_env: Annotated[EnvName | None, Sets(LLMConfig, "api_key_env")] = key(
        "the environment variable that holds the API key (none needed for a local "
        "server); or `api_key_file`"
    )
    api_key_file: Annotated[FilePath | None, Sets(LLMConfig, "api_key_file")] = key(
        "a file that holds the API key"
    )
    timeout: Annotated[float | None, Sets(LLMConfig, "timeout")] = key(
        "seconds a commit waits for its message, everything included (then the template writes it)"
    )
    max_diff_chars: Annotated[int | None, Sets(LLMConfig, "max_diff_chars")] = key(
        "characters of diff the model is shown, shared among the files"
    )
    concurrency: Annotated[int | None, Sets(LLMConfig, "concurrency")] = key(
        "requests at once to the endpoint, for all the repositories of the process"
    )
    temperature: Annotated[float | None, Sets(LLMConfig, "temperature")] = key(
        "the sampling temperature"
    )
    system_prompt: Annotated[Text | None, Sets(LLMConfig, "system_prompt")] = key(
        "replaces the default instructions to the model"
    )


class RepoLLMTable(LLMTable):
    """This repository's language model, instead of `[commit.llm]`'s (as a whole)."""


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
    sign: Annotated[Literal["ssh", "gpg"] | None, Default("none (unsigned)")] = key(
        '`"ssh"` or `"gpg"`: sign every commit (and every replayed one) with `signing_key`; '
        "a commit that cannot be signed is not made"
    )
    signing_key: Annotated[Text | None, Default("none")] = key(
        'an SSH private key file (`sign = "ssh"`, relative to this file\'s folder) or a GPG '
        'key id or fingerprint (`sign = "gpg"`)'
    )
    gpg_home: Annotated[FilePath | None, Default("gpg's own")] = key(
        'the GnuPG home directory that holds the key (`sign = "gpg"`)'
    )
    llm: LLMTable | None = key("messages from a language model")

    @field_validator("signing_key")
    @classmethod
    def _key_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        """An SSH key file relative to the configuration file's folder."""
        if value is None or info.data.get("sign") != "ssh":
            return value
        path = Path(value).expanduser()
        base: Path | None = (info.context or {}).get("base")
        return str(base / path if base is not None and not path.is_absolute() else path)


class RepoCommitTable(CommitTable):
    """How this repository's commits are made: each key replaces the same key of
    `[commit]` (the others keep `[commit]`'s value)."""

    llm: RepoLLMTable | None = key("this repository's language model")
