"""The import directions of the design, checked on the source, and the absence of
import cycles."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
PACKAGES = ("reconcile", "plugin", "webhooks", "migrations")

# Third-party (and sibling) packages each package may import.
ALLOWED = {
    "reconcile": {
        "pygit2",
        "cffi",
        "transitions",
        "httpx",
        "tenacity",
        "detect_secrets",
        "jwt",
        "reconcile",
    },
    "webhooks": {"webhooks"},
    "migrations": {"alembic", "sqlalchemy", "sqlmodel", "migrations"},
    "plugin": {
        "reconcile",
        "webhooks",
        "plugin",
        "migrations",
        "starlette",
        "anyio",
        "sqlmodel",
        "sqlalchemy",
        "prometheus_client",
        "alembic",
        "uvicorn",
        "httpx",
        "tenacity",
        "rich",
        "pydantic",
        "psycopg",
        "watchfiles",
    },
}
FORBIDDEN_IN_RECONCILE = {"starlette", "anyio", "sqlmodel", "plugin", "webhooks", "fastapi"}


def _imports(path: Path) -> set[str]:
    """Top-level module names imported by a file (relative imports are its own package)."""
    return _imports_in(ast.parse(path.read_text(), filename=str(path)))


def _imports_in(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _files(package: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def _violations(root: Path, allowed: Mapping[str, set[str]]) -> list[str]:
    """Every import of a package under ``root`` that ``allowed`` does not allow it."""
    problems = []
    for package, may in allowed.items():
        for path in _files(package, root):
            for name in sorted(_imports(path) - STDLIB - may):
                problems.append(f"{path.relative_to(root).as_posix()} imports {name}")
    return problems


def test_every_package_is_checked() -> None:
    """Every top-level package of the project (a folder with an __init__.py) has its
    allowed imports here, so a new package cannot escape the checks."""
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert found == set(ALLOWED)
    assert all(_files(package) for package in ALLOWED)


def test_each_package_imports_only_what_it_may() -> None:
    """reconcile, webhooks, plugin and migrations import only the packages the design
    allows (migrations never imports plugin; plugin may import migrations)."""
    assert _violations(ROOT, ALLOWED) == []


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


def _loaded_imports(path: Path) -> set[str]:
    """Top-level module names a file imports when loaded: imports outside functions,
    those under ``if TYPE_CHECKING:`` left out (relative imports are its own package)."""
    names: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text(), filename=str(path))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= _imports_in(node)
        pending.extend(ast.iter_child_nodes(node))
    return names


def test_command_line_loads_only_the_standard_library() -> None:
    """Every module of plugin/cli/ imports only the standard library when loaded."""
    problems = []
    for path in _files("plugin/cli"):
        for name in _loaded_imports(path) - STDLIB:
            problems.append(f"{path.relative_to(ROOT)} imports {name} at module level")
    assert problems == []


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    """The check above reports a planted back-arrow (migrations importing plugin, in a
    function) and a web import in the core, and passes what is allowed."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text(
        "import sqlalchemy\nfrom . import models\n\ndef f():\n    from plugin import audit\n"
    )
    (tmp_path / "reconcile").mkdir()
    (tmp_path / "reconcile" / "_x.py").write_text("import starlette.routing\nimport pygit2\n")
    allowed = {"migrations": ALLOWED["migrations"], "reconcile": ALLOWED["reconcile"]}
    assert _violations(tmp_path, allowed) == [
        "migrations/env.py imports plugin",
        "reconcile/_x.py imports starlette",
    ]


# --- import cycles ----------------------------------------------------------------------

# Components in other areas, still in a cycle while their change is under way; the
# lead deletes each line when that change is merged. Never one of the plugin's HTTP
# layer, audit store or migrations.
KNOWN_CYCLES: set[frozenset[str]] = set()


def _modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """The dotted name of every module of ``packages`` under ``root``."""
    found = {}
    for package in packages:
        for path in _files(package, root):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _targets(module: str, path: Path) -> set[str]:
    """What ``module`` imports, as dotted names: every import statement counts, at
    module level, in functions and under TYPE_CHECKING alike."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def _import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the modules of the project it imports (a name is mapped to the longest
    module it names: ``from .audit import AuditStore`` is an edge to ``plugin.audit``)."""
    modules = _modules(root, packages)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for name in _targets(module, path):
            known = name
            while known and known not in modules:
                known = known.rpartition(".")[0]
            if known and known != module:
                edges.add(known)
        graph[module] = edges
    return graph


