"""The shape of the package, read from the code's own imports (every import, also those inside functions
and under ``TYPE_CHECKING``): no import cycles; the engine imports no concrete store and not the Pinecone
SDK; a command module of the CLI takes no private name from another."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "pinecone_migrator"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# What the engine may import of stores/: the protocol and abilities, and the registry once there is one.
ENGINE_MAY_IMPORT = {
    f"{PACKAGE}.stores.base",
    f"{PACKAGE}.stores.registry",
    f"{PACKAGE}.stores.fidelity",
}

# Known debts, each to be removed by the change that pays it; a listed debt that is paid fails the test, so
# the list cannot outlive it.
KNOWN_CYCLES: set[frozenset[str]] = set()
KNOWN_PRIVATE_CLI_IMPORTS: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Import:
    importer: str
    module: str  # absolute, the module itself when a name imported from a package is a submodule
    names: tuple[str, ...]  # the names taken (empty for ``import x``)
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every import statement of a module, wherever it stands, with relative imports made absolute."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names = tuple(alias.name for alias in node.names)
            submodules = [f"{source}.{n}" for n in names if f"{source}.{n}" in known]
            for submodule in submodules:
                yield Import(name, submodule, (), node.lineno)
            if len(submodules) < len(names):
                yield Import(name, source, names, node.lineno)


def all_imports(root: Path = ROOT) -> list[Import]:
    modules = package_modules(root)
    known = set(modules)
    return [found for name, path in modules.items() for found in imports_of(name, path, known)]


def _packages_of(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def cycles(found: list[Import]) -> list[frozenset[str]]:
    """Groups of the package's modules that import each other in a loop (Tarjan's strongly connected
    components), a module importing itself included.

    Importing ``a.b.c`` runs ``a/b/__init__.py`` first, so a loop can pass through a package's
    ``__init__``; the packages the importer itself sits in are already being imported and add no edge."""
    graph: dict[str, set[str]] = {}
    for each in found:
        if not (each.module.startswith(f"{PACKAGE}.") or each.module == PACKAGE):
            continue
        already = {each.importer, *_packages_of(each.importer)}
        targets = [p for p in _packages_of(each.module) if p not in already] + [each.module]
        graph.setdefault(each.importer, set()).update(t for t in targets if t != each.importer)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the package's ~100 modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in graph.get(node, ()):
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(frozenset(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def engine_breaches(found: list[Import]) -> list[str]:
    """Imports of a concrete store or of the Pinecone SDK by a module of engine/."""
    breaches = []
    for each in found:
        if not each.importer.startswith(f"{PACKAGE}.engine"):
            continue
        concrete_store = each.module.startswith(f"{PACKAGE}.stores") and each.module not in ENGINE_MAY_IMPORT
        sdk = each.module == "pinecone" or each.module.startswith("pinecone.")
        if concrete_store or sdk:
            breaches.append(f"{each.importer} (line {each.line}) imports {each.module}")
    return breaches


def private_cli_imports(found: list[Import]) -> set[tuple[str, str, str]]:
    """(importer, module, name) for each private name a CLI module takes from another CLI module."""
    cli = f"{PACKAGE}.cli"
    strip = len(PACKAGE) + 1
    return {
        (each.importer[strip:], each.module[strip:], name)
        for each in found
        if each.importer.startswith(f"{cli}.")
        and each.module.startswith(f"{cli}.")
        and each.module != each.importer
        for name in each.names
        if name.startswith("_")
    }


@pytest.fixture(scope="module")
def found() -> list[Import]:
    return all_imports()


def test_the_imports_are_read_from_every_module_including_those_inside_functions(found: list[Import]) -> None:
    importers = {each.importer for each in found}
    assert {f"{PACKAGE}.engine.verify.buckets", f"{PACKAGE}.cli.migrate_command"} <= importers
    inside = [each for each in found if each.importer == f"{PACKAGE}.cli.bulk_command"]
    assert any(each.module == f"{PACKAGE}.stores.files.validation" for each in inside)


def test_no_import_cycles(found: list[Import]) -> None:
    found_cycles = set(cycles(found))
    new = [sorted(group) for group in found_cycles - KNOWN_CYCLES]
    assert not new, f"modules that import each other: {new}"
    assert not KNOWN_CYCLES - found_cycles, "a known cycle is gone: take it off KNOWN_CYCLES"


def test_the_engine_imports_no_concrete_store_and_not_the_sdk(found: list[Import]) -> None:
    breaches = engine_breaches(found)
    assert not breaches, f"the engine reaches past the Store protocol: {breaches}"


def test_cli_modules_take_no_private_names_from_each_other(found: list[Import]) -> None:
    taken = private_cli_imports(found)
    new = sorted(taken - KNOWN_PRIVATE_CLI_IMPORTS)
    assert not new, f"private names taken across cli/ (make them public, or move them): {new}"
    assert not KNOWN_PRIVATE_CLI_IMPORTS - taken, "a known private import is gone: take it off the list"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / PACKAGE
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_each_rule_catches_its_breach(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "a.py": "from . import b\n",
            "b.py": "def f() -> None:\n    from .a import x\n",
            "engine/__init__.py": "",
            "engine/walk.py": "from ..stores.base import Store\nfrom ..stores import swept\n",
            "engine/copy.py": "def f() -> None:\n    from pinecone import Pinecone\n",
            "stores/__init__.py": "",
            "stores/base.py": "",
            "stores/swept.py": "",
            "cli/__init__.py": "",
            "cli/one.py": "def _helper() -> None: ...\n",
            "cli/two.py": "from .one import _helper\n",
            "top.py": "def f() -> None:\n    from .pkg.other import z\n",
            "pkg/__init__.py": "from .inner import x\n",
            "pkg/inner.py": "from ..top import y\nfrom .other import z\n",
            "pkg/other.py": "",
        },
    )
    found = all_imports(root)
    assert sorted(sorted(group) for group in cycles(found)) == [
        [f"{PACKAGE}.a", f"{PACKAGE}.b"],
        [f"{PACKAGE}.pkg", f"{PACKAGE}.pkg.inner", f"{PACKAGE}.top"],  # through pkg/__init__.py
    ]
    assert engine_breaches(found) == [
        f"{PACKAGE}.engine.copy (line 2) imports pinecone",
        f"{PACKAGE}.engine.walk (line 2) imports {PACKAGE}.stores.swept",
    ]
    assert private_cli_imports(found) == {("cli.two", "cli.one", "_helper")}
