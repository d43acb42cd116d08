"""The package's design as a rule: serving stands alone, data builds on it, training on both."""

import ast

import pytest
from conftest import ROOT

PACKAGE = ROOT / "digitnet"
# What each group may import from digitnet, besides itself: the shared modules at the top.
SHARED = {"digitnet", "digitnet.config", "digitnet.errors", "digitnet.files"}
ALLOWED = {
    "serving": SHARED,
    "data": SHARED | {"digitnet.serving"},
    "training": SHARED | {"digitnet.serving", "digitnet.data"},
}


def digitnet_imports(path) -> set[str]:
    """The digitnet modules a file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digitnet"):
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.startswith("digitnet")}
    return names


def may_import(group: str, name: str) -> bool:
    """Whether a module of `group` may import the digitnet module (or name) `name`."""
    parts = name.split(".")
    if len(parts) == 1:
        return True  # `import digitnet`
    top = ".".join(parts[:2])
    if top in SHARED or top == f"digitnet.{group}":
        return True
    # Anything else is a lower group, or a name the package imports lazily from anywhere (refused:
    # inside the package, say where a name comes from).
    return top in ALLOWED[group]


@pytest.mark.parametrize("group", sorted(ALLOWED))
def test_each_group_imports_only_the_groups_below_it(group):
    crossing = {}
    for path in sorted((PACKAGE / group).glob("*.py")):
        wrong = sorted(name for name in digitnet_imports(path) if not may_import(group, name))
        if wrong:
            crossing[path.name] = wrong
    assert crossing == {}


def test_the_rule_is_checked_on_real_imports(tmp_path):
    """The check can fail: a serving module that reaches into training is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from digitnet.training.jobs import TrainingJob\nimport digitnet.data.render\n")
    assert {n for n in digitnet_imports(bad) if not may_import("serving", n)} == {
        "digitnet.training.jobs", "digitnet.training.jobs.TrainingJob", "digitnet.data.render"}
