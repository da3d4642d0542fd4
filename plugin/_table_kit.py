"""What the configuration file's table models are made of: the markers a key carries
(``Sets``, ``Default``, ``Shown``, ``Names``), the checked value types (``Text``,
``EnvName``, ``FilePath``), the ``Table`` base, and the readers of a model's keys
(``children``, ``sets``, ``default_of``). The tables themselves are in ``_tables``
(and ``_commit_tables``)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

__all__ = [
    "Child",
    "Default",
    "EnvName",
    "FilePath",
    "Names",
    "Sets",
    "Shown",
    "Table",
    "Text",
    "children",
    "choices",
    "default_of",
    "error_text",
    "got",
    "key",
    "sets",
]


@dataclass(frozen=True)
class Sets:
    """The value-object parameter a key sets (and whose default is the key's)."""

    owner: type
    name: str


@dataclass(frozen=True)
class Default:
    """A default in words, for a key whose default no single parameter holds."""

    text: str


@dataclass(frozen=True)
class Shown:
    """How the reference names a key's type."""

    text: str


@dataclass(frozen=True)
class Names:
    """The names a table of tables (``[webhooks.<name>]``) may use."""

    what: str
    names: tuple[str, ...]


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _is_set(name: str, info: ValidationInfo) -> str:
    environ: Mapping[str, str] = (info.context or {}).get("environ", os.environ)
    if not environ.get(name):
        raise ValueError(f"environment variable {name} is not set")
    return name


def got(value: Any) -> str:
    """A TOML value as an error message shows it: short, and typed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    shown = repr(value) if isinstance(value, str) else str(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _path(value: Any, info: ValidationInfo) -> Path:
    """A path from the file: ``~`` expanded, relative to the file's folder."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string (a path), got {got(value)}")
    path = Path(_text(value)).expanduser()
    base: Path | None = (info.context or {}).get("base")
    return base / path if base is not None and not path.is_absolute() else path


Text = Annotated[str, AfterValidator(_text)]
EnvName = Annotated[
    str, Shown("environment variable name"), AfterValidator(_text), AfterValidator(_is_set)
]
FilePath = Annotated[Path, Shown("path"), BeforeValidator(_path)]


class Table(BaseModel):
    """A TOML table: exact types (no "30" for 30), no unknown keys, finite numbers."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


def key(description: str) -> Any:
    return Field(None, description=description)


def choices(values: tuple[str, ...]) -> str:
    return ", ".join(f'`"{v}"`' for v in values)


# --- reading the models -----------------------------------------------------------------


@dataclass(frozen=True)
class Child:
    """A key of a model that holds tables: one (``table``), an array (``array``, one
    table also accepted) or a table of named tables (``named``)."""

    shape: Literal["table", "array", "named"]
    model: type[Table]
    names: Names | None = None


def _meta(model: type[Table], key: str, kind: type[Any]) -> Any:
    return next((m for m in model.model_fields[key].metadata if isinstance(m, kind)), None)


def _unwrapped(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in get_args(annotation) else annotation


def children(model: type[Table]) -> dict[str, Child]:
    """The keys of ``model`` that hold tables, in their order."""
    found: dict[str, Child] = {}
    for key, info in model.model_fields.items():
        annotation = _unwrapped(info.annotation)
        args = get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, Table):
            found[key] = Child("table", annotation)
        elif args and isinstance(args[-1], type) and issubclass(args[-1], Table):
            shape: Literal["array", "named"] = "named" if len(args) == 2 else "array"
            found[key] = Child(shape, args[-1], _meta(model, key, Names))
    return found


def sets(model: type[Table], owner: type) -> dict[str, str]:
    """``{key: parameter}`` for the keys of ``model`` that set a parameter of ``owner``."""
    found = {}
    for key in model.model_fields:
        target = _meta(model, key, Sets)
        if target is not None and target.owner is owner:
            found[key] = target.name
    return found


def default_of(model: type[Table], key: str) -> Any:
    """The default of ``key``: a ``Default``, the value its parameter defaults to, or
    ``MISSING`` (a required key, or one with no default)."""
    words = _meta(model, key, Default)
    if words is not None or model.model_fields[key].is_required():
        return words if words is not None else MISSING
    target: Sets | None = _meta(model, key, Sets)
    if target is None:
        return MISSING
    if is_dataclass(target.owner):
        for f in fields(target.owner):
            if f.name == target.name:
                return f.default_factory() if f.default_factory is not MISSING else f.default
    parameter = inspect.signature(target.owner).parameters[target.name]
    return MISSING if parameter.default is inspect.Parameter.empty else parameter.default


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
}


def error_text(error: Mapping[str, Any], model: type[Table]) -> str:
    """A pydantic error in the file's terms (its path is added by the caller)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        known = sorted(model.model_fields)
        hint = ""
        if f"{key}_env" in known:
            hint = f"; secrets are never written here: name a variable ({key}_env) or a file"
        return f"unknown key (known: {', '.join(known)}){hint}"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {got(error['input'])}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got(error['input'])}"
    return str(error["msg"])
