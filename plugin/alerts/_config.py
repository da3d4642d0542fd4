"""``AlertConfig``: the sinks and the alerter's settings, as a value object. Its
defaults and bounds are written here only; the alerter and the configuration file's
reader take them from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from .._errors import raise_problems
from ._events import FAILURE_THRESHOLD
from ._hosts import HOST_KINDS, HostKind
from ._sinks import Sink

__all__ = ["AlertConfig"]

_SEND_TIMEOUT_MAX = 600.0


@dataclass(frozen=True)
class AlertConfig:
    """The ``[alerts]`` table: the sinks and the alerter's settings.

    ``failure_threshold`` failed runs in a row raise ``failing``; at most one alert per
    (repository, event, commit) goes out per ``dedupe_interval`` seconds; each sink
    queues up to ``queue_size`` alerts; each attempt to send takes at most
    ``send_timeout`` seconds, and a send is retried ``retries`` times; ``hosts`` maps
    self-hosted host names to the software they run (for links). Raises
    ``ConfigError`` (a ``ValueError``) with every problem, each naming its field
    (``queue_size: must be at least 1, not 0``).
    """

    sinks: tuple[Sink, ...] = ()
    failure_threshold: int = FAILURE_THRESHOLD
    dedupe_interval: float = 300.0
    queue_size: int = 100
    send_timeout: float = 10.0
    retries: int = 3
    hosts: Mapping[str, HostKind] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = [
            *_at_least("failure_threshold", self.failure_threshold, 1),
            *_at_least("dedupe_interval", self.dedupe_interval, 0),
            *_at_least("queue_size", self.queue_size, 1),
            *_at_least("retries", self.retries, 0),
            *_host_problems(self.hosts),
        ]
        if not 0 < self.send_timeout <= _SEND_TIMEOUT_MAX:
            problems.append(
                f"send_timeout: must be more than 0 and at most {_SEND_TIMEOUT_MAX:g} "
                f"seconds, not {self.send_timeout}"
            )
        raise_problems(problems)
        object.__setattr__(self, "sinks", tuple(self.sinks))
        object.__setattr__(self, "dedupe_interval", float(self.dedupe_interval))
        object.__setattr__(self, "send_timeout", float(self.send_timeout))
        object.__setattr__(self, "hosts", _hosts(self.hosts))


def _at_least(name: str, value: float, minimum: int) -> list[str]:
    return [f"{name}: must be at least {minimum}, not {value}"] if value < minimum else []


def _host_problems(hosts: Mapping[str, str]) -> list[str]:
    return [
        f"hosts.{host}: expected one of {', '.join(HOST_KINDS)}, not {kind!r}"
        for host, kind in hosts.items()
        if kind not in HOST_KINDS
    ]


def _hosts(hosts: Mapping[str, str]) -> dict[str, HostKind]:
    return {str(host).lower(): cast(HostKind, kind) for host, kind in hosts.items()}
