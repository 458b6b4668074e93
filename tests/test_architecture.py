"""The package's architecture (docs/architecture.md): floors, no import cycle, short modules, and
each histogram name spelled in one place. Walks every module's imports with ``ast``, including
imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "boostjet"

#: Floor of each top-level part of the package; a module imports only its own part or lower floors.
FLOORS = {
    "boostjet": 0,  # __init__: the version
    "boostjet.errors": 0,
    "boostjet.kinematics": 0,
    "boostjet.config": 0,
    "boostjet.spec": 0,
    "boostjet.histograms": 0,
    "boostjet.rundir": 0,
    "boostjet.histogram_io": 0,
    "boostjet.models": 1,
    "boostjet.processors": 2,
    "boostjet.analysis": 3,
    "boostjet.generation": 3,
    "boostjet.training": 4,
    "boostjet.pipeline": 4,
    "boostjet.cli": 5,
}
#: Imported only by tests and benchmarks.
TESTING = "boostjet.testing"
MAX_LINES = 450
#: Prefixes of histogram names: as string literals only in boostjet/histograms.py.
HISTOGRAM_PREFIXES = ("score_", "response_", "energy_response_", "pull_", "control_")
#: (module, literal) pairs that share a prefix without naming a histogram: the file stems of the
#: response plots of all mass / all energy regressors (plots/response_mass.png).
NOT_HISTOGRAM_NAMES = {("boostjet.analysis.figures", "response_")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """Every boostjet module ``name`` imports (``from boostjet.x import y`` names
    ``boostjet.x.y`` when that is a module)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


def _part(module: str) -> str:
    """The entry of FLOORS (or TESTING) a module belongs to."""
    candidates = [*FLOORS, TESTING]
    matches = [p for p in candidates if module == p or module.startswith(p + ".")]
    return max(matches, key=len)


IMPORTS = {name: _imports(name) for name in MODULES}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_its_own_part_and_lower_floors(name):
    # floor 0 holds the contracts, which may use each other (the cycle test still applies); above
    # it, a part imports only lower floors: training and pipeline never import each other
    part = _part(name)
    if part == TESTING:
        return
    for imported in IMPORTS[name]:
        other = _part(imported)
        assert other != TESTING, f"{name} imports the test helpers {imported}"
        if other in (part, "boostjet") or FLOORS[part] == FLOORS[other] == 0:
            continue
        assert FLOORS[other] < FLOORS[part], (
            f"{name} (floor {FLOORS[part]}) imports {imported} (floor {FLOORS[other]})"
        )


def test_there_is_no_import_cycle():
    # depth-first search over the module graph; a back edge is a cycle
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(IMPORTS[module]):
            if state.get(imported) == 1:
                cycle = [*path[path.index(imported) :], imported]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if imported not in state:
                visit(imported)
        path.pop()
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_exceeds_the_line_limit(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines"


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """String constants (f-string parts included), docstrings left out."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_histogram_names_are_spelled_only_in_the_histogram_declarations():
    spelled = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}"
        for name, path in MODULES.items()
        if name != "boostjet.histograms"
        for line, text in _string_literals(path)
        if text.startswith(HISTOGRAM_PREFIXES) and (name, text) not in NOT_HISTOGRAM_NAMES
    ]
    assert not spelled, "histogram names outside boostjet/histograms.py:\n" + "\n".join(spelled)


def test_the_walker_sees_imports_in_functions_and_names_in_f_strings(tmp_path):
    # the checks above pass vacuously if the walker sees nothing: probe it
    probe = tmp_path / "probe.py"
    probe.write_text(
        '"""score_ in a docstring is prose."""\n'
        "def f():\n    from boostjet.pipeline import fileset\n    return f'score_{1}'\n"
    )
    MODULES["boostjet.probe"] = probe
    try:
        assert {"boostjet.pipeline", "boostjet.pipeline.fileset"} <= _imports("boostjet.probe")
    finally:
        del MODULES["boostjet.probe"]
    assert [text for _, text in _string_literals(probe)] == ["score_"]
