"""The one reader of the TOML configuration file: tables -> value objects.

Every table is checked by its model (``_tables``), and every value object it makes
checks its own values. All the problems are gathered, each with its key's full path
in TOML terms (``repos[0].timeout: expected a number, got 'x'``), and raised at once
as one ``ConfigError``. A key whose type is wrong is reported, and its table is
still checked without it, so the value objects' range problems of its other keys
come out together (only those at keys the file sets: the others would be guesses);
a table missing a required key, or with an unknown key, makes no value objects. The
loader writes no default of its own: it passes on only the keys a file sets.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from reconcile import (
    DEFAULT_EXCLUDE,
    CommitPolicy,
    GitHubApp,
    HTTPAuth,
    Identity,
    RepoSpec,
    Retry,
    SSHKey,
)

from ._commit_load import commit_extras
from ._commit_tables import LLMTable
from ._config import (
    ENV_ADMIN_TOKEN,
    ENV_DATABASE_URL,
    ENV_REPLICA_ID,
    ENV_WEBHOOK_SECRET,
    PluginConfig,
    RepoConfig,
)
from ._errors import ConfigError
from ._load_fleet import fleet_config
from ._load_kit import Loc
from ._load_kit import Node as _Node
from ._load_kit import Problems as _Problems
from ._load_kit import args_of as _args
from ._load_kit import build as _build
from ._load_kit import leads as _leads
from ._load_kit import one_of as _one_of
from ._load_kit import walk as _walk
from ._tables import (
    AlertsTable,
    CommitTable,
    FileTable,
    GitHubAppTable,
    IdentityTable,
    PullRequestTable,
    RepoTable,
    SlackTable,
    WebhookSinkTable,
    WebhookTable,
)
from .alerts import AlertConfig, Alerter, PullRequestSink, Sink, SlackSink, WebhookSink
from .fleet._config import FleetConfig

__all__ = ["config_from_mapping", "load_config"]


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> PluginConfig:
    """Read a TOML configuration file. Secrets are named by environment variable, never
    written in the file; ``environ`` defaults to ``os.environ``. Relative paths are
    relative to the file's folder. Raises ``ConfigError`` with every problem found."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not valid TOML: the file is not UTF-8 text", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from None
    env = os.environ if environ is None else environ
    return config_from_mapping(data, env, base=path.parent, source=str(path))


def config_from_mapping(
    data: Mapping[str, Any],
    environ: Mapping[str, str],
    base: Path | None = None,
    *,
    source: str | None = None,
) -> PluginConfig:
    """The configuration in ``data`` (a parsed TOML document); relative paths are
    relative to ``base``. Raises ``ConfigError`` with every problem found."""
    problems = _Problems()
    root = _walk(FileTable, data, (), {"environ": environ, "base": base}, problems)
    config = _plugin(root, environ, problems)
    if problems.found:
        raise ConfigError(*problems.lines, source=source)
    assert config is not None  # with no problem, every table made its value objects
    return config


def _plugin(node: _Node, environ: Mapping[str, str], problems: _Problems) -> PluginConfig | None:
    identity = _identity(node, problems)
    defaults = _Defaults(identity, *_policy(node, problems, None))
    repos = [
        r
        for n in node.children.get("repos", [])
        if (r := _repo(n, environ, problems, defaults)) is not None
    ]
    secrets = _secrets(node.children.get("webhooks", []), environ, problems)
    alerts = [_alerts(n, environ, problems) for n in node.children.get("alerts", [])]
    fleets = [_fleet(n, problems, defaults) for n in node.children.get("fleet", [])]
    table = cast("FileTable | None", node.table)
    if table is None:
        return None
    args = _args(table, PluginConfig)
    database_url = environ.get(ENV_DATABASE_URL) or table.database_url
    if table.database_url_env is not None:
        database_url = environ[table.database_url_env]
    if database_url:
        args["database_url"] = database_url
    args.update(_replica_args(table, environ))
    args["admin_token_env"] = table.admin_token_env or ENV_ADMIN_TOKEN
    admin_token = environ.get(args["admin_token_env"])
    if admin_token:
        args["admin_token"] = admin_token
    if alerts and alerts[0] is not None:
        args["alerts"] = alerts[0]
    if fleets and fleets[0] is not None:
        args["fleet"] = fleets[0]
    # Until every [[repos]] entry (and [fleet]) is right, "no repositories" or "names
    # repeat" may be wrong.
    repos_wrong = any(loc[:1] in (("repos",), ("fleet",)) for loc, _message in problems.found)
    ignore = frozenset({"repos"}) if repos_wrong else frozenset()
    make = partial(PluginConfig, repos=tuple(repos), webhook_secrets=secrets, **args)
    return _build(problems, (), _leads(FileTable, PluginConfig), make, ignore=ignore)


