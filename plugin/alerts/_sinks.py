"""Where alerts go: the ``Sink`` base class, and what every sink shares (its severity
filter, the judgement of a response, secrets read at send time, JSON bodies).

A sink turns an event into one HTTP request (or None when the event is not for it)
and judges the response; the alerter queues, sends, retries and counts.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, cast

import anyio
import httpx

from .._errors import SinkError, raise_problems
from ._events import SEVERITIES, AlertEvent, Severity

__all__ = ["MIN_SEVERITY", "SendVerdict", "Sink", "json_body", "read_secret"]

#: What a response means for the send: delivered, worth another attempt, or final.
SendVerdict = Literal["ok", "retry", "fail"]

#: The ``min_severity`` of a sink unless told otherwise: every alert.
MIN_SEVERITY: Final = "info"
_RANK: Final[Mapping[str, int]] = {"info": 0, "warning": 1, "critical": 2}


def severity_problems(value: str) -> list[str]:
    """What is wrong with a sink's ``min_severity``, if anything."""
    if value in SEVERITIES:
        return []
    return [f"min_severity: expected one of {', '.join(SEVERITIES)}, not {value!r}"]


async def read_secret(path: Path, what: str) -> str:
    """The stripped text of the secret file ``path``; raises ``SinkError`` (naming the
    file, never its content) when it cannot be read or is empty."""
    try:
        text = await anyio.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SinkError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    value = text.strip()
    if not value:
        raise SinkError(f"the {what} file {path} is empty")
    return value


def json_body(payload: Mapping[str, Any]) -> bytes:
    """``payload`` as compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Sink(abc.ABC):
    """Where alerts go. A sink turns an event into one HTTP request (or None when the
    event is not for it) and judges the response; the ``Alerter`` sends, retries and
    counts. ``kind`` labels the metrics and logs; ``describe()`` and the logs never
    show a secret."""

    kind: str = "sink"

    def __init__(self, *, min_severity: str = MIN_SEVERITY, problems: Sequence[str] = ()) -> None:
        """``problems`` are the subclass's own findings: raised with the severity's
        as one ``ConfigError``."""
        raise_problems([*problems, *severity_problems(min_severity)])
        self.min_severity: Severity = cast(Severity, min_severity)

    def accepts(self, event: AlertEvent) -> bool:
        """True when the event is severe enough for this sink."""
        return _RANK[event.severity] >= _RANK[self.min_severity]

    @abc.abstractmethod
    async def request(self, event: AlertEvent) -> httpx.Request | None:
        """The request that delivers ``event`` (the same one on every retry), or None
        when the sink has nothing to do for it. Raises ``SinkError``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The sink for a log line: no token, no secret URL."""

    def secrets(self) -> tuple[str, ...]:
        """Strings to mask in anything logged about this sink."""
        return ()

    def verdict(self, response: httpx.Response) -> SendVerdict:
        """``ok`` for 2xx; ``retry`` for 408, 429 and 5xx; ``fail`` for anything else."""
        if response.is_success:
            return "ok"
        if response.status_code in (408, 429) or response.status_code >= 500:
            return "retry"
        return "fail"
