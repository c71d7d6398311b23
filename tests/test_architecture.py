"""The package's shape: imports go only downward through the layers named in pyproject.toml
([tool.importlinter], checked by import-linter), no module imports itself back through others, and no
module grows past ~400 lines without saying why at its top. Each check is also run on a copy of the package
broken on purpose, so that a check that cannot fail is caught."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_LINES = 400
LONG_MODULE_REASON = "Longer than 400 lines because"

_CYCLES = """
import grimp, networkx, sys
graph = grimp.build_graph("engine", exclude_type_checking_imports=True)
assert graph.find_modules_directly_imported_by("engine.pipeline"), "engine not found"
edges = networkx.DiGraph((m, d) for m in graph.modules for d in graph.find_modules_directly_imported_by(m))
import engine
print(engine.__file__)
for cycle in sorted(sorted(c) for c in networkx.simple_cycles(edges)):
    print(" -> ".join(cycle))
"""


def _env(root: Path) -> dict[str, str]:
    """An environment in which ``import engine`` finds the package under ``root`` first."""
    return {**os.environ, "PYTHONPATH": str(root)}


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=root,
                          env=_env(root), capture_output=True, text=True, check=False, timeout=300)


def _cycles(root: Path) -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", _CYCLES], cwd=root, env=_env(root), capture_output=True, text=True,
                          check=True, timeout=300)
    first, *cycles = done.stdout.splitlines()
    return first, cycles


@pytest.fixture
def broken_copy(tmp_path: Path) -> Path:
    """A copy of the package in which a deliberate error can be made."""
    shutil.copytree(ROOT / "engine", tmp_path / "engine", ignore=shutil.ignore_patterns("__pycache__", "data",
                                                                                         "static"))
    return tmp_path


def _append(root: Path, module: str, line: str) -> None:
    path = root / "engine" / f"{module.replace('.', '/')}.py"
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_imports_go_only_down_the_layers() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(broken_copy: Path) -> None:
    _append(broken_copy, "language/ir", "import engine.render.text  # upward, on purpose")
    result = _lint_imports(broken_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "engine.language.ir -> engine.render.text" in result.stdout


def test_a_module_outside_the_layers_is_refused(broken_copy: Path) -> None:
    (broken_copy / "engine" / "misc.py").write_text('"""A module in no layer."""\n', encoding="utf-8")
    result = _lint_imports(broken_copy)
    assert result.returncode == 1
    assert "engine.misc" in result.stdout


def test_no_module_imports_itself_back() -> None:
    package, cycles = _cycles(ROOT)
    assert Path(package).parent == ROOT / "engine"
    assert cycles == []


def test_a_cycle_is_found(broken_copy: Path) -> None:
    _append(broken_copy, "decide/objective", "import engine.decide.planner  # a cycle, on purpose")
    package, cycles = _cycles(broken_copy)
    assert Path(package).parent == broken_copy / "engine"   # the copy was read, not the checkout
    assert any("engine.decide.objective" in c and "engine.decide.planner" in c for c in cycles), cycles


def _long_modules(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_LINES and LONG_MODULE_REASON not in text[:2000]:
            out.append(f"{path.relative_to(root.parent)}: {len(text.splitlines())} lines")
    return out


def test_long_modules_say_why_at_their_top() -> None:
    assert _long_modules(ROOT / "engine") == []


def test_a_long_module_without_a_reason_is_found(tmp_path: Path) -> None:
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "long.py").write_text('"""Long."""\n' + "x = 1\n" * MAX_LINES, encoding="utf-8")
    assert _long_modules(tmp_path / "engine") == [f"engine/long.py: {MAX_LINES + 1} lines"]


def test_the_architecture_page_lists_the_layers_of_the_contract() -> None:
    """docs/architecture.md's layer table, top to bottom, is the import contract's list."""
    import re
    import tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in contract["contracts"] if c["id"] == "layers"]
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = page.split("<!-- layers:", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    documented = [" | ".join(re.sub(r"[/`]|\.py$", "", name.strip()).removesuffix(".py")
                             for name in row.split("|")[1].split("·")) for row in table]
    assert documented == [" | ".join(p.strip() for p in layer.split("|")) for layer in layers]
