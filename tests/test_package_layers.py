"""The packages import only downward: each may import those of lower layers, never its own
layer's neighbours or anything above (docs/usage.md's map of the packages)."""

import ast

import pytest

from tests.conftest import REPO_ROOT

# Lowest first. A module may import any module of a lower layer; within a layer, only itself.
LAYERS = (
    ("config", "quiet_tensorflow"),
    ("outputs",),
    ("data", "models"),
    ("records",),
    ("evaluation",),
    ("serving",),
    ("reporting",),
    ("training",),
    ("search", "benchmarks", "experiments"),
    ("train", "sweep", "report", "predict", "export", "fmlab"),
)
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def project_imports(path) -> set[str]:
    """The project's top-level modules that `path` imports, at its top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in LAYER_OF)
    return found


def sources():
    for path in sorted(REPO_ROOT.glob("*.py")) + sorted(REPO_ROOT.glob("*/**/*.py")):
        top = path.relative_to(REPO_ROOT).parts[0].removesuffix(".py")
        if top in LAYER_OF:
            yield top, path


def test_every_package_and_entry_point_has_a_layer():
    packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")} - {"tests"}
    scripts = {path.stem for path in REPO_ROOT.glob("*.py")}
    assert packages | scripts <= set(LAYER_OF), sorted((packages | scripts) - set(LAYER_OF))


@pytest.mark.parametrize("top, path", list(sources()), ids=lambda value: str(value))
def test_imports_go_downward(top, path):
    upward = {
        name for name in project_imports(path)
        if name != top and LAYER_OF[name] >= LAYER_OF[top]
    }
    where = path.relative_to(REPO_ROOT)
    assert not upward, f"{where} (layer {LAYER_OF[top]}) imports {sorted(upward)}"


def test_models_know_no_dataset_trainer_or_report():
    for top, path in sources():
        if top == "models":
            assert project_imports(path) <= {"quiet_tensorflow", "models"}, path
