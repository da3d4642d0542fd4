"""The ``[alerts]`` table of the configuration file, read into ``AlertConfig`` and its
sinks: ``alerts_from_mapping`` and ``sinks_from_mapping``, raising ``ConfigError``
naming the key. Secrets are named by environment variable or file, never written in
the table.

This reader checks the table's shape (known keys, types, one of two keys, variables
that are set); the defaults and bounds are the value objects' (``AlertConfig``,
``SlackSink``, ``WebhookSink``, ``PullRequestSink``), whose ``ValueError`` it names
by key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import urlsplit

from .._errors import ConfigError
from ._config import AlertConfig
from ._pull_requests import PullRequestSink
from ._sinks import MIN_SEVERITY, Sink
from ._slack import SlackSink
from ._webhook import WebhookSink

__all__ = ["alerts_from_mapping", "sinks_from_mapping"]

Builder = Callable[[Mapping[str, Any], Mapping[str, str], str, Path | None], Sink]

_INT_KEYS: Final = ("failure_threshold", "queue_size", "retries")
_NUMBER_KEYS: Final = ("dedupe_interval", "send_timeout")
_SINK_KEYS: Final = ("slack", "webhook", "pull_request")
_TOP_KEYS: Final = frozenset({*_INT_KEYS, *_NUMBER_KEYS, "hosts", *_SINK_KEYS})
_SLACK_KEYS: Final = frozenset({"webhook_url_env", "webhook_url_file", "min_severity"})
_WEBHOOK_KEYS: Final = frozenset({"url", "url_env", "secret_env", "secret_file", "min_severity"})
_PR_KEYS: Final = frozenset(
    {
        "provider",
        "api_url",
        "project",
        "token_env",
        "token_file",
        "base_branch",
        "min_severity",
    }
)


def alerts_from_mapping(
    data: Mapping[str, Any], environ: Mapping[str, str], base: Path | None = None
) -> AlertConfig:
    """Read the ``[alerts]`` table (``data``); raises ``ConfigError`` naming the key.
    Relative file names are taken from ``base``."""
    where = "alerts."
    _known(data, _TOP_KEYS, where)
    settings = _settings(data, where)
    try:
        config = AlertConfig(**settings)
    except ValueError as exc:  # AlertConfig's own check, which names the field
        raise ConfigError(f"{where}{exc}") from None
    return replace(config, sinks=tuple(_sinks(data, environ, base, where)))


def sinks_from_mapping(
    data: Mapping[str, Any], environ: Mapping[str, str], base: Path | None = None
) -> list[Sink]:
    """The sinks of the ``[alerts]`` table ``data``; raises ``ConfigError`` naming the
    key. ``alerts_from_mapping`` reads the alerter's settings too."""
    return list(alerts_from_mapping(data, environ, base).sinks)


