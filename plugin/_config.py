"""Configuration of the plugin and of ``git-reconcile serve``: the value objects. Their
defaults and checks are written here only; ``_load`` reads a TOML file into them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from reconcile import CommitPolicy, RepoSpec

from ._environment import ENV_ADMIN_TOKEN, ENV_DATABASE_URL, ENV_REPLICA_ID, ENV_WEBHOOK_SECRET
from ._errors import ConfigError

if TYPE_CHECKING:
    # A type only: the alerts package does not import this module, so no cycle.
    from .alerts import AlertConfig
    from .fleet._config import FleetConfig

__all__ = [
    "BOOT_POLICIES",
    "ENV_ADMIN_TOKEN",
    "ENV_DATABASE_URL",
    "ENV_REPLICA_ID",
    "ENV_WEBHOOK_SECRET",
    "BootPolicy",
    "ConfigError",
    "PluginConfig",
    "RepoConfig",
]


BootPolicy = str  # "serve" | "not-ready" | "fail"
BOOT_POLICIES: Final = ("serve", "not-ready", "fail")


@dataclass(frozen=True)
class RepoConfig:
    """One repository the plugin keeps reconciled.

    ``poll_interval`` is in seconds (0 turns polling off); each wait is drawn
    from ``poll_interval * (1 ± poll_jitter)`` so replicas do not poll in step.
    ``spec`` carries everything else a run needs (credentials, timeouts, ...);
    when omitted it is built from ``path``, ``remote``, ``branch`` and
    ``commit_policy`` (how commits are made and guarded; given with a ``spec``, it
    replaces the spec's).

    ``url``: at start, a missing or empty ``path`` is cloned from it (``bare`` for
    a bare repository), and a clone whose remote names another URL is pointed at
    this one (``reconcile.ensure_clone``). After a run that moved the local branch,
    the run's JSON is POSTed to ``notify_url`` in the background (signed with
    ``notify_secret``, or the secret in ``notify_secret_file``, when given), and
    ``exec_hook`` (an argument list, no shell) is run with the run in its
    environment, for at most ``exec_hook_timeout`` seconds (see ``plugin._hook``
    and ``plugin._notify``).

    ``notify_changed`` commits are debounced: one ``commit_quiet_period`` (seconds)
    after the last notification, and at most ``commit_max_wait`` after the first.
    ``watch`` watches the working tree and notifies on every change. Raises
    ``ConfigError`` with every problem found.
    """

    name: str
    path: Path
    remote: str = RepoSpec.remote
    branch: str | None = None
    poll_interval: float = 60.0
    poll_jitter: float = 0.1
    spec: RepoSpec | None = None
    url: str | None = field(default=None, repr=False)
    bare: bool = False
    notify_url: str | None = field(default=None, repr=False)
    notify_secret: str | None = field(default=None, repr=False)
    notify_secret_file: Path | None = None
    notify_timeout: float = 10.0
    notify_retries: int = 3
    exec_hook: tuple[str, ...] = ()
    exec_hook_timeout: float = 60.0
    commit_policy: CommitPolicy | None = None
    commit_quiet_period: float = 2.0
    commit_max_wait: float = 30.0
    watch: bool = False

    def __post_init__(self) -> None:
        problems = self._commit_problems()
        if not self.name or "/" in self.name:
            problems.append(f"name: give a non-empty name without '/', not {self.name!r}")
        if not self.poll_interval >= 0:
            problems.append(f"poll_interval: must be >= 0 seconds, not {self.poll_interval}")
        if not 0 <= self.poll_jitter < 1:
            problems.append(f"poll_jitter: must be in [0, 1), not {self.poll_jitter}")
        problems += self._callout_problems()
        if problems:
            raise ConfigError(*problems)

    def _commit_problems(self) -> list[str]:
        problems = []
        if not self.commit_quiet_period > 0:
            problems.append(
                f"commit_quiet_period: must be > 0 seconds, not {self.commit_quiet_period}"
            )
        elif not self.commit_max_wait >= self.commit_quiet_period:
            problems.append(
                f"commit_max_wait: must be at least commit_quiet_period "
                f"({self.commit_quiet_period:g} s), not {self.commit_max_wait}"
            )
        return problems

    def _callout_problems(self) -> list[str]:
        problems = []
        if self.url is not None and not self.url.strip():
            problems.append("url: give the remote's URL")
        if self.notify_url is not None:
            parts = urlsplit(self.notify_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append("notify_url: expected an http(s) URL")
        if self.notify_secret is not None and self.notify_secret_file is not None:
            problems.append("notify_secret: give notify_secret or notify_secret_file, not both")
        if not 0 < self.notify_timeout <= 600:
            problems.append(
                f"notify_timeout: must be between 0 and 600 seconds, not {self.notify_timeout}"
            )
        if not 0 <= self.notify_retries <= 20:
            problems.append(f"notify_retries: must be between 0 and 20, not {self.notify_retries}")
        if any(not part for part in self.exec_hook) or (
            self.exec_hook and not self.exec_hook[0].strip()
        ):
            problems.append("exec_hook: give the command as a list of non-empty strings")
        if not 0 < self.exec_hook_timeout <= 3600:
            problems.append(
                f"exec_hook_timeout: must be in (0, 3600] seconds, not {self.exec_hook_timeout}"
            )
        return problems

    def to_spec(self) -> RepoSpec:
        """The spec the runs use; its commit policy names the repository ``{repo}``
        unless it names one itself."""
        spec = self.spec or RepoSpec(self.path, remote=self.remote, branch=self.branch)
        policy = self.commit_policy or spec.commit_policy
        if policy.repo_name is None:
            policy = replace(policy, repo_name=self.name)
        return replace(spec, commit_policy=policy)


@dataclass(frozen=True)
class PluginConfig:
    """What the plugin serves, and how.

    ``webhook_secrets`` maps a provider name to the secrets accepted for it (several
    during a rotation); ``"*"`` applies to every provider without its own entry.
    Azure DevOps takes ``user:password`` pairs. ``boot_policy`` says what a failed
    boot reconcile does: ``serve`` (the default: serve with the last state),
    ``not-ready`` (serve, but /ready answers 503 until a run succeeds) or ``fail``
    (the app does not start). ``admin_token_env`` names the environment variable the
    admin token is read from, when it is (``git-reconcile serve``, ``load_config``), so
    the admin routes' 503 can say what to set; without it the 503 names
    ``PluginConfig(admin_token=...)``. ``fleet`` adds fleet mode beside the repositories
    (with it, ``repos`` may be empty).

    Several replicas coordinate through PostgreSQL (``plugin.replicas``) when the
    audit store is PostgreSQL, or ``lock_database_url`` names one: a direct
    connection for the locks and the triggers, where ``database_url`` goes through a
    transaction-pooling proxy. ``replica_id`` names this replica in run records and
    ``/status`` (default: host name and pid); ``lock_session_timeout`` is how long a
    replica that stopped answering keeps its locks (seconds). Raises ``ConfigError``
    with every problem found.
    """

    repos: tuple[RepoConfig, ...]
    admin_token: str | None = field(default=None, repr=False)
    admin_token_env: str | None = None
    webhook_secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    boot_policy: BootPolicy = "serve"
    shutdown_timeout: float = 10.0
    history_size: int = 200
    max_body: int = 25 * 1024 * 1024
    delivery_ttl: float = 24 * 3600.0
    database_url: str | None = field(default=None, repr=False)
    auto_upgrade: bool = True
    retention_days: float = 30.0
    alerts: AlertConfig | None = field(default=None, repr=False)
    replica_id: str | None = None
    lock_database_url: str | None = field(default=None, repr=False)
    lock_session_timeout: float = 30.0
    fleet: FleetConfig | None = None

    def __post_init__(self) -> None:
        problems = [*self._repo_problems(), *self._value_problems()]
        if problems:
            raise ConfigError(*problems)

    def _repo_problems(self) -> list[str]:
        if not self.repos and self.fleet is None:
            return ["repos: configure at least one repository"]
        names = [r.name for r in self.repos]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            return [f"repos: names must be unique; repeated: {', '.join(repeated)}"]
        return []

    def _value_problems(self) -> list[str]:
        problems = []
        if self.history_size < 1:
            problems.append(f"history_size: must be at least 1, not {self.history_size}")
        if not 0 < self.shutdown_timeout <= 3600:
            problems.append(
                f"shutdown_timeout: must be between 0 and 3600 seconds, not {self.shutdown_timeout}"
            )
        if not self.retention_days > 0:
            problems.append(f"retention_days: must be a positive number, not {self.retention_days}")
        if self.max_body < 1:
            problems.append(f"max_body: must be a positive number of bytes, not {self.max_body}")
        problems += self._replica_problems()
        if self.boot_policy not in BOOT_POLICIES:
            problems.append(
                f"boot_policy: {self.boot_policy!r} is not one of {', '.join(BOOT_POLICIES)}"
            )
        from webhooks import Provider  # noqa: PLC0415  (the command line's run never needs it)

        known = [p.value for p in Provider]
        for provider in self.webhook_secrets:
            if provider != "*" and provider not in known:
                problems.append(
                    f"webhook_secrets: {provider!r} is not a provider "
                    f"(known: {', '.join(known)}, or '*' for every provider)"
                )
        return problems

    def _replica_problems(self) -> list[str]:
        problems = []
        if self.replica_id is not None and not self.replica_id.strip():
            problems.append("replica_id: give a non-empty name, or leave it out")
        if self.lock_database_url is not None and not _is_postgres(self.lock_database_url):
            problems.append("lock_database_url: expected a PostgreSQL URL (postgresql://...)")
        if not 1 <= self.lock_session_timeout <= 3600:
            problems.append(
                "lock_session_timeout: must be between 1 and 3600 seconds, "
                f"not {self.lock_session_timeout}"
            )
        return problems

    @property
    def coordination_url(self) -> str | None:
        """Where the replicas coordinate: ``lock_database_url``, else the audit store
        when it is PostgreSQL; None for a single replica."""
        if self.lock_database_url:
            return self.lock_database_url
        return self.database_url if _is_postgres(self.database_url) else None

    def secrets_for(self, provider: str) -> tuple[str, ...]:
        return tuple(self.webhook_secrets.get(provider, self.webhook_secrets.get("*", ())))


def _is_postgres(url: str | None) -> bool:
    """Whether ``url`` names PostgreSQL (``postgresql://``, ``postgresql+psycopg://``,
    ``postgres://``), read without loading SQLAlchemy."""
    scheme = (url or "").partition("://")[0].lower()
    return scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")
