"""The write path's value objects: what to commit (``CommitRequest``), how
(``CommitPolicy``), what came of it (``CommitInfo``), and the two seams a caller may
plug in: a ``MessageGenerator`` that writes messages, and a ``CommitSigner``.

Nothing here touches git; the committing step (``_committing``) reads these.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from ._errors import InvalidSpecError
from ._identity import Identity

if TYPE_CHECKING:
    from ._commit_context import MessageContext

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_TEMPLATE",
    "PLACEHOLDERS",
    "CommitInfo",
    "CommitPolicy",
    "CommitRequest",
    "CommitSigner",
    "MessageGenerator",
    "MessageSkipped",
    "Trailer",
    "parse_trailer",
]

#: Files that usually hold secrets: never committed unless the policy says otherwise.
DEFAULT_EXCLUDE: Final = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "*.p12",
    "*.pfx",
)
DEFAULT_TEMPLATE: Final = "Update {num_files} file(s): {files}"
#: The placeholders a template may use, each replaced everywhere it appears.
PLACEHOLDERS: Final = (
    "date",
    "time",
    "hostname",
    "repo",
    "branch",
    "trigger",
    "num_files",
    "files",
)

Trailer = tuple[str, str]  # (key, value), as in "Key: value"
HookMode = Literal["run", "skip"]

_TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_trailer(key: str, value: str) -> Trailer:
    if not isinstance(key, str) or not _TRAILER_KEY.match(key):
        raise InvalidSpecError(
            f"trailer key {key!r}: use letters, digits and '-' (e.g. 'Reviewed-by')"
        )
    if not isinstance(value, str) or not value.strip() or "\n" in value or "\r" in value:
        raise InvalidSpecError(f"trailer {key}: give a non-blank value on one line")
    return key, value.strip()


def _trailer(item: Trailer | str) -> Trailer:
    return parse_trailer(item) if isinstance(item, str) else _check_trailer(*item)


def parse_trailer(text: str) -> Trailer:
    """``"Key: value"`` or ``"Key=value"`` (the two forms ``git interpret-trailers
    --trailer`` takes) as a ``(key, value)`` pair; raises ``InvalidSpecError``."""
    colon, equals = text.find(":"), text.find("=")
    cut = min(i for i in (colon, equals, len(text)) if i >= 0)
    if cut == len(text):
        raise InvalidSpecError(f"trailer {text!r}: give it as 'Key: value' or 'Key=value'")
    return _check_trailer(text[:cut].strip(), text[cut + 1 :])


def _clean_path(path: str) -> str:
    """A path relative to the repository's top, in git's form; raises for one that
    leaves the repository or names the git directory."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidSpecError(f"commit path {path!r}: give a path inside the repository")
    normal = posixpath.normpath(path.replace("\\", "/"))
    first = normal.split("/", 1)[0]
    if path.startswith("/") or first in ("..", ".git"):
        raise InvalidSpecError(
            f"commit path {path!r}: give a path relative to the repository's top, "
            "inside it and outside .git"
        )
    return "" if normal == "." else normal


def signature_kind(signer: CommitSigner | None) -> str | None:
    """What a commit signed by ``signer`` reports as its ``signature``."""
    if signer is None:
        return None
    kind = getattr(signer, "format", None)
    return kind if isinstance(kind, str) else "custom"


def _coauthor(item: Identity | str) -> Identity:
    return Identity.parse(item) if isinstance(item, str) else item


