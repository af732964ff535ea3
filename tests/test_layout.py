"""The package's layout rules, checked: no import circle, layers that only look down, modules of a readable size,
no private name used outside its module."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "evidence"
# Alembic's env.py runs a migration when imported: it is loaded by Alembic only, never imported.
NOT_IMPORTABLE = {"evidence.data.migrations.env"}
# Feature packages and services sit below the boundaries (web, cli, the app-bound context) and never reach up.
BELOW_THE_BOUNDARIES = ("services", "catalogue", "importer", "dossier", "exports", "ops", "collectors", "oscal")
BOUNDARIES = ("evidence.web", "evidence.cli", "evidence.api", "evidence.context")
FLASK_REQUEST_STATE = {"request", "g", "current_app", "session"}
MAX_LINES = 500
LONG_BY_NATURE = ("evidence/data/models.py", "evidence/data/migrations/")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for every import statement of the file, at top level or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_time_edges(path: Path) -> set[str]:
    """The package's modules that importing this file loads at once: its top-level imports (also under `if`/`try`,
    not inside functions), each with the packages above it, whose __init__ runs first — but for this module's own
    packages, which are already loading when it runs (a package importing its own modules is no circle)."""
    own = module_name(path).split(".")
    ancestors = {".".join(own[:i]) for i in range(1, len(own))}
    edges = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.If, ast.Try)):
            pending += [*node.body, *node.orelse, *getattr(node, "finalbody", []),
                        *[n for handler in getattr(node, "handlers", []) for n in handler.body]]
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names if is_module(f"{node.module}.{a.name}")]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            if parts[0] == "evidence":
                edges.add(target)
                edges.update(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) not in ancestors)
    return {edge for edge in edges if is_module(edge)}


def test_no_import_circle():
    """No module of the package reaches itself through the imports that run when it is loaded: whichever module of
    a circle is imported first would find the other half-initialised."""
    graph = {module_name(p): import_time_edges(p) - {module_name(p)} for p in source_files()}
    circles, state = [], {}

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_entry_points_import_first_in_a_fresh_interpreter():
    """The static check above, confirmed where it matters: each entry point imported first, on its own."""
    for module in ("evidence", "evidence.cli", "evidence.jobs", "evidence.web", "evidence.ops.restore",
                   "evidence.importer", "evidence.dossier.generate"):
        result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
        assert result.returncode == 0, f"{module}: {result.stderr[-1000:]}"


def test_core_imports_neither_flask_nor_sql():
    """core/ is pure rules: no Flask, no SQLAlchemy or SQLModel, and nothing of the package outside core/."""
    problems = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for line, module, _names in imported_modules(path):
            top = module.split(".")[0]
            if top in ("flask", "flask_babel", "flask_login", "flask_wtf", "sqlalchemy", "sqlmodel", "alembic", "werkzeug") \
                    or (top == "evidence" and not module.startswith("evidence.core")):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert problems == []


@pytest.mark.parametrize("package", BELOW_THE_BOUNDARIES)
def test_features_and_services_do_not_reach_the_boundaries(package):
    """Nothing below web/cli imports them, nor the app-bound context, nor Flask's request state."""
    problems = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        where = path.relative_to(ROOT)
        for line, module, names in imported_modules(path):
            wanted = [module] + [f"{module}.{name}" for name in names]
            if any(name == b or name.startswith(b + ".") for name in wanted for b in BOUNDARIES):
                problems.append(f"{where}:{line} imports {module} {names or ''}".rstrip())
            if module == "flask" and FLASK_REQUEST_STATE & set(names):
                problems.append(f"{where}:{line} imports {sorted(FLASK_REQUEST_STATE & set(names))} from flask")
    assert problems == []


def test_no_private_name_crosses_a_module():
    """`from evidence.x import _y` and `x._y` on an imported module of the package are both refused."""
    problems = []
    for path in source_files():
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        modules = set()  # local names bound to a module of the package
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("evidence"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        problems.append(f"{where}:{node.lineno} imports {alias.name} from {node.module}")
                    if is_module(f"{node.module}.{alias.name}"):
                        modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("evidence.") and alias.asname:
                        modules.add(alias.asname)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                problems.append(f"{where}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert problems == []


def test_modules_stay_readable():
    """No module over ~500 lines: the models and the migrations excepted (long by nature)."""
    long = []
    for path in source_files():
        where = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and not where.startswith(LONG_BY_NATURE):
            long.append(f"{where}: {lines} lines")
    assert long == []
