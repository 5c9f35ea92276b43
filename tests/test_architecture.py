"""Structure checks anyone can run: ``python -m pytest tests/test_architecture.py``.

Imports flow one way — ``irlens.cli`` → stage packages → shared modules → ``irlens.io``/``irlens.errors``:

- no import cycle between irlens modules (function-level imports count: they run too);
- no stage or shared module imports ``irlens.cli`` (only the CLI and tests do);
- shared modules (``attribution``, ``models``, ``config``, ``io``, ``errors``, ``runtime``, ``resume``)
  import no stage package;
- no ``_private`` name is imported from another module, in the package, the tests or the benches;
- the package never imports snakemake;
- every public function and class of the package has a docstring.

The checks read the source with :mod:`ast` (nothing is imported), so they also run on a copy with a
planted defect — the ``*_catches_*`` tests do exactly that, so each check is shown to be able to fail.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from conftest import REPO

STAGES = ("data", "retrieval", "cross_encoder", "gpl", "ig", "nig", "ablation", "sae", "report")
SHARED = ("attribution", "models", "config", "io", "errors", "runtime", "resume")


def module_name(root: Path, path: Path) -> str:
    """``irlens.ig.views`` for ``<root>/irlens/ig/views.py`` (``irlens.ig`` for its ``__init__.py``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_modules(src: Path) -> dict[str, Path]:
    """Every module of the irlens package under ``src`` (``src/irlens/**.py``)."""
    return {module_name(src, p): p for p in sorted((src / "irlens").rglob("*.py"))}


def imports_of(path: Path, known: set[str], name: str | None = None) -> list[tuple[str, str | None, int]]:
    """``(module, imported name or None, line)`` for every import in ``path``; ``from pkg import sub``
    of a known submodule counts as an import of ``pkg.sub``. Relative imports are resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level and name:
                base = name.split(".")
                if not path.name == "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([mod] if mod else []))
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((sub, None, node.lineno) if sub in known else (mod, a.name, node.lineno))
    return out


def graph(src: Path) -> dict[str, set[str]]:
    """Import graph between irlens modules."""
    mods = package_modules(src)
    known = set(mods)
    return {m: {t for t, _, _ in imports_of(p, known, m) if t in known and t != m} for m, p in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def layer_violations(g: dict[str, set[str]]) -> list[str]:
    """Imports against the one-way flow cli → stages → shared."""

    def top(m: str) -> str:
        return m.split(".")[1] if m.count(".") else ""

    bad = []
    for m, targets in g.items():
        t = top(m)
        for d in targets:
            if t != "cli" and top(d) == "cli" and m != "irlens.__main__":
                bad.append(f"{m} imports the CLI module {d}")
            if t in SHARED and top(d) in STAGES:
                bad.append(f"shared module {m} imports the stage module {d}")
    return bad


def private_imports(files: list[Path], src: Path) -> list[str]:
    """``from M import _x`` (and ``M._x`` on an imported module ``M``) across modules."""
    known = set(package_modules(src))
    bad = []
    for path in files:
        name = module_name(src, path) if path.is_relative_to(src) else None
        for mod, attr, line in imports_of(path, known, name):
            if attr and attr.startswith("_") and not attr.startswith("__") and mod != name:
                bad.append(f"{path}:{line}: imports private {mod}.{attr}")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("irlens"):
                        aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("irlens"):
                for a in node.names:
                    if f"{node.module}.{a.name}" in known:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = ast.unparse(node.value)
                if base in aliases and aliases[base] != name:
                    bad.append(f"{path}:{node.lineno}: uses private {aliases[base]}.{node.attr}")
    return bad


def missing_docstrings(src: Path) -> list[str]:
    """Public module-level functions and classes (and public methods of public classes) without a docstring."""
    bad = []
    for m, path in package_modules(src).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith(
                "_"
            ):
                if not ast.get_docstring(node):
                    bad.append(f"{m}.{node.name}")
                if isinstance(node, ast.ClassDef):
                    for f in node.body:
                        if isinstance(f, ast.FunctionDef) and not f.name.startswith("_") and not ast.get_docstring(f):
                            decorators = {ast.unparse(d) for d in f.decorator_list}
                            if not decorators & {"property", "staticmethod"} or len(f.body) > 1:
                                bad.append(f"{m}.{node.name}.{f.name}")
    return bad


def python_files() -> list[Path]:
    """The package, the tests and the benches."""
    return (
        sorted((REPO / "src").rglob("*.py"))
        + sorted((REPO / "tests").rglob("*.py"))
        + sorted((REPO / "bench").rglob("*.py"))
    )


# ------------------------------------------------------------------------------------------ the checks
def test_no_import_cycles():
    assert cycles(graph(REPO / "src")) == []


def test_imports_flow_one_way():
    assert layer_violations(graph(REPO / "src")) == []


def test_no_private_names_imported_across_modules():
    assert private_imports(python_files(), REPO / "src") == []


def test_package_never_imports_snakemake():
    known = set(package_modules(REPO / "src"))
    hits = [
        f"{p}:{line}"
        for p in (REPO / "src").rglob("*.py")
        for mod, _, line in imports_of(p, known)
        if mod.split(".")[0] == "snakemake"
    ]
    assert hits == []


def test_public_functions_have_docstrings():
    assert missing_docstrings(REPO / "src") == []


def test_every_stage_has_one_name_everywhere():
    """rule file, CLI module, package, test folder and doc page share the stage's name."""
    for stage in STAGES:
        for path in (
            f"workflow/rules/{stage}.smk",
            f"src/irlens/cli/{stage}.py",
            f"src/irlens/{stage}/__init__.py",
            f"tests/{stage}",
            f"docs/stages/{stage}.md",
        ):
            assert (REPO / path).exists(), path


# ------------------------------------------------------------------------- the checks can fail
@pytest.fixture
def src_copy(tmp_path) -> Path:
    shutil.copytree(REPO / "src" / "irlens", tmp_path / "irlens", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_cycle_check_catches_a_planted_cycle(src_copy):
    f = src_copy / "irlens" / "errors.py"
    f.write_text(f.read_text() + "\n\ndef _late():\n    from irlens.io import atomic_path\n")  # io imports errors
    found = cycles(graph(src_copy))
    assert ["irlens.errors", "irlens.io"] in found, found


def test_layer_check_catches_a_stage_importing_the_cli(src_copy):
    f = src_copy / "irlens" / "ig" / "views.py"
    f.write_text(f.read_text() + "\n\ndef _late():\n    from irlens.cli.common import add_cross_encoder_args\n")
    assert any("irlens.ig.views imports the CLI module" in b for b in layer_violations(graph(src_copy)))


def test_private_check_catches_a_private_import(src_copy, tmp_path):
    t = tmp_path / "test_x.py"
    t.write_text("from irlens.io import _private_helper\nimport irlens.runtime as rt\nrt._mallopt()\n")
    found = private_imports([t], src_copy)
    assert len(found) == 2 and "irlens.io._private_helper" in found[0] and "irlens.runtime._mallopt" in found[1], found
