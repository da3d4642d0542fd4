"""Signing commits as git does: SSH signatures (``ssh-keygen -Y sign -n git``, what
``git commit -S`` writes with ``gpg.format=ssh``) and GPG detached armoured ones
(``gpg --detach-sign --armor``). Each signer gets the commit object's text and
returns the signature that goes into its ``gpgsig`` header (``_commit``).

The tools run without a shell, with a timeout, in a session of their own (no
controlling terminal, so a key that needs a passphrase fails at once instead of
asking for it), and with their input on stdin. What a failure says is the tool's
last line of complaint, cut short: never the key, nor anything of the environment.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from .._errors import InvalidSpecError
from .._redact import redact_text

__all__ = ["SIGNATURE_KINDS", "GPGSigner", "SSHSigner", "SigningError", "make_signer"]

SignatureKind = Literal["ssh", "gpg"]
SIGNATURE_KINDS: Final = ("ssh", "gpg")
SIGN_TIMEOUT: Final = 30.0  # seconds one signature may take
_SAID = 200  # characters of a tool's complaint kept in an error


class SigningError(Exception):
    """A signature could not be made (the tool is missing, failed or timed out)."""


def _complaint(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    return redact_text(last[:_SAID]) if last else "no message"


def _run(argv: list[str], payload: str, timeout: float, tool: str) -> str:
    if shutil.which(argv[0]) is None:
        raise SigningError(f"{tool} is not installed (needed to sign commits)")
    try:
        done = subprocess.run(
            argv,
            input=payload.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        raise SigningError(f"{tool} took more than {timeout:g} s to sign") from None
    except OSError as exc:
        raise SigningError(f"{tool} could not be started: {exc.strerror}") from None
    signature = done.stdout.decode("ascii", "replace")
    if done.returncode != 0 or "-----BEGIN" not in signature:
        raise SigningError(f"{tool} failed (exit {done.returncode}): {_complaint(done.stderr)}")
    return signature


@dataclass(frozen=True)
class SSHSigner:
    """Signs with an SSH private key file, as ``git commit -S`` with
    ``gpg.format=ssh`` (namespace ``git``). The key must not need a passphrase."""

    key: Path
    timeout: float = SIGN_TIMEOUT
    format: SignatureKind = "ssh"

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", Path(self.key).expanduser())
        if not self.key.is_file():
            raise InvalidSpecError(f"signing_key {self.key}: no such file (an SSH private key)")
        _check_timeout(self.timeout)

    def sign(self, payload: str) -> str:
        argv = ["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", str(self.key)]
        return _run(argv, payload, self.timeout, "ssh-keygen")


@dataclass(frozen=True)
class GPGSigner:
    """Signs with a GPG key (an id, fingerprint or e-mail address) from the keyring of
    ``gpg_home`` (None: gpg's default), as ``git commit -S`` does. The key must not
    need a passphrase, or its agent must have it already."""

    key_id: str
    gpg_home: Path | None = None
    timeout: float = SIGN_TIMEOUT
    format: SignatureKind = "gpg"

    def __post_init__(self) -> None:
        key = self.key_id
        if not isinstance(key, str) or not key.strip() or key.startswith("-") or "\n" in key:
            raise InvalidSpecError(f"signing_key {key!r}: give a GPG key id or fingerprint")
        if self.gpg_home is not None:
            home = Path(self.gpg_home).expanduser()
            if not home.is_dir():
                raise InvalidSpecError(f"gpg_home {home}: no such directory")
            object.__setattr__(self, "gpg_home", home)
        _check_timeout(self.timeout)

    def sign(self, payload: str) -> str:
        argv = ["gpg", "--batch", "--no-tty"]
        if self.gpg_home is not None:
            argv.append(f"--homedir={self.gpg_home}")
        argv += ["--detach-sign", "--armor", f"--local-user={self.key_id.strip()}"]
        return _run(argv, payload, self.timeout, "gpg")


def _check_timeout(timeout: float) -> None:
    if not 0 < timeout <= 600:
        raise InvalidSpecError(f"timeout must be between 0 and 600 seconds, not {timeout!r}")


def make_signer(
    kind: str, key: str | Path, gpg_home: str | Path | None = None
) -> SSHSigner | GPGSigner:
    """The signer ``[commit] sign``/``signing_key``/``gpg_home`` (or ``--sign``,
    ``--signing-key``, ``--gpg-home``) name; raises ``InvalidSpecError``."""
    if kind == "ssh":
        if gpg_home is not None:
            raise InvalidSpecError('gpg_home is only for sign = "gpg"')
        return SSHSigner(Path(key))
    if kind == "gpg":
        return GPGSigner(str(key), None if gpg_home is None else Path(gpg_home))
    raise InvalidSpecError(f'sign must be "ssh" or "gpg", not {kind!r}')
