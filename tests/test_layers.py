"""Imports point one way: pipelines <- scheduler <- codegen <- saline (DESIGN.md, section 1).

Every .py file of each layer is parsed with `ast`, and every import in it is checked, also those
inside functions and those made through `importlib.import_module("...")` or `__import__("...")`
with a literal name: none may name a package of a higher layer. `bench` may import anything;
`csrc` holds no Python at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"pipelines": 0, "scheduler": 1, "codegen": 2, "saline": 3}
UNCHECKED = ("bench",)  # peer comparisons may import anything


def _resolve_relative(level: int, module: str | None, package: str) -> str:
    """The absolute name of `from <level dots><module> import ...` written in `package`."""
    parts = package.split(".")
    if level > len(parts):
        return module or ""
    base = parts[: len(parts) - level + 1]
    return ".".join([*base, module] if module else base)


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, a module of `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = _resolve_relative(node.level, node.module, package) if node.level else node.module or ""
            found.append((node.lineno, name))
            # `from . import codegen` in a top-level package names the submodule in the alias
            if node.level and not node.module:
                found += [(node.lineno, f"{name}.{alias.name}".lstrip(".")) for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def layer_violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Imports in `source` (the module `module`) of a layer above the module's own."""
    own = LAYERS[module.split(".")[0]]
    package = module if is_package else module.rpartition(".")[0] or module
    problems = []
    for line, name in imported_modules(source, package):
        top = name.split(".")[0]
        if LAYERS.get(top, -1) > own:
            problems.append(f"{module}:{line} imports {name} (layer {top} is above {module.split('.')[0]})")
    return problems


def module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def layer_files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", list(LAYERS))
def test_layer_imports_point_down_only(layer: str):
    files = layer_files(layer)
    assert files, f"no Python files under {layer}/"
    problems = []
    for path in files:
        module, is_package = module_name(path)
        problems += layer_violations(path.read_text(encoding="utf-8"), module, is_package)
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_csrc_holds_no_python():
    assert not list((ROOT / "csrc").rglob("*.py"))


def test_every_top_level_package_has_a_layer_or_is_exempt():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} | {p.name for p in ROOT.iterdir() if p.is_dir()}
    python_dirs = {name for name in packages if list((ROOT / name).glob("*.py"))}
    unknown = python_dirs - set(LAYERS) - set(UNCHECKED) - {"tests"}
    assert not unknown, f"packages without a layer: {sorted(unknown)}; add them to LAYERS or UNCHECKED"


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("source", "module", "bad"),
    [
        ("import codegen.compile\n", "pipelines.expr", "codegen.compile"),
        ("from scheduler.lower import lower\n", "pipelines.func", "scheduler.lower"),
        ("def f():\n    from saline import cli\n    return cli\n", "codegen.build", "saline"),
        ("class A:\n    def m(self):\n        import scheduler\n", "pipelines.ops", "scheduler"),
        ("from ..codegen import build\n", "scheduler.lower", "codegen"),
        ("from .. import saline\n", "codegen.compile", "saline"),
        ("import importlib\nmod = importlib.import_module('codegen.build')\n", "pipelines.types", "codegen.build"),
        ("m = __import__('saline')\n", "pipelines.bounds", "saline"),
        ("try:\n    import codegen\nexcept ImportError:\n    pass\n", "scheduler.simplify", "codegen"),
    ],
    ids=["top", "from", "in_function", "in_method", "relative", "relative_package", "import_module", "dunder", "try"],
)
def test_checker_finds_upward_import(source: str, module: str, bad: str):
    problems = layer_violations(source, module)
    assert len(problems) == 1 and f"imports {bad}" in problems[0], problems


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from pipelines.expr import Expr\nimport numpy\n", "scheduler.lower"),
        ("from . import expr\nfrom .types import int32\n", "pipelines.func"),
        ("import scheduler.lower, pipelines\n", "codegen.compile"),
        ("def f():\n    import codegen.build\n", "saline.cli"),
        ("import os, sys, json\n", "pipelines.types"),
    ],
    ids=["down", "relative_same", "two_down", "saline_anything", "stdlib"],
)
def test_checker_accepts_downward_import(source: str, module: str):
    assert layer_violations(source, module) == []


def test_checker_resolves_relative_imports_in_a_package_init():
    assert imported_modules("from .expr import Expr\n", "pipelines") == [(1, "pipelines.expr")]
    assert layer_violations("from .expr import Expr\n", "pipelines", is_package=True) == []