def _unique(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class CommitRequest:
    """A request to commit the working tree before reconciling.

    ``message`` None lets the policy's generator or template write it; ``paths``
    None commits every change (else only changes at or under these paths, relative
    to the repository's top); ``author`` None is the repository's configured user,
    else the spec's committer. ``co_authors`` become ``Co-authored-by`` trailers and
    ``trailers`` are ``(key, value)`` pairs, in order. ``trigger`` is what asked
    (``{trigger}`` in a template). Raises ``InvalidSpecError`` for a blank message,
    a path outside the repository or a malformed trailer.
    """

    message: str | None = None
    paths: tuple[str, ...] | None = None
    author: Identity | None = None
    co_authors: tuple[Identity, ...] = ()
    trailers: tuple[Trailer, ...] = ()
    trigger: str = "manual"

    def __post_init__(self) -> None:
        if self.message is not None and not self.message.strip():
            raise InvalidSpecError("commit message: give a non-blank message, or None")
        if self.paths is not None:
            object.__setattr__(self, "paths", _unique(_clean_path(p) for p in self.paths))
        object.__setattr__(self, "co_authors", tuple(self.co_authors))
        object.__setattr__(self, "trailers", tuple(_trailer(t) for t in self.trailers))

    def merged(self, later: CommitRequest) -> CommitRequest:
        """One request covering this one and a ``later`` one, losing neither's message
        nor attribution: the messages in order (a repeated one once), the paths
        together (None when either is the whole tree), this request's author (else
        the later's) with any other author as a co-author, co-authors and trailers
        in order without repeats."""
        messages = _unique(m for m in (self.message, later.message) if m is not None)
        author = self.author or later.author
        others = [a for a in (self.author, later.author) if a is not None and a != author]
        paths = None
        if self.paths is not None and later.paths is not None:
            paths = _unique((*self.paths, *later.paths))
        return CommitRequest(
            message="\n\n".join(messages) if messages else None,
            paths=paths,
            author=author,
            co_authors=_unique((*self.co_authors, *others, *later.co_authors)),
            trailers=_unique((*self.trailers, *later.trailers)),
            trigger=self.trigger,
        )


class MessageSkipped(Exception):
    """Raised by a ``MessageGenerator`` that writes no message this time: the template
    writes it, and the commit's ``message_skipped`` is this exception's text (why)."""


class MessageGenerator(Protocol):
    """Writes commit messages: ``generate`` returns the message, or None to leave it
    to the template. Its ``name`` is the ``message_source`` of what it wrote. An
    exception is logged and the template writes the message instead, so a
    generator that is down never stops a commit; ``MessageSkipped`` says why
    without a traceback."""

    @property
    def name(self) -> str: ...

    def generate(self, context: MessageContext) -> str | None: ...


class CommitSigner(Protocol):
    """Signs commits: ``sign`` gets the commit object's text and returns the armored
    signature (``gpg --detach-sign --armor``, or ``ssh-keygen -Y sign -n git``).
    A ``format`` attribute (``"ssh"``, ``"gpg"``), when it has one, is the commit's
    ``signature``."""

    def sign(self, payload: str) -> str: ...


@dataclass(frozen=True)
class CommitPolicy:
    """How a repository's commits are made and guarded; every default here.

    ``template`` writes a message when the request has none and no ``generator``
    wrote one (placeholders: ``{date}``, ``{time}``, ``{hostname}``, ``{repo}``,
    ``{branch}``, ``{trigger}``, ``{num_files}``, ``{files}``). Changes at paths
    matching ``exclude`` are left out and reported; files over ``max_file_size``
    bytes, paths with a ``filter=`` attribute not in ``bypass_filters``, and (with
    ``scan_secrets``) new lines holding a private key or a known token format end
    the run ``blocked``. ``hooks`` runs the repository's ``pre-commit`` and
    ``commit-msg`` hooks (``"skip"``: not), each bounded by ``hook_timeout``
    seconds. ``co_authors`` and ``trailers`` are added to every commit;
    ``max_message_length`` cuts the message before its trailers at a word.
    ``squash_unpushed`` squashes this tool's own unpushed commits before a push.
    Co-authors may be given as ``"Name <email>"`` and trailers as ``"Key: value"``.
    ``repo_name`` is ``{repo}`` (default: the repository folder's name).
    """

    template: str = DEFAULT_TEMPLATE
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    max_file_size: int = 50 * 1024 * 1024
    hooks: HookMode = "run"
    hook_timeout: float = 60.0
    squash_unpushed: bool = False
    co_authors: tuple[Identity, ...] = ()
    trailers: tuple[Trailer, ...] = ()
    max_message_length: int | None = None
    bypass_filters: tuple[str, ...] = ()
    scan_secrets: bool = True
    repo_name: str | None = None
    generator: MessageGenerator | None = field(default=None, compare=False)
    signer: CommitSigner | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(_PLACEHOLDER.findall(self.template)) - set(PLACEHOLDERS))
        if not self.template.strip() or unknown:
            raise InvalidSpecError(
                f"template {self.template!r}: "
                + (f"unknown placeholder(s) {', '.join(unknown)}; " if unknown else "is blank; ")
                + f"known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
        if any(not isinstance(p, str) or not p.strip() for p in self.exclude):
            raise InvalidSpecError("exclude: every pattern must be a non-blank string")
        if not (isinstance(self.max_file_size, int) and self.max_file_size >= 1):
            raise InvalidSpecError(
                f"max_file_size must be a positive number of bytes, not {self.max_file_size!r}"
            )
        if self.hooks not in ("run", "skip"):
            raise InvalidSpecError(f"hooks must be 'run' or 'skip', not {self.hooks!r}")
        if not 0 < self.hook_timeout <= 3600:
            raise InvalidSpecError(
                f"hook_timeout must be between 0 and 3600 seconds, not {self.hook_timeout!r}"
            )
        if self.max_message_length is not None and self.max_message_length < 20:
            raise InvalidSpecError(
                "max_message_length must be at least 20 characters, "
                f"not {self.max_message_length!r}"
            )
        object.__setattr__(self, "exclude", tuple(self.exclude))
        object.__setattr__(self, "bypass_filters", tuple(self.bypass_filters))
        object.__setattr__(self, "co_authors", tuple(map(_coauthor, self.co_authors)))
        object.__setattr__(self, "trailers", tuple(_trailer(t) for t in self.trailers))


@dataclass(frozen=True)
class CommitInfo:
    """The commit a run made: its id, the paths it changed, its message and where
    the message came from (``explicit``, ``template``, or a generator's name: the
    LLM generator's is ``llm:<model>``), its author and committer, whether it is
    signed and how (``signature``: ``ssh``, ``gpg``), and how many of this tool's
    earlier unpushed commits it absorbed (``squash_unpushed``). ``message_skipped``
    says why the generator wrote no message when the template did. ``sha`` is the
    commit on the branch after the run (a rebase gives it a new id)."""

    sha: str
    paths: tuple[str, ...]
    message: str
    message_source: str
    author: Identity
    committer: Identity
    signed: bool = False
    squashed: int = 0
    signature: str | None = None
    message_skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "paths": list(self.paths),
            "message": self.message,
            "message_source": self.message_source,
            "author": str(self.author),
            "committer": str(self.committer),
            "signed": self.signed,
            "signature": self.signature,
            "squashed": self.squashed,
            "message_skipped": self.message_skipped,
        }
