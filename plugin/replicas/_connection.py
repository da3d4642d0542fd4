"""The replicas' own PostgreSQL connections: direct (never pooled), with TCP
keepalives on both ends, and a failure time the holder of a lock chooses.

A session-level advisory lock lives as long as its session, so the connection that
holds it must be the replica's alone and must not outlive the replica. Three
settings, all derived from one number, ``session_timeout`` (seconds), bound how long
a dead holder keeps its lock:

- TCP keepalives on the client (libpq's ``keepalives_*``) and on the server
  (``tcp_keepalives_*``, set for this session in the startup ``options``): a host
  that vanished, or a cut network, is found within about two thirds of it; and
  ``tcp_user_timeout`` on both ends, for data sent and never acknowledged;
- ``idle_session_timeout``, set by the lock itself while it is held, and kept from
  firing by a heartbeat: the server ends the session of a holder that stopped
  (a frozen process, a proxy that answers keepalives for a client long gone).

Keys the URL sets itself (``?keepalives_idle=5``) are left as the URL says. psycopg
is imported here, and only when a connection is made: it is the ``postgres`` extra
(and SQLAlchemy, for its URLs, only when one is read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

__all__ = ["connect", "is_postgres", "libpq_url", "session_options"]


def is_postgres(url: str | None) -> bool:
    """Whether ``url`` is a PostgreSQL database URL (SQLAlchemy's forms included)."""
    if not url:
        return False
    from sqlalchemy.engine import make_url  # noqa: PLC0415  (loaded with a store only)

    try:
        return make_url(url).get_backend_name() == "postgresql"
    except Exception:
        return False


def libpq_url(url: str) -> str:
    """``url`` (``postgresql://``, ``postgresql+psycopg://``, ``postgres://``) as libpq
    reads it, password included."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def session_options(session_timeout: float) -> dict[str, str]:
    """The server's per-session TCP settings for a failure time of ``session_timeout``."""
    idle, interval = _keepalive(session_timeout)
    return {
        "tcp_keepalives_idle": str(idle),
        "tcp_keepalives_interval": str(interval),
        "tcp_keepalives_count": "2",
        "tcp_user_timeout": str(int(session_timeout * 1000)),
    }


def _keepalive(session_timeout: float) -> tuple[int, int]:
    """Keepalive idle time and interval (whole seconds): idle + 2 intervals fit in the
    failure time (down to a second)."""
    seconds = max(1, int(session_timeout))
    return max(1, seconds // 3), max(1, seconds // 6)


def connect(
    url: str,
    application_name: str,
    session_timeout: float,
    settings: Mapping[str, str] | None = None,
) -> psycopg.Connection[Any]:
    """A new autocommit connection to ``url`` with the keepalives above, and the
    server ``settings`` given for the session. Raises ``psycopg.OperationalError``
    when the server cannot be reached."""
    import psycopg  # noqa: PLC0415  (the postgres extra: only where it is used)
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    dsn = libpq_url(url)
    given = conninfo_to_dict(dsn)
    idle, interval = _keepalive(session_timeout)
    defaults: dict[str, Any] = {
        "connect_timeout": max(2, int(session_timeout)),
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": 2,
        "tcp_user_timeout": int(session_timeout * 1000),
    }
    extra = {key: value for key, value in defaults.items() if key not in given}
    startup = {**session_options(session_timeout), **(settings or {})}
    server = " ".join(f"-c {key}={value}" for key, value in startup.items())
    options = f"{server} {given['options']}" if given.get("options") else server  # theirs win
    return psycopg.connect(
        dsn,
        autocommit=True,
        application_name=application_name[:63],
        options=options,
        **extra,
    )
