"""The tables of the TOML configuration file, as pydantic models: one per table, with
each key's type, meaning and the value-object parameter it sets.

A model checks the file's shape only: types, unknown and missing keys, blank
strings, that the environment variables it names are set, and the one choice no
value object checks (the kinds in ``[alerts.hosts]``). Ranges and formats
are the value objects' to check, and defaults are theirs too: every key defaults to
unset (``None``), and the loader passes on only the keys a file sets
(``model_fields_set``), so the value objects' own defaults apply. ``Sets`` names the
parameter a key sets; the configuration reference reads its default from there.
The markers and the base are ``_table_kit``'s; the ``[commit]`` tables are
``_commit_tables``'s.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from reconcile import GitHubApp, HTTPAuth, Identity, RepoSpec, Retry, SSHKey
from webhooks import Provider

from ._commit_tables import CommitTable, RepoCommitTable
from ._config import (
    BOOT_POLICIES,
    ENV_ADMIN_TOKEN,
    ENV_DATABASE_URL,
    ENV_REPLICA_ID,
    PluginConfig,
    RepoConfig,
)
from ._table_kit import (
    Child,
    Default,
    EnvName,
    FilePath,
    Names,
    Sets,
    Shown,
    Table,
    Text,
    children,
    default_of,
    error_text,
    got,
    sets,
)
from ._table_kit import choices as _choices
from ._table_kit import key as _key
from .alerts import (
    SEVERITIES,
    AlertConfig,
    HostKind,
    PullRequestProvider,
    PullRequestSink,
    SlackSink,
    WebhookSink,
)
from .fleet._tables import FleetTable

__all__ = [
    "AlertsTable",
    "Child",
    "CommitTable",
    "Default",
    "FileTable",
    "GitHubAppTable",
    "IdentityTable",
    "Names",
    "PullRequestTable",
    "RepoCommitTable",
    "RepoIdentityTable",
    "RepoTable",
    "Sets",
    "Shown",
    "SlackTable",
    "Table",
    "WebhookSinkTable",
    "WebhookTable",
    "children",
    "default_of",
    "error_text",
    "got",
    "sets",
]


class IdentityTable(Table):
    """The committer of the commits git-reconcile makes (replayed local commits, and
    auto-made ones), so no git configuration is needed on the machine. Each
    `[repos.identity]` table replaces it for its repository."""

    name: Annotated[Text, Sets(Identity, "name")] = Field(description="the committer's name")
    email: Annotated[Text, Sets(Identity, "email")] = Field(
        description="the committer's e-mail address"
    )


class RepoIdentityTable(IdentityTable):
    """The committer for this repository's commits, instead of the top-level
    `[identity]`."""


class GitHubAppTable(Table):
    """GitHub App authentication for an HTTPS remote on GitHub or GitHub Enterprise
    Server: an installation token is minted from the app's private key when needed,
    cached, and minted again before it expires. Give `app_id` or `client_id`. Not
    with `ssh_key` or `token_file`."""

    app_id: Annotated[int | Text | None, Sets(GitHubApp, "app_id"), Shown("integer or string")] = (
        _key("the app's id (the JWT's issuer); or `client_id`")
    )
    client_id: Annotated[Text | None, Sets(GitHubApp, "client_id")] = _key(
        "the app's client id (`Iv1.…`), as issuer instead of `app_id`"
    )
    installation_id: Annotated[int, Sets(GitHubApp, "installation_id")] = Field(
        description="the id of the app's installation on the repository's owner"
    )
    private_key_file: Annotated[FilePath, Sets(GitHubApp, "private_key_file")] = Field(
        description="the app's private key (PEM), read whenever a token is minted, "
        "so a rotated key needs no restart"
    )
    api_url: Annotated[Text | None, Sets(GitHubApp, "api_url")] = _key(
        "GitHub's API; `https://HOST/api/v3` for GitHub Enterprise Server"
    )


class RepoTable(Table):
    """One repository to keep reconciled. Give `ssh_key` for an SSH remote, or
    `token_file` or a `[repos.github_app]` table for an HTTPS one (none when the
    remote needs no credentials). With `url`, a missing or empty `path` is cloned at
    start, and a clone whose remote names another URL is pointed at this one."""

    url: Annotated[Text | None, Sets(RepoConfig, "url"), Default("none")] = _key(
        "the remote's URL: clone into a missing or empty `path` at start (with the "
        "credentials and host keys below), and rewrite the remote's URL when it "
        "differs; no credentials in it"
    )
    bare: Annotated[bool | None, Sets(RepoConfig, "bare")] = _key(
        "clone a bare repository (no working tree); only with `url`"
    )
    trust: Annotated[bool | None, Sets(RepoSpec, "trust")] = _key(
        "open the repository even when another user owns it (git's `safe.directory`, "
        "for this path only)"
    )

    name: Annotated[Text | None, Sets(RepoConfig, "name"), Default("the last part of `path`")] = (
        _key("the repository's name in routes, metrics and alerts (no `/`)")
    )
    path: Annotated[FilePath, Sets(RepoConfig, "path")] = Field(
        description="the repository: a working tree or a bare repository"
    )
    remote: Annotated[Text | None, Sets(RepoSpec, "remote")] = _key("the remote to reconcile with")
    branch: Annotated[Text | None, Sets(RepoSpec, "branch"), Default("the branch HEAD names")] = (
        _key("the branch to reconcile, a short name such as `main`")
    )
    poll_interval: Annotated[float | None, Sets(RepoConfig, "poll_interval")] = _key(
        "seconds between polls; 0 turns polling off"
    )
    poll_jitter: Annotated[float | None, Sets(RepoConfig, "poll_jitter")] = _key(
        "each wait is drawn from `poll_interval * (1 ± poll_jitter)`, in [0, 1)"
    )
    timeout: Annotated[float | None, Sets(RepoSpec, "timeout")] = _key(
        "seconds that bound every network wait (connect, and each read); at most a day"
    )
    deadline: Annotated[float | None, Sets(RepoSpec, "deadline")] = _key(
        "seconds a run's network work may take in all, retries included; at most a day"
    )
    retries: Annotated[int | None, Sets(Retry, "attempts")] = _key(
        "tries of a fetch or push that fails for a reason time may fix (at least 1)"
    )
    ssh_key: Annotated[FilePath | None, Sets(SSHKey, "private_key")] = _key(
        "SSH private key file, read at every connection; not with `token_file`"
    )
    known_hosts: Annotated[
        FilePath | None, Sets(RepoSpec, "known_hosts"), Default("`~/.ssh/known_hosts`")
    ] = _key("the known_hosts file SSH host keys are verified against")
    fingerprints: Annotated[list[Text] | None, Sets(RepoSpec, "host_key_fingerprints")] = _key(
        "pinned SSH host keys (`SHA256:...` as `ssh-keygen -l` prints them), "
        "used instead of known_hosts"
    )
    token_file: Annotated[FilePath | None, Sets(HTTPAuth, "password_file")] = _key(
        "file holding the HTTPS password or token, read at every run; not with `ssh_key`"
    )
    http_user: Annotated[Text | None, Sets(HTTPAuth, "username")] = _key(
        "user name sent with the token (GitLab: `oauth2`); only with `token_file`"
    )
    bearer: Annotated[bool | None, Sets(HTTPAuth, "bearer")] = _key(
        "send the token as `Authorization: Bearer`; only with `token_file`"
    )
    notify_url: Annotated[Text | None, Sets(RepoConfig, "notify_url"), Default("none")] = _key(
        "after a run that moved the branch, POST the run's JSON here, in the background "
        "(see [Callouts](#callouts-for-a-sidecar))"
    )
    notify_secret_env: EnvName | None = _key(
        "the environment variable that holds the secret that signs those POSTs "
        "(`X-Signature: sha256=...`); or `notify_secret_file`"
    )
    notify_secret_file: Annotated[FilePath | None, Sets(RepoConfig, "notify_secret_file")] = _key(
        "a file holding that secret, read at every POST"
    )
    notify_timeout: Annotated[float | None, Sets(RepoConfig, "notify_timeout")] = _key(
        "seconds that bound each attempt of a POST (at most 600)"
    )
    notify_retries: Annotated[int | None, Sets(RepoConfig, "notify_retries")] = _key(
        "retries of a POST that failed for a reason time may fix"
    )
    exec_hook: Annotated[list[Text] | None, Sets(RepoConfig, "exec_hook"), Default("none")] = _key(
        "a command, as an argument list (no shell), run after a run that moved the "
        "branch, with the run in its environment"
    )
    exec_hook_timeout: Annotated[float | None, Sets(RepoConfig, "exec_hook_timeout")] = _key(
        "seconds the hook may run before it is killed (at most 3600)"
    )
    commit_quiet_period: Annotated[float | None, Sets(RepoConfig, "commit_quiet_period")] = _key(
        "seconds without a `notify_changed` (or a watched change) after which they are committed"
    )
    commit_max_wait: Annotated[float | None, Sets(RepoConfig, "commit_max_wait")] = _key(
        "seconds after the first notification by which a commit comes, however steady they are"
    )
    watch: Annotated[bool | None, Sets(RepoConfig, "watch")] = _key(
        "watch the working tree and commit what changes in it (git's own and ignored paths aside)"
    )
    identity: RepoIdentityTable | None = _key("the committer for this repository")
    commit: RepoCommitTable | None = _key("how this repository's commits are made")
    github_app: GitHubAppTable | None = _key("GitHub App credentials for an HTTPS remote")


class WebhookTable(Table):
    """The secrets of one provider's push webhooks: `secret_env`, `secret_envs` or both.
    With no secret configured, that provider's deliveries are refused;
    `[webhooks."*"]` applies to every provider without its own table."""

    secret_env: EnvName | None = _key("the environment variable that holds the hook's secret")
    secret_envs: list[EnvName] | None = _key(
        "several such variables, all accepted (to rotate a secret); with or without `secret_env`"
    )


class SlackTable(Table):
    """A Slack incoming webhook: give `webhook_url_env` or `webhook_url_file`."""

    webhook_url_env: EnvName | None = _key(
        "the environment variable that holds the incoming webhook's URL (https); "
        "or `webhook_url_file`"
    )
    webhook_url_file: Annotated[FilePath | None, Sets(SlackSink, "webhook_url_file")] = _key(
        "a file holding that URL, read at every send"
    )
    min_severity: Annotated[Text | None, Sets(SlackSink, "min_severity")] = _key(
        f"the least severe alert sent: {_choices(SEVERITIES)}"
    )


class WebhookSinkTable(Table):
    """A generic JSON webhook: give `url` or `url_env`, and to sign the body,
    `secret_env` or `secret_file`."""

    url: Annotated[Text | None, Sets(WebhookSink, "url")] = _key(
        "the http(s) URL alerts are POSTed to; or `url_env`"
    )
    url_env: EnvName | None = _key("the environment variable that holds that URL")
    secret_env: EnvName | None = _key(
        "the environment variable that holds the secret that signs the body "
        "(`X-Signature: sha256=...`); or `secret_file`"
    )
    secret_file: Annotated[FilePath | None, Sets(WebhookSink, "secret_file")] = _key(
        "a file holding that secret, read at every send"
    )
    min_severity: Annotated[Text | None, Sets(WebhookSink, "min_severity")] = _key(
        f"the least severe alert sent: {_choices(SEVERITIES)}"
    )


class PullRequestTable(Table):
    """Pull or merge requests opened from pushed conflict branches: give `token_env`
    or `token_file`."""

    provider: Annotated[Text, Sets(PullRequestSink, "provider")] = Field(
        description=f"the host's kind: {_choices(get_args(PullRequestProvider))}"
    )
    api_url: Annotated[
        Text | None,
        Sets(PullRequestSink, "api_url"),
        Default("`https://api.github.com` or `https://gitlab.com/api/v4`; required for gitea"),
    ] = _key("the host's API (Gitea: `https://host/api/v1`)")
    project: Annotated[Text, Sets(PullRequestSink, "project")] = Field(
        description="`owner/repo` (GitLab: the project's path or numeric id)"
    )
    token_env: Annotated[EnvName | None, Sets(PullRequestSink, "token_env")] = _key(
        "the environment variable that holds the API token, read when it is used; or `token_file`"
    )
    token_file: Annotated[FilePath | None, Sets(PullRequestSink, "token_file")] = _key(
        "a file holding the token, read when it is used"
    )
    base_branch: Annotated[
        Text | None, Sets(PullRequestSink, "base_branch"), Default("the data branch")
    ] = _key("the branch the pull request merges into")
    min_severity: Annotated[Text | None, Sets(PullRequestSink, "min_severity")] = _key(
        f"the least severe alert acted on: {_choices(SEVERITIES)}"
    )


class AlertsTable(Table):
    """Operator alerts (see [Alerts](#alerts)): the alerter's settings here, the sinks
    in the tables below."""

    failure_threshold: Annotated[int | None, Sets(AlertConfig, "failure_threshold")] = _key(
        'failed runs in a row that raise a "failing" alert (at least 1)'
    )
    dedupe_interval: Annotated[float | None, Sets(AlertConfig, "dedupe_interval")] = _key(
        "seconds in which one (repository, event, commit) is alerted once"
    )
    queue_size: Annotated[int | None, Sets(AlertConfig, "queue_size")] = _key(
        "alerts queued per sink; a full queue drops new ones"
    )
    send_timeout: Annotated[float | None, Sets(AlertConfig, "send_timeout")] = _key(
        "seconds that bound each attempt to send an alert (at most 600)"
    )
    retries: Annotated[int | None, Sets(AlertConfig, "retries")] = _key(
        "retries of a send that failed for a reason time may fix"
    )
    hosts: Annotated[
        dict[str, HostKind] | None,
        Sets(AlertConfig, "hosts"),
        Shown("table of strings"),
        Default("none"),
    ] = _key(
        "`host = kind` for self-hosted instances whose name does not say what they are, "
        f"for links to conflict branches; kind is one of {_choices(get_args(HostKind))}"
    )
    slack: list[SlackTable] | None = _key("Slack incoming webhooks")
    webhook: list[WebhookSinkTable] | None = _key("generic JSON webhooks")
    pull_request: list[PullRequestTable] | None = _key(
        "pull or merge requests opened from pushed conflict branches"
    )


class FileTable(Table):
    """The top level of the file. Secrets are named by environment variable or file,
    never written in it. Relative paths are relative to the file's folder, and `~` is
    expanded. `RECONCILE_WEBHOOK_SECRET`, when set, is accepted from every provider
    without its own `[webhooks.<provider>]` table."""

    admin_token_env: Annotated[Text | None, Default(f'`"{ENV_ADMIN_TOKEN}"`')] = _key(
        "the environment variable that holds the admin token (`Authorization: Bearer` of "
        "the admin routes); unset, the admin routes answer 503"
    )
    database_url: Annotated[Text | None, Sets(PluginConfig, "database_url"), Default("none")] = (
        _key(
            "the audit store (`sqlite:///PATH`, `postgresql://...`); "
            f"`{ENV_DATABASE_URL}`, when set, wins; `serve` falls back to a SQLite file"
        )
    )
    database_url_env: EnvName | None = _key(
        "the environment variable that holds the audit store's URL; wins over the two above"
    )
    boot_policy: Annotated[Text | None, Sets(PluginConfig, "boot_policy")] = _key(
        f"what a failed boot reconcile does: {_choices(BOOT_POLICIES)} "
        "(serve with the last state; serve, but `/ready` answers 503 until a run "
        "succeeds; do not start)"
    )
    shutdown_timeout: Annotated[float | None, Sets(PluginConfig, "shutdown_timeout")] = _key(
        "seconds a running reconcile is waited for at shutdown (at most 3600)"
    )
    history_size: Annotated[int | None, Sets(PluginConfig, "history_size")] = _key(
        "runs kept in memory, for `/history` when there is no audit store"
    )
    retention_days: Annotated[float | None, Sets(PluginConfig, "retention_days")] = _key(
        "days of history the audit store keeps; older rows are pruned"
    )
    auto_upgrade: Annotated[bool | None, Sets(PluginConfig, "auto_upgrade")] = _key(
        "apply the audit store's migrations at start-up"
    )
    replica_id: Annotated[
        Text | None, Sets(PluginConfig, "replica_id"), Default("host name and pid")
    ] = _key(
        "this replica's id, in run records, `/status` and the locks' connections; "
        f"`{ENV_REPLICA_ID}`, when set, wins (one file for every replica)"
    )
    lock_database_url: Annotated[
        Text | None, Sets(PluginConfig, "lock_database_url"), Default("the audit store's")
    ] = _key(
        "a direct PostgreSQL connection (never a transaction-pooling proxy) for the "
        "replicas' locks and triggers; without it, the audit store's URL when it is "
        "PostgreSQL"
    )
    lock_database_url_env: EnvName | None = _key(
        "the environment variable that holds `lock_database_url`; wins over it"
    )
    lock_session_timeout: Annotated[float | None, Sets(PluginConfig, "lock_session_timeout")] = (
        _key(
            "seconds a replica that stopped answering keeps its locks (keepalives, "
            "`idle_session_timeout`; 1 to 3600)"
        )
    )
    identity: IdentityTable | None = _key(
        "the committer of the commits git-reconcile makes, for every repository"
    )
    commit: CommitTable | None = _key(
        "how the commits of the write path are made and guarded, for every repository"
    )
    repos: Annotated[
        list[RepoTable] | None, Sets(PluginConfig, "repos"), Default("required without `[fleet]`")
    ] = _key("the repositories (at least one, unless there is a `[fleet]` section)")
    webhooks: Annotated[
        dict[str, WebhookTable] | None,
        Sets(PluginConfig, "webhook_secrets"),
        Names("provider", (*(p.value for p in Provider), "*")),
    ] = _key("push webhook secrets, per provider")
    alerts: Annotated[AlertsTable | None, Sets(PluginConfig, "alerts")] = _key(
        "operator alerts; without this table, none are sent"
    )
    fleet: Annotated[FleetTable | None, Sets(PluginConfig, "fleet")] = _key(
        "fleet mode: every repository under some folders, committed and pushed"
    )
