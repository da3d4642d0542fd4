"""The import directions of the design, checked on the source."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# Third-party (and sibling) packages each package may import.
ALLOWED = {
    "reconcile": {"pygit2", "cffi", "transitions", "httpx", "tenacity", "rich", "reconcile"},
    "webhooks": {"webhooks"},
    "migrations": {"alembic", "sqlalchemy", "sqlmodel", "plugin"},
    "plugin": {
        "reconcile",
        "webhooks",
        "plugin",
        "starlette",
        "anyio",
        "sqlmodel",
        "sqlalchemy",
        "prometheus_client",
        "alembic",
        "uvicorn",
        "httpx",
        "rich",
        "pydantic",
    },
}
FORBIDDEN_IN_RECONCILE = {"starlette", "anyio", "sqlmodel", "plugin", "webhooks", "fastapi"}


def _imports(path: Path) -> set[str]:
    """Top-level module names imported by a file (relative imports are its own package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_reconcile_package_exists() -> None:
    """The core package is where the layout says, so the checks below check something."""
    assert _files("reconcile")


def test_each_package_imports_only_what_it_may() -> None:
    """reconcile, webhooks and plugin import only the packages the design allows."""
    problems = []
    for package, allowed in ALLOWED.items():
        for path in _files(package):
            for name in _imports(path) - STDLIB - allowed:
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def test_reconcile_never_imports_the_web_or_database_layers() -> None:
    """The core library stays free of starlette, anyio, sqlmodel, plugin and webhooks."""
    for path in _files("reconcile"):
        assert not (_imports(path) & FORBIDDEN_IN_RECONCILE), path


def test_pygit2_only_in_the_git_layer() -> None:
    """pygit2 (and the cffi it is built on) is imported only inside reconcile/_git/."""
    users = {
        p.relative_to(ROOT).as_posix()
        for p in _files("reconcile")
        if {"pygit2", "cffi"} & _imports(p)
    }
    assert users
    assert all(u.startswith("reconcile/_git/") for u in users), users


def test_machine_module_holds_only_the_table() -> None:
    """The machine module defines the table and its factory, and no other behaviour."""
    tree = ast.parse((ROOT / "reconcile" / "_machine.py").read_text())
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert functions == ["build_machine"]
    assert _imports(ROOT / "reconcile" / "_machine.py") - STDLIB == {"transitions"}


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    """The import reader finds absolute imports and ignores relative ones."""
    sample = tmp_path / "m.py"
    sample.write_text("import starlette.routing\nfrom anyio import to_thread\nfrom . import x\n")
    assert _imports(sample) == {"starlette", "anyio"}


def test_pygit2_errors_are_caught_in_one_place() -> None:
    """Only the git layer's translator catches pygit2's exceptions."""
    catching = []
    for path in _files("reconcile"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ExceptHandler)
                and node.type is not None
                and "pygit2" in ast.unparse(node.type)
            ):
                catching.append(path.name)
    assert catching == ["_translate.py"]