def _replica_args(table: FileTable, environ: Mapping[str, str]) -> dict[str, str]:
    """The replica's id and its locks' database, from the environment or the file."""
    found = {}
    if environ.get(ENV_REPLICA_ID):
        found["replica_id"] = environ[ENV_REPLICA_ID]
    if table.lock_database_url_env is not None:
        found["lock_database_url"] = environ[table.lock_database_url_env]
    return found


def _fleet(node: _Node, problems: _Problems, defaults: _Defaults) -> FleetConfig | None:
    """``[fleet]``, with each override's own committer and commit policy."""
    committing = [
        (_identity(o, problems), _policy(o, problems, defaults.commit)[0])
        for o in node.children.get("overrides", [])
    ]
    return fleet_config(node, problems, committing, defaults.identity, defaults.policy)


def _secrets(
    nodes: list[_Node], environ: Mapping[str, str], problems: _Problems
) -> dict[str, tuple[str, ...]]:
    secrets: dict[str, tuple[str, ...]] = {}
    default = environ.get(ENV_WEBHOOK_SECRET)
    if default:
        secrets["*"] = (default,)
    for node in nodes:
        table = cast("WebhookTable | None", node.table)
        if table is None:
            continue
        names = [table.secret_env] if table.secret_env is not None else []
        names += table.secret_envs or []
        if not names:
            problems.add((*node.loc, "secret_env"), "name the environment variable of the secret")
            continue
        secrets[str(node.loc[-1])] = tuple(environ[name] for name in names)
    return secrets


@dataclass(frozen=True)
class _Defaults:
    """What the top level sets for every repository: the committer, and the commit
    policy (with the ``[commit]`` table it came from)."""

    identity: Identity | None
    policy: CommitPolicy | None
    commit: _Node | None


def _policy(
    node: _Node, problems: _Problems, defaults: _Node | None
) -> tuple[CommitPolicy | None, _Node | None]:
    """The commit policy of a ``commit`` table under ``node`` (its keys over those of
    ``defaults``, the top level's), and the table; None without one."""
    own = next(iter(node.children.get("commit", [])), None)
    tables = [n for n in (defaults, own) if n is not None and n.table is not None]
    if own is None or not tables:
        return None, own
    args: dict[str, Any] = {}
    extend: list[str] = []
    for child in tables:
        table = cast(CommitTable, child.table)
        args |= _args(table, CommitPolicy)
        if "extend_exclude" in table.model_fields_set:
            extend = table.extend_exclude or []
    if extend:
        args["exclude"] = (*args.get("exclude", DEFAULT_EXCLUDE), *extend)
    args |= commit_extras([(n.loc, n.table, _llm(n)) for n in tables if n.table], problems.add)
    leads = _leads(CommitTable, CommitPolicy)
    return _build(problems, own.loc, leads, partial(CommitPolicy, **args)), own


def _llm(node: _Node) -> tuple[Loc, LLMTable] | None:
    found = next(iter(node.children.get("llm", [])), None)
    if found is None or found.table is None:
        return None
    return found.loc, cast(LLMTable, found.table)


def _committing(node: _Node, problems: _Problems, defaults: _Defaults) -> dict[str, Any]:
    """The spec's committer and commit policy: the repository's own, else the defaults."""
    found: dict[str, Any] = {}
    committer = _identity(node, problems) or defaults.identity
    if committer is not None:
        found["committer"] = committer
    policy = _policy(node, problems, defaults.commit)[0] or defaults.policy
    if policy is not None:
        found["commit_policy"] = policy
    return found


def _repo(
    node: _Node, environ: Mapping[str, str], problems: _Problems, defaults: _Defaults
) -> RepoConfig | None:
    table = cast("RepoTable | None", node.table)
    if table is None:
        return None
    spec_args = _args(table, RepoSpec)
    credentials = _credentials(node, table, problems)
    if credentials is not None:
        spec_args["credentials"] = credentials
    spec_args |= _committing(node, problems, defaults)
    if retry_args := _args(table, Retry):
        leads = _leads(RepoTable, Retry, **{"retry attempts": "retries"})
        if (retry := _build(problems, node.loc, leads, partial(Retry, **retry_args))) is not None:
            spec_args["retry"] = retry
    make_spec = partial(RepoSpec, table.path, **spec_args)
    spec = _build(problems, node.loc, _leads(RepoTable, RepoSpec), make_spec)
    # Built even when the spec is not, for its own checks (and its name, for PluginConfig's).
    args = {"name": table.path.name} | _args(table, RepoConfig)
    if table.notify_secret_env is not None:
        args["notify_secret"] = environ[table.notify_secret_env]
    for key in ("bare", "notify_secret_env", "notify_secret_file"):
        needs = "url" if key == "bare" else "notify_url"
        if key in table.model_fields_set and needs not in table.model_fields_set:
            problems.add((*node.loc, key), f"only with {needs}")
    if spec is not None:
        args |= {"remote": spec.remote, "branch": spec.branch, "spec": spec}
    leads = _leads(RepoTable, RepoConfig, notify_secret="notify_secret_env")
    return _build(problems, node.loc, leads, partial(RepoConfig, **args))


