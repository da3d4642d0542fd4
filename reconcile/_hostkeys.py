"""SSH host keys: known_hosts files and fingerprints, checked by git-reconcile itself.

libgit2 hands the server's raw host key to the certificate callback; this module
decides whether to trust it, the way OpenSSH does with ``StrictHostKeyChecking
yes``: a key recorded for the host (hashed or plain entry, with or without a
port) is accepted, a different key for a recorded host is refused as changed, an
unrecorded host is refused as unknown, and a ``@revoked`` key is always refused.
Pinned fingerprints, when given, replace the known_hosts lookup.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HostKey",
    "HostKeyVerdict",
    "check_fingerprint",
    "check_host_key",
    "default_known_hosts",
    "fingerprint",
    "host_pattern",
    "known_hosts_line",
]


class HostKeyVerdict(enum.Enum):
    TRUSTED = "trusted"
    UNKNOWN = "unknown"
    CHANGED = "changed"
    REVOKED = "revoked"


@dataclass(frozen=True)
class HostKey:
    """A server's public host key in SSH wire format."""

    blob: bytes

    @property
    def keytype(self) -> str:
        """The key type named in the blob, e.g. ``ssh-ed25519``."""
        try:
            (length,) = struct.unpack(">I", self.blob[:4])
            return self.blob[4 : 4 + length].decode("ascii")
        except (struct.error, UnicodeDecodeError):
            return "unknown"

    @property
    def base64(self) -> str:
        return base64.b64encode(self.blob).decode("ascii")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)


# A SHA256 fingerprint as ssh-keygen -l prints it: 32 bytes in base64, unpadded.
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}=?")


def check_fingerprint(text: str) -> str | None:
    """What is wrong with ``text`` as a pinned host key fingerprint; None if nothing."""
    if _FINGERPRINT.fullmatch(text):
        return None
    return (
        f"{text!r} is not a host key fingerprint: give it as ssh-keygen -l prints it, "
        "SHA256: and 43 base64 characters"
    )


def fingerprint(blob: bytes) -> str:
    """The key's fingerprint as ``ssh-keygen -l`` prints it: ``SHA256:<base64>``."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return f"SHA256:{digest}"


def host_pattern(host: str, port: int | None) -> str:
    """How known_hosts names ``host`` on ``port``: ``host``, or ``[host]:port``."""
    return host if port in (None, 22) else f"[{host}]:{port}"


def known_hosts_line(host: str, port: int | None, key: HostKey) -> str:
    """A known_hosts line recording ``key`` for ``host`` (and port)."""
    return f"{host_pattern(host, port)} {key.keytype} {key.base64}"


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        salt_b64, _, hash_b64 = pattern[3:].partition("|")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
            expected = base64.b64decode(hash_b64, validate=True)
        except ValueError:
            return False
        actual = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(actual, expected)
    # OpenSSH patterns know only '*' and '?'; brackets are literal ("[host]:port").
    regex = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.lower()
    )
    return re.fullmatch(regex, name.lower()) is not None


def _host_matches(patterns: str, name: str) -> bool:
    matched = False
    for pattern in patterns.split(","):
        if pattern.startswith("!"):
            if _pattern_matches(pattern[1:], name):
                return False
        elif _pattern_matches(pattern, name):
            matched = True
    return matched


def _entries(path: Path) -> list[tuple[str | None, str, str, str]]:
    """(marker, host patterns, key type, base64 key) of each line of a known_hosts file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
        if len(fields) < 3:
            continue
        entries.append((marker, fields[0], fields[1], fields[2]))
    return entries


def check_host_key(
    key: HostKey,
    host: str,
    port: int | None,
    known_hosts: Path,
    pins: tuple[str, ...] = (),
) -> tuple[HostKeyVerdict, str]:
    """Decide whether to trust ``key`` for ``host``; returns the verdict and a reason."""
    where = host_pattern(host, port)
    if pins:
        wanted = {p.strip() if p.startswith("SHA256:") else f"SHA256:{p.strip()}" for p in pins}
        if key.fingerprint.rstrip("=") in {w.rstrip("=") for w in wanted}:
            return HostKeyVerdict.TRUSTED, f"{where} matches a pinned fingerprint"
        return HostKeyVerdict.CHANGED, (
            f"host key for {where} is {key.keytype} {key.fingerprint}, which matches none of "
            f"the pinned fingerprints; someone may be in between: check with the host's operator"
        )
    recorded: list[str] = []
    for marker, patterns, keytype, blob in _entries(known_hosts):
        if not _host_matches(patterns, where):
            continue
        same = hmac.compare_digest(blob.encode(), key.base64.encode())
        if marker == "@revoked":
            if same:
                return (
                    HostKeyVerdict.REVOKED,
                    f"host key for {where} is marked @revoked in {known_hosts}",
                )
            continue
        if marker is not None:  # @cert-authority: certificates are not supported
            continue
        if same:
            return HostKeyVerdict.TRUSTED, f"{where} is recorded in {known_hosts}"
        recorded.append(keytype)
    if recorded:
        return HostKeyVerdict.CHANGED, (
            f"host key for {where} ({key.keytype} {key.fingerprint}) does not match the one "
            f"recorded in {known_hosts} ({', '.join(sorted(set(recorded)))}): it changed, or "
            "someone is in between. Verify the new key with the host's operator before "
            "replacing the entry"
        )
    exists = "no entry" if known_hosts.exists() else "the file does not exist"
    return HostKeyVerdict.UNKNOWN, (
        f"host key for {where} is unknown ({exists} in {known_hosts}); its key is "
        f"{key.keytype} {key.fingerprint}. After verifying that fingerprint, record it with: "
        f"git-reconcile known-hosts add ssh://{host}:{port or 22} --fingerprint {key.fingerprint}"
        f" --known-hosts {known_hosts}"
    )


def default_known_hosts() -> Path:
    """``~/.ssh/known_hosts`` of the user running the process."""
    return Path(os.path.expanduser("~")) / ".ssh" / "known_hosts"
