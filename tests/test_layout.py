"""The layout the architecture promises (docs/architecture.md), checked on the source: who may
import whom, no import cycles (local imports included), one phi wrapping."""

import ast
from pathlib import Path

import numpy as np
import pytest

from genhep.data.jets.pythia import wrap_phi

PACKAGE = Path(__file__).parents[1] / "genhep"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """genhep module -> the genhep modules it imports anywhere (function bodies included;
    ``TYPE_CHECKING`` blocks excluded: they never run)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        skipped = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        found = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("genhep")
            ):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("genhep"))
        graph[module_name(path)] = found
    return graph


GRAPH = imports()


def reaches(module: str, prefix: str) -> list[str]:
    return sorted(m for m in GRAPH[module] if m == prefix or m.startswith(prefix + "."))


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "genhep.metrics",
            ("genhep.data", "genhep.evaluation", "genhep.models", "genhep.callbacks"),
        ),
        (
            "genhep.models",
            ("genhep.data", "genhep.metrics", "genhep.plotting", "genhep.evaluation"),
        ),
        ("genhep.geometry", ("genhep.data", "genhep.metrics")),
        ("genhep.nn", ("genhep.data", "genhep.models", "genhep.metrics")),
        ("genhep.spec", ("genhep.data", "genhep.models")),
    ],
)
def test_layers_import_only_downwards(layer, forbidden):
    offenders = {
        module: found
        for module in GRAPH
        if module == layer or module.startswith(layer + ".")
        for prefix in forbidden
        if (found := reaches(module, prefix))
    }
    assert not offenders


def test_evaluators_live_in_genhep_evaluation():
    defined = {
        module_name(path)
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and node.name.endswith("Evaluator")
        and node.name != "Evaluator"
    }
    assert defined and all(m.startswith("genhep.evaluation.") for m in defined)


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if target not in GRAPH:
                continue
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*stack, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_one_phi_wrapping_into_minus_pi_to_pi():
    angles = np.array([np.pi, -np.pi, 3 * np.pi / 2, -3 * np.pi / 2, 0.25, 7 * np.pi])
    wrapped = wrap_phi(angles)
    assert np.all((wrapped > -np.pi) & (wrapped <= np.pi))
    np.testing.assert_allclose(wrapped, [np.pi, np.pi, -np.pi / 2, np.pi / 2, 0.25, np.pi])
    np.testing.assert_allclose(np.cos(wrapped), np.cos(angles), atol=1e-12)
