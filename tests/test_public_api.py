"""The public surface: `shoal/__init__` only re-exports, with a sorted, complete, documented `__all__`."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import shoal

SRC = Path(shoal.__file__).parent


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_unique() -> None:
    assert list(shoal.__all__) == sorted(set(shoal.__all__), key=_isort_key)


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in shoal.__all__:
        obj = getattr(shoal, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"shoal.{name} has no docstring"


def test_init_only_reexports() -> None:
    tree = ast.parse((SRC / "__init__.py").read_text())
    for node in tree.body:
        allowed = (ast.ImportFrom, ast.Import, ast.Assign, ast.Expr)
        assert isinstance(node, allowed), f"__init__ defines {type(node).__name__}"
        if isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant)  # the module docstring


def _public_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found.extend(
                n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
    return [f for f in found if not f.name.startswith("_")]


def test_public_functions_are_annotated_and_documented() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        for func in _public_functions(ast.parse(path.read_text())):
            where = f"{path.relative_to(SRC)}:{func.lineno} {func.name}"
            if ast.get_docstring(func) is None:
                problems.append(f"{where}: no docstring")
            args = func.args.args + func.args.kwonlyargs + func.args.posonlyargs
            if func.returns is None or any(
                a.annotation is None for a in args if a.arg not in ("self", "cls")
            ):
                problems.append(f"{where}: missing annotations")
    assert problems == []