def _identity(node: _Node, problems: _Problems) -> Identity | None:
    """The committer an ``identity`` table under ``node`` names, if it has one."""
    for child in node.children.get("identity", []):
        table = cast("IdentityTable | None", child.table)
        if table is not None:
            leads = _leads(IdentityTable, Identity)
            return _build(problems, child.loc, leads, partial(Identity, **_args(table, Identity)))
    return None


def _credentials(
    node: _Node, table: RepoTable, problems: _Problems
) -> SSHKey | HTTPAuth | GitHubApp | None:
    given = set(table.model_fields_set) | set(node.children)  # sub-tables are children
    chosen = [k for k in ("ssh_key", "token_file", "github_app") if k in given]
    if len(chosen) > 1:
        given_both = " or ".join(chosen) + (", not both" if len(chosen) == 2 else ", only one")
        problems.add((*node.loc, chosen[0]), f"give {given_both}")
        return None
    for key in ("http_user", "bearer"):
        if key in given and "token_file" not in given:
            problems.add((*node.loc, key), "only with token_file (an HTTPS token)")
    if "ssh_key" in given:
        leads = _leads(RepoTable, SSHKey)
        return _build(problems, node.loc, leads, partial(SSHKey, **_args(table, SSHKey)))
    if "token_file" in given:
        leads = _leads(RepoTable, HTTPAuth)
        return _build(problems, node.loc, leads, partial(HTTPAuth, **_args(table, HTTPAuth)))
    for child in node.children.get("github_app", []):
        app = cast("GitHubAppTable | None", child.table)
        if app is not None:
            leads = _leads(GitHubAppTable, GitHubApp)
            make = partial(GitHubApp, **_args(app, GitHubApp))
            return _build(problems, child.loc, leads, make)
    return None


def _alerts(node: _Node, environ: Mapping[str, str], problems: _Problems) -> AlertConfig | None:
    sinks: list[Sink] = []
    for key, build in (("slack", _slack), ("webhook", _webhook), ("pull_request", _pull)):
        for child in node.children.get(key, []):
            if child.table is not None and (sink := build(child, environ, problems)) is not None:
                sinks.append(sink)
    table = cast("AlertsTable | None", node.table)
    if table is None:
        return None
    args = _args(table, AlertConfig)
    if "hosts" in args:
        args["hosts"] = {host.lower(): kind for host, kind in args["hosts"].items()}
    leads = _leads(AlertsTable, AlertConfig)
    config = _build(problems, node.loc, leads, partial(AlertConfig, sinks=tuple(sinks), **args))
    if config is not None:
        # The alerter holds the bounds of these settings: check them now, not at start-up.
        _build(problems, node.loc, leads, partial(Alerter.from_config, config))
    return config


def _slack(node: _Node, environ: Mapping[str, str], problems: _Problems) -> Sink | None:
    table = cast(SlackTable, node.table)
    if not _one_of(problems, node, ("webhook_url_env", "webhook_url_file")):
        return None
    args = _args(table, SlackSink)
    if table.webhook_url_env is not None:
        args["webhook_url"] = environ[table.webhook_url_env]
        if urlsplit(args["webhook_url"]).scheme != "https":
            problems.add((*node.loc, "webhook_url_env"), "the Slack webhook URL must be https")
            return None
    leads = _leads(SlackTable, SlackSink, webhook_url="webhook_url_env")
    return _build(problems, node.loc, leads, partial(SlackSink, **args))


def _webhook(node: _Node, environ: Mapping[str, str], problems: _Problems) -> Sink | None:
    table = cast(WebhookSinkTable, node.table)
    url_ok = _one_of(problems, node, ("url", "url_env"))
    if not (_one_of(problems, node, ("secret_env", "secret_file"), required=False) and url_ok):
        return None
    args = _args(table, WebhookSink)
    if table.url_env is not None:
        args["url"] = environ[table.url_env]
    if table.secret_env is not None:
        args["secret"] = environ[table.secret_env]
    leads = _leads(WebhookSinkTable, WebhookSink, url="url" if table.url else "url_env")
    return _build(problems, node.loc, leads, partial(WebhookSink, **args))


def _pull(node: _Node, environ: Mapping[str, str], problems: _Problems) -> Sink | None:
    table = cast(PullRequestTable, node.table)
    if not _one_of(problems, node, ("token_env", "token_file")):
        return None
    args = {"api_url": None} | _args(table, PullRequestSink)
    leads = _leads(PullRequestTable, PullRequestSink)
    return _build(problems, node.loc, leads, partial(PullRequestSink, **args, environ=environ))
