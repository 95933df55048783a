"""The layout's rules: one namespace, imports only down the floors, every package listed."""

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Folder in the checkout -> its package in the namespace.
ROOTS = {"sparsa": "sparsa", "hw": "sparsa.hw", "models": "sparsa.models", "sim": "sparsa.sim",
         "dataflow": "sparsa.dataflow", "reports": "sparsa.reports"}
# The floors, lowest first: a module may import its own floor's modules and any lower floor's,
# never a higher one's. A floor is a package; its subpackages belong to it unless listed.
FLOORS = [
    ["sparsa.config", "sparsa.files"],
    ["sparsa.hw.common"],
    ["sparsa.hw.topk", "sparsa.hw.attention", "sparsa.hw.sat"],
    ["sparsa.hw"],
    ["sparsa.models.golden"],
    ["sparsa.models.algorithms"],
    ["sparsa.models.zoo"],
    ["sparsa.sim.blocks"],
    ["sparsa.dataflow"],
    ["sparsa.sim.network"],
    ["sparsa.sim.rtl"],
    ["sparsa.sim.studies"],
    ["sparsa.models.experiments"],
    ["sparsa.reports"],
    ["sparsa.cli"],
]


def _floor(module: str) -> int:
    best, level = -1, None
    for number, packages in enumerate(FLOORS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and len(package) > best:
                best, level = len(package), number
    if level is None:
        raise AssertionError(f"{module} is on no floor of tests/test_layout.py")
    return level


def _modules() -> dict[str, Path]:
    modules = {}
    for folder, package in ROOTS.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_imports_run_down_the_floors() -> None:
    problems = []
    for module, path in sorted(_modules().items()):
        imports = _imports(path)
        if module in ("sparsa", "sparsa.__main__") or not imports:
            continue
        level = _floor(module)
        for imported in sorted(imports):
            if imported.split(".")[0] in ROOTS and imported.split(".")[0] != "sparsa":
                problems.append(f"{module} imports {imported} outside the sparsa namespace")
            elif imported.startswith("sparsa.") and _floor(imported) > level:
                problems.append(f"{module} (floor {level}) imports {imported} "
                                f"(floor {_floor(imported)})")
    assert not problems, "\n".join(problems)


def test_every_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    found = {m for m, p in _modules().items() if p.name == "__init__.py"}
    assert found == listed
    assert config["setuptools"]["package-dir"] == {v: k for k, v in ROOTS.items()}


@pytest.mark.parametrize("folder", ["hw", "models", "sim", "dataflow", "reports"])
def test_no_top_level_package_but_sparsa(folder: str) -> None:
    # Every module imports as sparsa.<package>; nothing imports the folders by their own names.
    for path in (REPO / folder).rglob("*.py"):
        for imported in _imports(path):
            assert imported.split(".")[0] not in set(ROOTS) - {"sparsa"}, f"{path}: {imported}"