def _settings(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The settings the table gives (the others keep ``AlertConfig``'s defaults)."""
    given: dict[str, Any] = {}
    for key in _INT_KEYS:
        given[key] = _value(data, key, where, int, None)
    for key in _NUMBER_KEYS:
        given[key] = _number(data, key, where)
    given["hosts"] = _value(data, "hosts", where, dict, None)
    return {key: value for key, value in given.items() if value is not None}


def _sinks(
    data: Mapping[str, Any], environ: Mapping[str, str], base: Path | None, where: str
) -> list[Sink]:
    builders: dict[str, Builder] = {
        "slack": _slack,
        "webhook": _webhook,
        "pull_request": _pull_request,
    }
    sinks: list[Sink] = []
    for key in _SINK_KEYS:
        for at, table in _tables(data, key, where):
            try:
                sinks.append(builders[key](table, environ, f"{at}.", base))
            except ConfigError:
                raise
            except ValueError as exc:  # the sink's own check, which names its parameter
                raise ConfigError(f"{at}.{exc}") from None
    return sinks


def _tables(data: Mapping[str, Any], key: str, where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The ``[[alerts.<key>]]`` tables, each with its place (``alerts.slack[0]``)."""
    raw = data.get(key, [])
    tables = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tables, list):
        raise ConfigError(f"{where}{key}: expected a list of tables ([[{where}{key}]])")
    found: list[tuple[str, Mapping[str, Any]]] = []
    for index, table in enumerate(tables):
        at = f"{where}{key}[{index}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{at}: expected a table")
        found.append((at, table))
    return found


def _known(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        hint = ""
        if unknown[0] in ("webhook_url", "secret", "token"):
            hint = f"; name the environment variable ({unknown[0]}_env) or a file instead"
        raise ConfigError(
            f"{where}{unknown[0]}: unknown key (known: {', '.join(sorted(known))}){hint}"
        )


def _value(table: Mapping[str, Any], key: str, where: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(
            f"{where}{key}: expected {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _number(table: Mapping[str, Any], key: str, where: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}{key}: expected a number, got {type(value).__name__} {value!r}")
    return float(value)


def _str(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _value(table, key, where, str, None)
    if value is not None and not value.strip():
        raise ConfigError(f"{where}{key}: must not be empty")
    return cast("str | None", value)


def _from_env(environ: Mapping[str, str], table: Mapping[str, Any], key: str, where: str) -> str:
    name = _str(table, key, where)
    assert name is not None
    value = environ.get(name)
    if not value:
        raise ConfigError(f"{where}{key}: environment variable {name} is not set")
    return value


def _path(table: Mapping[str, Any], key: str, where: str, base: Path | None) -> Path | None:
    raw = _str(table, key, where)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def _severity(table: Mapping[str, Any], where: str) -> str:
    return cast(str, _value(table, "min_severity", where, str, MIN_SEVERITY))


def _one_of(table: Mapping[str, Any], keys: tuple[str, str], where: str) -> str:
    given = [k for k in keys if table.get(k) is not None]
    if len(given) != 1:
        raise ConfigError(
            f"{where}{keys[0]}: give {keys[0]} or {keys[1]}" + (" (not both)" if given else "")
        )
    return given[0]


def _slack(
    table: Mapping[str, Any], environ: Mapping[str, str], where: str, base: Path | None
) -> Sink:
    _known(table, _SLACK_KEYS, where)
    severity = _severity(table, where)
    if _one_of(table, ("webhook_url_env", "webhook_url_file"), where) == "webhook_url_file":
        path = _path(table, "webhook_url_file", where, base)
        return SlackSink(webhook_url_file=path, min_severity=severity)
    url = _from_env(environ, table, "webhook_url_env", where)
    if urlsplit(url).scheme != "https":
        raise ConfigError(f"{where}webhook_url_env: the Slack webhook URL must be https")
    return SlackSink(url, min_severity=severity)


def _webhook(
    table: Mapping[str, Any], environ: Mapping[str, str], where: str, base: Path | None
) -> Sink:
    _known(table, _WEBHOOK_KEYS, where)
    severity = _severity(table, where)
    key = _one_of(table, ("url", "url_env"), where)
    url = _str(table, "url", where) if key == "url" else _from_env(environ, table, key, where)
    assert url is not None
    if table.get("secret_env") is not None and table.get("secret_file") is not None:
        raise ConfigError(f"{where}secret_env: give secret_env or secret_file, not both")
    secret = None
    if table.get("secret_env") is not None:
        secret = _from_env(environ, table, "secret_env", where)
    secret_file = _path(table, "secret_file", where, base)
    try:
        return WebhookSink(url, secret, secret_file=secret_file, min_severity=severity)
    except ValueError as exc:
        message = str(exc)
        if message.startswith("url:"):  # name the key the URL came from
            message = key + message.removeprefix("url")
        raise ConfigError(f"{where}{message}") from None


def _pull_request(
    table: Mapping[str, Any], environ: Mapping[str, str], where: str, base: Path | None
) -> Sink:
    _known(table, _PR_KEYS, where)
    provider = _str(table, "provider", where)
    project = _str(table, "project", where)
    if project is None:
        raise ConfigError(f"{where}project: required (owner/repo, or GitLab's path or id)")
    token_env: str | None = None
    if _one_of(table, ("token_env", "token_file"), where) == "token_env":
        _from_env(environ, table, "token_env", where)  # fail now when it is not set
        token_env = _str(table, "token_env", where)
    return PullRequestSink(
        provider or "",
        _str(table, "api_url", where),
        project,
        token_env=token_env,
        token_file=_path(table, "token_file", where, base),
        base_branch=_str(table, "base_branch", where),
        min_severity=_severity(table, where),
        environ=environ,
    )
