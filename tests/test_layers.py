"""The package's layers (docs/ARCHITECTURE.md): every import of keras_irdi points down or stays inside its own
subpackage, so there are no cycles; the ground floor and reporting import no TensorFlow or Keras; no module
is over 400 lines. Read from the source (every import statement, also the deferred ones inside functions)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "keras_irdi"
GROUND = ("errors", "datasets", "degradations", "json_files", "metrics", "network_ids", "preset_sections", "presets",
          "stage_registry", "tfenv")
# Higher layers may import lower ones; one layer's subpackages do not import each other.
LAYERS = {"ground": 0, "data": 1, "reporting": 1, "models": 2, "runs": 3, "training": 4, "evaluation": 4,
          "serving": 4, "commands": 5}
# tfenv is the one gate to TensorFlow (load_tensorflow imports it, when a command asks).
NO_TENSORFLOW = tuple(f"{m}.py" for m in GROUND if m != "tfenv") + ("__init__.py", "reporting")


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """keras_irdi.reporting.tables -> reporting; keras_irdi.errors and keras_irdi itself -> ground."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in GROUND:
        return "ground"
    return parts[1]


def _imports(path: Path):
    """(line, module) of every import in the file, the deferred ones too; ``from x import y`` gives x.y when
    y is a module (a subpackage's module), else x."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                submodule = REPO.joinpath(*full.split("."))
                yield node.lineno, full if submodule.with_suffix(".py").is_file() or submodule.is_dir() else node.module


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_subpackage_has_a_layer():
    parts = {_part(_module(p)) for p in SOURCES}
    assert parts == set(LAYERS), parts ^ set(LAYERS)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    own = _part(_module(path))
    for line, target in _imports(path):
        if target.split(".")[0] != "keras_irdi":
            continue
        other = _part(target)
        assert other == own or LAYERS[other] < LAYERS[own], \
            f"{path.relative_to(REPO)}:{line} ({own}, layer {LAYERS[own]}) imports {target} " \
            f"({other}, layer {LAYERS[other]})"


def test_no_import_cycles():
    graph = {}
    for path in SOURCES:
        graph[_module(path)] = {t for _, t in _imports(path) if t.startswith("keras_irdi") and t != _module(path)}
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", " -> ".join(trail + [node])
        state[node] = "open"
        for nxt in graph.get(node, ()):
            visit(nxt, trail + [node])
        state[node] = "done"

    for node in graph:
        visit(node, [])


@pytest.mark.parametrize("path", [p for p in SOURCES if p.relative_to(PACKAGE).parts[0] in NO_TENSORFLOW],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_ground_floor_and_reporting_never_import_tensorflow(path):
    for line, target in _imports(path):
        assert target.split(".")[0] not in ("tensorflow", "keras"), f"{path.relative_to(REPO)}:{line} imports {target}"


def test_ground_floor_and_reporting_load_without_tensorflow():
    """Importing them (tfenv included, which only imports TensorFlow when asked) leaves TensorFlow unloaded, so
    tables and figures rebuild on a machine without it."""
    modules = [_module(p) for p in SOURCES if _part(_module(p)) in ("ground", "reporting")]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400
