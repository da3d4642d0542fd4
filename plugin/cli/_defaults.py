"""The command line's defaults, read from the value objects that declare them."""

from __future__ import annotations

from typing import Any

__all__ = ["default"]


def default(owner: type[Any], name: str) -> Any:
    """The default of the dataclass ``owner``'s field ``name``.

    The value objects (``RepoSpec``, ``Retry``, ``HTTPAuth``, ``RepoConfig``) write
    each default once; a flag that sets a field shows and uses that same value.
    """
    import dataclasses

    for item in dataclasses.fields(owner):
        if item.name != name:
            continue
        if item.default is not dataclasses.MISSING:
            return item.default
        if item.default_factory is not dataclasses.MISSING:
            return item.default_factory()
        break
    raise LookupError(f"{owner.__name__}.{name} has no default")
