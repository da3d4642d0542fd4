"""The package's shape: standard library only, its public names, its error hierarchy."""

from __future__ import annotations

import ast
import doctest
import importlib
import sys
from pathlib import Path

import pytest

import webhooks
from webhooks import (
    AuthenticationFailed,
    MalformedPayload,
    NotConfigured,
    PayloadTooLarge,
    SignatureMismatch,
    SignatureMissing,
    StaleTimestamp,
    UnknownProvider,
    WebhookError,
)

PACKAGE = Path(webhooks.__file__).resolve().parent
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

PUBLIC = {
    "MAX_BODY",
    "ZERO_SHA",
    "AuthenticationFailed",
    "Delivery",
    "DeliveryCache",
    "Kind",
    "MalformedPayload",
    "NotConfigured",
    "PayloadTooLarge",
    "Provider",
    "RefChange",
    "Secrets",
    "SignatureMismatch",
    "SignatureMissing",
    "StaleTimestamp",
    "UnknownProvider",
    "WebhookError",
    "is_deleted",
    "normalise_repo_url",
    "sign_sha256",
    "sign_standard_webhook",
    "verify_and_parse",
}


def _imported(path: Path) -> set[str]:
    """Top-level names of the absolute imports in ``path``; relative ones are the package's."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_package_imports_only_the_standard_library() -> None:
    """Every module of webhooks imports only the standard library and webhooks itself."""
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 5
    foreign = {
        f"{path.name} imports {name}"
        for path in modules
        for name in _imported(path) - STDLIB - {"webhooks"}
    }
    assert set() == foreign


def test_import_reader_sees_third_party_imports(tmp_path: Path) -> None:
    """The reader above does report a third-party import, so its silence means something."""
    sample = tmp_path / "sample.py"
    sample.write_text("import starlette.requests\nfrom anyio import sleep\nfrom . import x\n")
    assert {"starlette", "anyio"} == _imported(sample) - STDLIB


def test_public_names() -> None:
    """__all__ is exactly the documented public surface, and every name exists."""
    assert set(webhooks.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(webhooks, name), name


def test_modules_are_private() -> None:
    """Implementation modules are private (``_name.py``); the package re-exports them."""
    public_modules = [p.name for p in PACKAGE.glob("*.py") if not p.name.startswith("_")]
    assert public_modules == []


@pytest.mark.parametrize(
    ("error", "status", "parent"),
    [
        (UnknownProvider, 404, WebhookError),
        (PayloadTooLarge, 413, WebhookError),
        (NotConfigured, 401, AuthenticationFailed),
        (SignatureMissing, 401, AuthenticationFailed),
        (SignatureMismatch, 401, AuthenticationFailed),
        (StaleTimestamp, 401, AuthenticationFailed),
        (MalformedPayload, 400, WebhookError),
    ],
)
def test_error_hierarchy_and_statuses(
    error: type[WebhookError], status: int, parent: type[WebhookError]
) -> None:
    """Each error has its HTTP status and sits where the errors module's diagram draws it."""
    assert status == error.http_status
    assert issubclass(error, parent)
    assert error.__name__ in (PACKAGE / "_errors.py").read_text().split("::")[1]


def test_only_malformed_payload_is_authenticated() -> None:
    """Only MalformedPayload is raised after the sender proved it holds the secret."""
    authenticated = {cls for cls in _subclasses(WebhookError) if cls.authenticated}
    assert {MalformedPayload} == authenticated


def _subclasses(cls: type[WebhookError]) -> set[type[WebhookError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_docstring_examples_run() -> None:
    """The examples in the package's docstrings give what they show."""

    for name in ("webhooks", "webhooks._signing"):
        module = importlib.import_module(name)
        failed, attempted = doctest.testmod(module)
        assert (failed, attempted > 0) == (0, True), name
