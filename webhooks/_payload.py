"""Total readers over untrusted JSON: they return a value of the asked type or fail
with ``MalformedPayload``, never with ``KeyError``, ``TypeError`` or ``RecursionError``."""

from __future__ import annotations

import json
import re

from ._errors import MalformedPayload

__all__ = [
    "delivery_id",
    "get",
    "load_object",
    "optional_sha",
    "optional_str",
    "required_ref",
    "required_sha",
    "url_list",
]

Object = dict[str, object]

_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
# What git's check-ref-format refuses, in one pattern: control characters, space,
# ~ ^ : ? * [ \, "..", "@{", "//", a component starting with "." or ending ".lock",
# a trailing "/" or ".".
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)|[/.]$")
_MAX_REF = 1024
_MAX_ID = 256
_MAX_URL = 2048


def load_object(body: bytes) -> Object:
    """The body as a JSON object; ``MalformedPayload`` for anything else."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        # ValueError covers invalid UTF-8, invalid JSON and integers too long to
        # convert; RecursionError covers nesting deeper than the interpreter allows.
        raise MalformedPayload(f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise MalformedPayload("the body is not a JSON object")
    return value


def get(value: object, *path: str) -> object:
    """The value at ``path`` inside nested objects, or ``None`` when any step is missing."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def optional_str(value: object, *path: str) -> str | None:
    """The non-empty string at ``path``, or ``None``."""
    found = get(value, *path)
    return found if isinstance(found, str) and found else None


def required_ref(ref: object, field: str) -> str:
    """``ref`` when it is a plausible full git ref name (``refs/...``)."""
    if not isinstance(ref, str) or not ref.startswith("refs/"):
        raise MalformedPayload(f"{field} is not a full ref name (refs/...)")
    if len(ref) > _MAX_REF or _BAD_REF.search(ref):
        raise MalformedPayload(f"{field} is not a valid ref name")
    return ref


def required_sha(value: object, field: str) -> str | None:
    """A hex object id, lower-cased; ``None`` for the all-zero id of a deleted ref."""
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise MalformedPayload(f"{field} is not a commit id")
    return None if value.strip("0") == "" else value.lower()


def optional_sha(value: object, field: str) -> str | None:
    """As ``required_sha``, with ``None``, a missing or an empty value read as ``None``."""
    if value is None or value == "":
        return None
    return required_sha(value, field)


def url_list(*values: object) -> tuple[str, ...]:
    """The strings among ``values`` that can be URLs, in order, without repeats."""
    urls: list[str] = []
    for value in values:
        if isinstance(value, str) and value and len(value) <= _MAX_URL and value not in urls:
            urls.append(value)
    return tuple(urls)


def delivery_id(*values: object) -> str | None:
    """The first non-empty string among ``values``, stripped; over-long ids are refused."""
    for value in values:
        if isinstance(value, str) and (text := value.strip()):
            if len(text) > _MAX_ID:
                raise MalformedPayload("the delivery id is too long")
            return text
    return None
