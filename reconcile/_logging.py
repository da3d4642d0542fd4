"""Log output for applications: one JSON object per line, or a readable console line.

The library only logs (to the ``reconcile`` logger, one line per run with a
``reconcile`` dict on the record); ``configure_logging`` is for the application that
decides where the lines go. Every string written passes through ``redact_text``, so a
credential in a URL or a token query parameter is masked even when a caller (or a
third-party library) logged it.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Final, Literal

from ._redact import redact_text

__all__ = [
    "ConsoleFormatter",
    "JSONFormatter",
    "LogFormat",
    "RedactingFilter",
    "configure_logging",
]

LogFormat = Literal["auto", "json", "console"]

#: The loggers ``configure_logging`` configures by default.
DEFAULT_LOGGERS: Final = ("reconcile", "plugin")
#: The attribute of a record that holds its structured fields.
FIELDS_ATTRIBUTE: Final = "reconcile"
_BASE_KEYS: Final = ("time", "level", "logger", "message")


def _redacted(value: Any) -> Any:
    """``value`` made JSON-ready with every string in it redacted."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_text(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    return redact_text(str(value))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's structured fields (its ``reconcile`` dict), redacted."""
    fields = getattr(record, FIELDS_ATTRIBUTE, None)
    if not isinstance(fields, Mapping):
        return {}
    return {redact_text(str(k)): _redacted(v) for k, v in fields.items()}


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The record's traceback (and stack), formatted and redacted, or None."""
    parts: list[str] = []
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return redact_text("\n".join(parts)) if parts else None


class RedactingFilter(logging.Filter):
    """Masks credentials in a record before any formatter sees it: the message (its
    arguments merged in), the structured fields, the traceback and the stack.

    It rewrites the record in place, so handlers that run after it see the masked
    text too; it never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw parts, masked
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = redact_text(message), None
        fields = getattr(record, FIELDS_ATTRIBUTE, None)
        if isinstance(fields, Mapping):
            setattr(record, FIELDS_ATTRIBUTE, _fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, every field of the record's ``reconcile`` dict, and ``exc_info``
    (the formatted traceback) when there is one. Every string is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, tz=UTC)
        out: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for key, value in _fields(record).items():
            if key not in _BASE_KEYS:
                out[key] = value
        trace = _exception_text(self, record)
        if trace is not None:
            out["exc_info"] = trace
        return json.dumps(out, separators=(",", ":"))


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message key=value ...`` in local time, redacted.

    Fields whose ``key=value`` the message already holds (the library's run line
    carries them all) are not repeated; a traceback follows on its own lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = redact_text(record.getMessage())
        extra = []
        for key, value in _fields(record).items():
            if value is None:
                continue
            pair = f"{key}={value}"
            if pair in message:
                continue
            shown = str(value)
            if not shown or any(c.isspace() or c in "\"'" for c in shown):
                shown = json.dumps(shown, ensure_ascii=False)
            extra.append(f"{key}={shown}")
        clock = self.formatTime(record, "%H:%M:%S")
        line = f"{clock} {record.levelname} {record.name}: {message}"
        if extra:
            line += " " + " ".join(extra)
        trace = _exception_text(self, record)
        return line if trace is None else f"{line}\n{trace}"


class _Handler(logging.StreamHandler[IO[str]]):
    """The handler ``configure_logging`` installs; recognised and replaced by the next
    call, so configuring twice never doubles the lines."""


_configured: dict[str, bool] = {}  # logger name -> its propagate flag before


def configure_logging(
    format: LogFormat = "auto",
    level: int | str = "INFO",
    stream: IO[str] | None = None,
    *,
    loggers: Iterable[str] = DEFAULT_LOGGERS,
    propagate: bool = False,
) -> logging.Handler:
    """Send the ``reconcile`` and ``plugin`` loggers' records to ``stream`` (stderr by
    default) as JSON lines (``json``), readable lines (``console``), or, with
    ``auto``, console lines on a terminal and JSON otherwise.

    The root logger is left alone; the configured loggers stop propagating to it
    unless ``propagate`` is true, so a line is never written twice. Calling again
    replaces the handler this function installed before. Returns the handler.
    """
    if format not in ("auto", "json", "console"):
        raise ValueError(f"log format must be auto, json or console, not {format!r}")
    if isinstance(level, str):
        level = level.upper()  # "info" as well as "INFO"
    target: IO[str] = stream if stream is not None else sys.stderr
    if format == "auto":
        format = "console" if _is_tty(target) else "json"
    handler = _Handler(target)
    handler.setFormatter(ConsoleFormatter() if format == "console" else JSONFormatter())
    handler.addFilter(RedactingFilter())
    names = list(dict.fromkeys(loggers))
    for name in list(_configured):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, _Handler)]:
            logger.removeHandler(old)
        if name not in names:
            logger.propagate = _configured.pop(name)
    for name in names:
        logger = logging.getLogger(name)
        _configured.setdefault(name, logger.propagate)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    return handler


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
