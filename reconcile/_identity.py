"""Identity: a name and an e-mail address, as git writes them in commits and trailers.

It lives on its own so that both the spec (``_spec``) and the commit value objects
(``_commit``) can use it without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import InvalidSpecError

__all__ = ["Identity"]

# git writes "Name <email>": neither part may hold the angle brackets or a line break.
_FORBIDDEN = re.compile(r"[<>\n\r\x00]")
_PARSE = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>]*)>\s*$")


@dataclass(frozen=True)
class Identity:
    """A name and e-mail address: the author or committer of a commit, a co-author.

    Raises ``InvalidSpecError`` for a blank name or e-mail address, or one holding
    ``<``, ``>`` or a line break (git could not write it).
    """

    name: str
    email: str

    def __post_init__(self) -> None:
        for part, value in (("name", self.name), ("email", self.email)):
            if not isinstance(value, str) or not value.strip() or _FORBIDDEN.search(value):
                raise InvalidSpecError(
                    f"identity {part} {value!r}: give a non-blank {part} without '<', '>' "
                    "or line breaks"
                )

    @classmethod
    def parse(cls, text: str) -> Identity:
        """``"Name <email>"``, as git writes it, as an Identity; raises
        ``InvalidSpecError`` when ``text`` is not of that form."""
        found = _PARSE.match(text)
        if found is None:
            raise InvalidSpecError(f"{text!r} is not of the form 'Name <email>'")
        return cls(found["name"], found["email"].strip())

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
