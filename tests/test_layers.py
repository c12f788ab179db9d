"""The package's folders are its layers, and imports point down only.

From the bottom: ``base`` (errors, exit codes, paths, the version), ``core`` (pure), ``spec`` (what the user wrote),
``measure`` (with ``runners``), ``store``, ``search``, ``serving``, ``outputs``, and the shells on top
(api, gate, distill, cli, service, the package itself). Every import counts, function-level ones too: a
local import that dodges a cycle still points the wrong way. ``KNOWN`` lists the upward imports not cut
yet; an import not in it fails, and so does an entry that no longer happens (so the list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

ADVISOR = Path(__file__).resolve().parent.parent / "advisor"
LAYERS = ("base", "core", "spec", "measure", "store", "search", "serving", "outputs", "shell")
BASE = {"errors", "exits", "paths", "version"}

KNOWN = {
    # the library's convenience rec.export(dir): the results call the exporter in the shell (imported when called)
    ("advisor.core.results", "advisor.deploy.build"),
}
LONG: set[str] = set()
"""Modules past 400 lines not split yet (none now: keep it so)."""


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "shell"
    top = parts[1]
    if top in BASE:
        return "base"
    if top == "service":  # a shell over the library call, like the CLI
        return "shell"
    if top == "runners":
        return "measure"
    return top if top in LAYERS else "shell"


def _module(path: Path) -> str:
    rel = path.relative_to(ADVISOR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _target(name: str) -> str:
    """``name`` if it is a module of the package, else the module or package it is an attribute of."""
    parts = name.split(".")
    while parts:
        path = ADVISOR.parent.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return name


def imports() -> set[tuple[str, str]]:
    """Every (importer, imported module) pair inside the package."""
    edges = set()
    for path in ADVISOR.rglob("*.py"):
        me = _module(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "advisor":
                for alias in node.names:
                    edges.add((me, _target(f"{node.module}.{alias.name}")))
            elif isinstance(node, ast.Import):
                edges.update((me, _target(a.name)) for a in node.names if a.name.split(".")[0] == "advisor")
    return {(a, b) for a, b in edges if a != b}


def test_imports_point_down_the_layers():
    upward = {(a, b) for a, b in imports() if LAYERS.index(layer(b)) > LAYERS.index(layer(a))}
    new = sorted(upward - KNOWN)
    assert not new, "imports pointing up a layer (move the piece to the layer it belongs to): " + ", ".join(f"{a} -> {b}" for a, b in new)
    gone = sorted(KNOWN - upward)
    assert not gone, "cut, so remove from KNOWN: " + ", ".join(f"{a} -> {b}" for a, b in gone)


def test_no_module_imports_another_modules_private_names():
    private = []
    for path in ADVISOR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("advisor"):
                names = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
                private += [f"{_module(path)}: {node.module}.{name}" for name in names]
    assert not private, private


def test_no_module_is_past_400_lines():
    long = {_module(p): n for p in ADVISOR.rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert set(long) <= LONG, f"split these by concern: { {m: n for m, n in long.items() if m not in LONG} }"
    assert LONG <= set(long), f"now within 400 lines, so remove from LONG: {LONG - set(long)}"
