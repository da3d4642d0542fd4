"""Configuration of the plugin and of ``git-reconcile serve``: value objects, and a
TOML loader that names the key and the problem when something is wrong."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconcile import HTTPAuth, InvalidSpecError, RepoSpec, Retry, SSHKey

from ._errors import ConfigError

if TYPE_CHECKING:
    from .alerts import AlertConfig

__all__ = ["BootPolicy", "ConfigError", "PluginConfig", "RepoConfig", "load_config"]

ENV_WEBHOOK_SECRET = "RECONCILE_WEBHOOK_SECRET"
ENV_ADMIN_TOKEN = "RECONCILE_ADMIN_TOKEN"
ENV_DATABASE_URL = "RECONCILE_DATABASE_URL"
PROVIDERS = (
    "github",
    "gitlab",
    "gitea",
    "forgejo",
    "bitbucket-cloud",
    "bitbucket-dc",
    "azure-devops",
    "generic-hmac",
    "generic-bearer",
)


BootPolicy = str  # "serve" | "not-ready" | "fail"
_BOOT_POLICIES = ("serve", "not-ready", "fail")


@dataclass(frozen=True)
class RepoConfig:
    """One repository the plugin keeps reconciled.

    ``poll_interval`` is in seconds (0 turns polling off); each wait is drawn
    from ``poll_interval * (1 ± poll_jitter)`` so replicas do not poll in step.
    ``spec`` carries everything else a run needs (credentials, timeouts, ...);
    when omitted it is built from ``path``, ``remote`` and ``branch``.
    """

    name: str
    path: Path
    remote: str = "origin"
    branch: str | None = None
    poll_interval: float = 60.0
    poll_jitter: float = 0.1
    spec: RepoSpec | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ConfigError(f"repo name {self.name!r}: give a non-empty name without '/'")
        if self.poll_interval < 0:
            raise ConfigError(f"repo {self.name!r}: poll_interval must be >= 0 seconds")
        if not 0 <= self.poll_jitter < 1:
            raise ConfigError(f"repo {self.name!r}: poll_jitter must be in [0, 1)")

    def to_spec(self) -> RepoSpec:
        if self.spec is not None:
            return self.spec
        return RepoSpec(self.path, remote=self.remote, branch=self.branch)


@dataclass(frozen=True)
class PluginConfig:
    """What the plugin serves, and how.

    ``webhook_secrets`` maps a provider name to the secrets accepted for it (several
    during a rotation); ``"*"`` applies to every provider without its own entry.
    Azure DevOps takes ``user:password`` pairs. ``boot_policy`` says what a failed
    boot reconcile does: ``serve`` (the default: serve with the last state),
    ``not-ready`` (serve, but /ready answers 503 until a run succeeds) or ``fail``
    (the app does not start).
    """

    repos: tuple[RepoConfig, ...]
    admin_token: str | None = field(default=None, repr=False)
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

    def __post_init__(self) -> None:
        if not self.repos:
            raise ConfigError("repos: configure at least one repository")
        names = [r.name for r in self.repos]
        if len(set(names)) != len(names):
            raise ConfigError(f"repos: names must be unique, got {names}")
        if self.history_size < 1:
            raise ConfigError(f"history_size: must be at least 1, not {self.history_size}")
        if not 0 < self.shutdown_timeout <= 3600:
            raise ConfigError(
                f"shutdown_timeout: must be between 0 and 3600 seconds, not {self.shutdown_timeout}"
            )
        if not self.retention_days > 0:
            raise ConfigError(
                f"retention_days: must be a positive number, not {self.retention_days}"
            )
        if self.max_body < 1:
            raise ConfigError(f"max_body: must be a positive number of bytes, not {self.max_body}")
        if self.boot_policy not in _BOOT_POLICIES:
            raise ConfigError(
                f"boot_policy: {self.boot_policy!r} is not one of {', '.join(_BOOT_POLICIES)}"
            )
        for provider in self.webhook_secrets:
            if provider != "*" and provider not in PROVIDERS:
                raise ConfigError(
                    f"webhooks.{provider}: unknown provider (known: {', '.join(PROVIDERS)})"
                )

    def secrets_for(self, provider: str) -> tuple[str, ...]:
        return tuple(self.webhook_secrets.get(provider, self.webhook_secrets.get("*", ())))


def _get(
    table: Mapping[str, Any],
    key: str,
    where: str,
    kind: type | tuple[type, ...],
    default: Any = None,
) -> Any:
    value = table.get(key, default)
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}{key}: expected {names}, got {type(value).__name__} {value!r}")
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{where}{key}: expected a number, got {value!r}")
    return value


def _env(environ: Mapping[str, str], name: str | None, where: str) -> str | None:
    if name is None:
        return None
    value = environ.get(name)
    if not value:
        raise ConfigError(f"{where}: environment variable {name} is not set")
    return value


_REPO_KEYS = {
    "name",
    "path",
    "remote",
    "branch",
    "poll_interval",
    "poll_jitter",
    "timeout",
    "ssh_key",
    "known_hosts",
    "fingerprints",
    "token_file",
    "http_user",
    "bearer",
    "retries",
}
_TOP_KEYS = {
    "repos",
    "webhooks",
    "admin_token_env",
    "database_url",
    "database_url_env",
    "boot_policy",
    "shutdown_timeout",
    "history_size",
    "alerts",
    "retention_days",
    "auto_upgrade",
}


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> PluginConfig:
    """Read a TOML configuration file. Secrets are named by environment variable, never
    written in the file; ``environ`` defaults to ``os.environ``."""
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_mapping(data, env, base=path.parent)


def config_from_mapping(
    data: Mapping[str, Any], environ: Mapping[str, str], base: Path | None = None
) -> PluginConfig:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"{', '.join(sorted(unknown))}: unknown key (known: {', '.join(sorted(_TOP_KEYS))})"
        )
    raw_repos = _get(data, "repos", "", list, [])
    repos = tuple(_repo(entry, n, base) for n, entry in enumerate(raw_repos))

    secrets: dict[str, tuple[str, ...]] = {}
    default_secret = environ.get(ENV_WEBHOOK_SECRET)
    if default_secret:
        secrets["*"] = (default_secret,)
    hooks = _get(data, "webhooks", "", dict, {})
    for provider, table in hooks.items():
        where = f"webhooks.{provider}."
        if not isinstance(table, dict):
            raise ConfigError(
                f'webhooks.{provider}: expected a table like {{ secret_env = "NAME" }}'
            )
        names = _get(table, "secret_envs", where, list, [])
        single = _get(table, "secret_env", where, str)
        if single:
            names = [single, *names]
        if not names:
            raise ConfigError(f"{where}secret_env: name the environment variable of the secret")
        secrets[provider] = tuple(
            v for v in (_env(environ, str(n), f"{where}secret_env") for n in names) if v
        )
    token_env = _get(data, "admin_token_env", "", str, ENV_ADMIN_TOKEN)
    admin_token = environ.get(token_env) or None
    database_url = environ.get(ENV_DATABASE_URL) or _get(data, "database_url", "", str)
    db_env = _get(data, "database_url_env", "", str)
    if db_env:
        database_url = _env(environ, db_env, "database_url_env")
    alerts = None
    raw_alerts = _get(data, "alerts", "", dict)
    if raw_alerts is not None:
        from .alerts._parse import alerts_from_mapping  # here: only files with alerts load them

        alerts = alerts_from_mapping(raw_alerts, environ, base)
    return PluginConfig(
        repos=repos,
        admin_token=admin_token,
        webhook_secrets=secrets,
        boot_policy=_get(data, "boot_policy", "", str, "serve"),
        shutdown_timeout=float(_get(data, "shutdown_timeout", "", (int, float), 10.0)),
        history_size=int(_get(data, "history_size", "", int, 200)),
        retention_days=float(_get(data, "retention_days", "", (int, float), 30.0)),
        auto_upgrade=bool(_get(data, "auto_upgrade", "", bool, True)),
        database_url=database_url,
        alerts=alerts,
    )


def _repo(entry: Any, index: int, base: Path | None) -> RepoConfig:
    where = f"repos[{index}]."
    if not isinstance(entry, dict):
        raise ConfigError(f"repos[{index}]: expected a table ([[repos]] with name and path)")
    unknown = set(entry) - _REPO_KEYS
    if unknown:
        raise ConfigError(
            f"{where}{sorted(unknown)[0]}: unknown key (known: {', '.join(sorted(_REPO_KEYS))})"
        )
    raw_path = _get(entry, "path", where, str)
    if not raw_path:
        raise ConfigError(f"{where}path: the repository's path is required")
    path = Path(raw_path).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    name = _get(entry, "name", where, str) or path.name
    ssh_key = _get(entry, "ssh_key", where, str)
    token_file = _get(entry, "token_file", where, str)
    if ssh_key and token_file:
        raise ConfigError(f"{where}ssh_key: give ssh_key or token_file, not both")
    credentials: SSHKey | HTTPAuth | None = None
    if ssh_key:
        credentials = SSHKey(private_key=Path(ssh_key).expanduser())
    elif token_file:
        credentials = HTTPAuth(
            username=_get(entry, "http_user", where, str, "git"),
            password_file=Path(token_file).expanduser(),
            bearer=bool(_get(entry, "bearer", where, bool, False)),
        )
    known_hosts = _get(entry, "known_hosts", where, str)
    fingerprints = _get(entry, "fingerprints", where, list, [])
    try:
        spec = RepoSpec(
            path,
            remote=_get(entry, "remote", where, str, "origin"),
            branch=_get(entry, "branch", where, str),
            timeout=float(_get(entry, "timeout", where, (int, float), 30.0)),
            credentials=credentials,
            known_hosts=Path(known_hosts).expanduser() if known_hosts else None,
            host_key_fingerprints=tuple(str(f) for f in fingerprints),
            retry=Retry(attempts=int(_get(entry, "retries", where, int, 4))),
        )
        return RepoConfig(
            name=name,
            path=path,
            remote=spec.remote,
            branch=spec.branch,
            poll_interval=float(_get(entry, "poll_interval", where, (int, float), 60.0)),
            poll_jitter=float(_get(entry, "poll_jitter", where, (int, float), 0.1)),
            spec=spec,
        )
    except (ValueError, InvalidSpecError) as exc:
        raise ConfigError(f"{where.rstrip('.')}: {exc}") from None
