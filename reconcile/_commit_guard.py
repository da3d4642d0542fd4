"""The commit's guards on content: paths the exclude globs leave out, and new lines
scanned for private keys and well-known token formats.

The scanner is detect-secrets' own detectors, called line by line in memory (its
``scan_line`` and file scans go through process-wide settings and may verify a
found token over the network; the detectors alone do neither, so scans in several
threads at once are safe). Only detectors that match a definite format run: the
high-entropy and keyword detectors flag hashes, UUIDs, base64 data and
``password:`` fields in ordinary data files, the public-IP one flags addresses
that data records hold, and the Twilio one matches account ids, which are not
secrets.

Only lines the commit adds are scanned: a line already in the file at HEAD is in
the history already, and blocking on it would block every later commit of that
file. Binary files (a NUL byte in the first 8,000 bytes, git's rule) are not
scanned. A hit names the path, the line and the kind of secret, never the secret.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["SecretHit", "excluded", "find_secret", "is_binary", "secret_in_line"]

_BINARY_PROBE = 8000  # bytes git looks at to call a file binary
_SHORTEST = 8  # no detected format fits in a shorter line


def excluded(path: str, patterns: Iterable[str]) -> bool:
    """Whether ``path`` matches one of the exclude ``patterns``: a pattern without a
    ``/`` matches any part of the path (``.env``, ``*.pem``); one with a ``/``
    matches the whole path from the top (``*`` crosses folders there), and one
    ending in ``/`` everything under that folder."""
    parts = path.split("/")
    for pattern in patterns:
        body = pattern.strip().lstrip("/")
        if "/" not in pattern.strip():
            if any(fnmatch.fnmatchcase(part, body) for part in parts):
                return True
        elif body.endswith("/"):
            if fnmatch.fnmatchcase(path, body + "*"):
                return True
        elif fnmatch.fnmatchcase(path, body):
            return True
    return False


@dataclass(frozen=True)
class SecretHit:
    """A secret found: where, and what kind (the detector's name for it)."""

    path: str
    line: int
    kind: str

    def describe(self) -> str:
        article = "an" if self.kind[:1].upper() in "AEIOU" else "a"  # an AWS Access Key
        return f"{self.path} line {self.line} holds what looks like {article} {self.kind}"


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:_BINARY_PROBE]


@functools.cache
def _detectors() -> tuple[Any, ...]:
    """The detectors, loaded on the first scan (detect-secrets imports requests)."""
    from detect_secrets.plugins.artifactory import ArtifactoryDetector  # noqa: PLC0415
    from detect_secrets.plugins.aws import AWSKeyDetector  # noqa: PLC0415
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector  # noqa: PLC0415
    from detect_secrets.plugins.basic_auth import BasicAuthDetector  # noqa: PLC0415
    from detect_secrets.plugins.cloudant import CloudantDetector  # noqa: PLC0415
    from detect_secrets.plugins.discord import DiscordBotTokenDetector  # noqa: PLC0415
    from detect_secrets.plugins.github_token import GitHubTokenDetector  # noqa: PLC0415
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector  # noqa: PLC0415
    from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector  # noqa: PLC0415
    from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector  # noqa: PLC0415
    from detect_secrets.plugins.jwt import JwtTokenDetector  # noqa: PLC0415
    from detect_secrets.plugins.mailchimp import MailchimpDetector  # noqa: PLC0415
    from detect_secrets.plugins.npm import NpmDetector  # noqa: PLC0415
    from detect_secrets.plugins.openai import OpenAIDetector  # noqa: PLC0415
    from detect_secrets.plugins.private_key import PrivateKeyDetector  # noqa: PLC0415
    from detect_secrets.plugins.pypi_token import PypiTokenDetector  # noqa: PLC0415
    from detect_secrets.plugins.sendgrid import SendGridDetector  # noqa: PLC0415
    from detect_secrets.plugins.slack import SlackDetector  # noqa: PLC0415
    from detect_secrets.plugins.softlayer import SoftlayerDetector  # noqa: PLC0415
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector  # noqa: PLC0415
    from detect_secrets.plugins.stripe import StripeDetector  # noqa: PLC0415
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector  # noqa: PLC0415

    classes = (
        PrivateKeyDetector,
        AWSKeyDetector,
        GitHubTokenDetector,
        GitLabTokenDetector,
        SlackDetector,
        StripeDetector,
        OpenAIDetector,
        PypiTokenDetector,
        NpmDetector,
        SendGridDetector,
        JwtTokenDetector,
        BasicAuthDetector,
        AzureStorageKeyDetector,
        ArtifactoryDetector,
        CloudantDetector,
        DiscordBotTokenDetector,
        IbmCloudIamDetector,
        IbmCosHmacDetector,
        MailchimpDetector,
        SoftlayerDetector,
        SquareOAuthDetector,
        TelegramBotTokenDetector,
    )
    return tuple(cls() for cls in classes)


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines()


def find_secret(path: str, new: bytes, old: bytes | None) -> SecretHit | None:
    """The first secret in the lines of ``new`` that ``old`` (the file at HEAD, or
    None) does not have; None when there is none, or the file is binary."""
    if is_binary(new):
        return None
    known = set(_lines(old)) if old is not None and not is_binary(old) else set()
    for number, line in enumerate(_lines(new), 1):
        if line in known:
            continue
        kind = secret_in_line(line)
        if kind is not None:
            return SecretHit(path, number, kind)
    return None


def secret_in_line(line: str) -> str | None:
    """The kind of secret ``line`` holds (a detector's name for it), or None."""
    if len(line) < _SHORTEST:
        return None
    for detector in _detectors():
        if next(iter(detector.analyze_string(line)), None) is not None:
            return str(detector.secret_type)
    return None