class _Components:
    """Tarjan's strongly connected components of a graph."""

    def __init__(self, graph: Mapping[str, set[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.found: list[set[str]] = []
        for node in sorted(graph):
            if node not in self.index:
                self.visit(node)

    def visit(self, node: str) -> None:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        for following in sorted(self.graph[node]):
            if following not in self.index:
                self.visit(following)
                self.low[node] = min(self.low[node], self.low[following])
            elif following in self.stack:
                self.low[node] = min(self.low[node], self.index[following])
        if self.low[node] == self.index[node]:
            component = {self.stack.pop()}
            while node not in component:
                component.add(self.stack.pop())
            self.found.append(component)


def _cycles(graph: Mapping[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module: the import cycles."""
    return {frozenset(c) for c in _Components(graph).found if len(c) > 1}


def test_no_import_cycles() -> None:
    """No two modules of the project import each other, directly or round a loop."""
    cycles = _cycles(_import_graph(ROOT, PACKAGES))
    assert sorted(sorted(c) for c in cycles - KNOWN_CYCLES) == []


def test_known_cycles_are_still_there() -> None:
    """A known exception that is gone must be deleted from KNOWN_CYCLES."""
    assert _cycles(_import_graph(ROOT, PACKAGES)) >= KNOWN_CYCLES


def test_cycle_checker_finds_a_planted_cycle(tmp_path: Path) -> None:
    """The checker finds a loop of three modules closed by an import inside a function
    and one under TYPE_CHECKING, and the module outside the loop is not in it."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import B\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import c\n"
    )
    (package / "sub" / "c.py").write_text("def f():\n    import pkg.a\n")
    (package / "d.py").write_text("from pkg import a\n")
    graph = _import_graph(tmp_path, ["pkg"])
    assert graph["pkg.b"] == {"pkg.sub", "pkg.sub.c"}
    assert _cycles(graph) == {frozenset({"pkg.a", "pkg.b", "pkg.sub.c"})}
    assert _cycles({"x": {"y"}, "y": set()}) == set()


def test_import_readers_see_what_they_should(tmp_path: Path) -> None:
    """The import reader finds absolute imports and ignores relative ones."""
    sample = tmp_path / "m.py"
    sample.write_text(
        "import starlette.routing\nfrom anyio import to_thread\nfrom . import x\n"
        "if TYPE_CHECKING:\n    import httpx\n"
        "def f() -> None:\n    import rich\n"
    )
    assert _imports(sample) == {"starlette", "anyio", "httpx", "rich"}
    assert _loaded_imports(sample) == {"starlette", "anyio"}


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


# --- sizes and the README's map ---------------------------------------------------------

MAX_MODULE_LINES = 500


def test_no_package_module_is_over_the_limit() -> None:
    """Every module of the four packages reads at one sitting: at most 500 lines."""
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in _files(package)
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def _layout_names(readme: str) -> set[str]:
    """The paths the README's layout block names, e.g. ``plugin/alerts/_sinks.py``."""
    block = readme.split("<!-- layout:begin -->", 1)[1].split("<!-- layout:end -->", 1)[0]
    names: set[str] = set()
    parents: list[str] = []
    for line in block.splitlines():
        if not line.strip() or line.startswith("```"):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        parents[depth:] = [name]
        names.add("".join(parents))
    return names


def test_readme_layout_names_every_module() -> None:
    """The README's "How the code is laid out" names each module and folder of the
    packages, and nothing that is not there (revisions are one folder)."""
    present = set()
    for package in PACKAGES:
        for path in _files(package):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("migrations/versions/"):
                rel = "migrations/versions/"
            present.add(rel)
            parts = rel.split("/")
            present.update("/".join(parts[:i]) + "/" for i in range(1, len(parts)))
    assert _layout_names((ROOT / "README.md").read_text()) == present


def test_layout_reader_sees_nesting() -> None:
    """The layout reader joins each line to the folders above it."""
    text = (
        "<!-- layout:begin -->\n```text\na/   x\n  b.py  y\n  c/  z\n    d.py  w\n```\n"
        "<!-- layout:end -->"
    )
    assert _layout_names(text) == {"a/", "a/b.py", "a/c/", "a/c/d.py"}
