"""The package's design as a rule: reading stands alone, the shared state builds on it, data on both, training
on all three."""

import ast

import pytest
from conftest import ROOT

PACKAGE = ROOT / "digitnet"
# What each group may import from digitnet, besides itself: the shared modules at the top.
SHARED = {"digitnet", "digitnet.config", "digitnet.errors", "digitnet.files"}
ALLOWED = {
    "reading": SHARED,
    "state": SHARED | {"digitnet.reading"},
    "data": SHARED | {"digitnet.reading", "digitnet.state"},
    "training": SHARED | {"digitnet.reading", "digitnet.state", "digitnet.data"},
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
    """The check can fail: a reading module that reaches into training is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from digitnet.training.jobs import TrainingJob\nimport digitnet.data.render\n")
    assert {n for n in digitnet_imports(bad) if not may_import("reading", n)} == {
        "digitnet.training.jobs", "digitnet.training.jobs.TrainingJob", "digitnet.data.render"}


def test_the_package_imports_its_names_where_a_tool_can_follow_them_and_only_training_stays_lazy():
    import digitnet

    tree = ast.parse((ROOT / "digitnet" / "__init__.py").read_text())
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    lazy = set(digitnet.__all__) - imported
    assert lazy == {"TrainingRun", "save_run", "train"}
    assert digitnet.to_mnist.__module__ == "digitnet.reading.preprocess"


def test_where_things_are_names_every_module_and_only_modules_that_exist():
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    named, folders = set(), []  # folders: (indent, path) of the folder lines above the current one
    for line in block.strip("\n").splitlines():
        indent = len(line) - len(line.lstrip())
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = folders[-1][1] if folders else ""
        if line.split()[0].endswith("/"):
            folders.append((indent, parent + line.split()[0]))
            continue
        named |= {parent + name for name in re.findall(r"(?<![/\w])(\w+\.py)\b", line)}
    modules = {"app.py"} | {str(path.relative_to(ROOT)) for folder in ("ui", "digitnet")
                            for path in (ROOT / folder).rglob("*.py") if path.name not in ("__init__.py", "__main__.py")}
    assert named == modules, f"not named: {sorted(modules - named)}; named but missing: {sorted(named - modules)}"
