"""How `shoal serve` calls the library: a served method or analysis on a dataset handle,
its JSON arguments checked against the function's signature and turned into what the
library takes (vectors as arrays), at a `ref` when asked, with the warnings it gave."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from shoal.analysis import DatasetMap
from shoal.client._wire import takes_ref
from shoal.errors import InvalidInput, ShoalWarning, collected_warnings
from shoal.server._datasets import last_part
from shoal.store import Dataset
from shoal.store._interchange import content_types

__all__ = ["binary_value", "collecting", "run_analysis", "run_method"]

VECTOR_ARGUMENTS = ("embeddings", "query", "queries")
"""Arguments whose JSON lists of numbers are vectors."""


def run_method(handle: Dataset, method: str, arguments: dict[str, Any]) -> Any:
    """Call `handle.<method>(**arguments)` as the library would be called (on `ref` if given)."""
    ref = arguments.pop("ref", None)
    if ref is not None and not takes_ref(method):
        raise InvalidInput(f"{method} writes: it takes no ref (write on a branch's handle)")
    handle = _at_ref(handle, ref)
    if method == "count":
        _check_arguments(lambda: None, arguments, method)
        return len(handle)
    function: Callable[..., Any] = getattr(handle, method)
    _check_arguments(function, arguments, method)
    for key in VECTOR_ARGUMENTS:
        value = arguments.get(key)
        if isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            arguments[key] = np.asarray(value, dtype=np.float32)
    if isinstance(arguments.get("weights"), list):
        arguments["weights"] = tuple(arguments["weights"])
    result = function(**arguments)
    return result.branch_name if isinstance(result, Dataset) else result


def collecting(
    work: Callable[[Dataset, str, dict[str, Any]], Any],
    handle: Dataset,
    action: str,
    body: dict[str, Any],
) -> tuple[Any, list[ShoalWarning]]:
    """`work(handle, action, body)`, and the Shoal warnings it gave."""
    with collected_warnings() as given:
        return work(handle, action, body), given


def _at_ref(handle: Dataset, ref: Any) -> Dataset:
    """`handle` checked out at `ref` (a version, tag or branch), or itself if `ref` is None."""
    if ref is None:
        return handle
    if not isinstance(ref, (str, int)) or isinstance(ref, bool):
        raise InvalidInput(f"ref must be a version number, tag or branch name, got {ref!r}")
    return handle.checkout(ref)


def binary_value(
    handle: Dataset, row_id: str, column: str, ref: str | int | None
) -> tuple[bytes, str] | None:
    """Row `row_id`'s value in binary column `column` and its content type (at `ref`), or
    None if the row or its value is missing; InvalidInput if `column` is not binary."""
    at = _at_ref(handle, ref)
    kinds = content_types(at.schema)
    if column not in kinds:
        raise InvalidInput(
            f"{column!r} is not a binary column of this dataset; its binary columns: "
            f"{', '.join(sorted(kinds)) or 'none'}"
        )
    records = at.get([row_id])
    value = records[0].extras.get(column) if records else None
    return (value, kinds[column]) if isinstance(value, bytes) else None


def run_analysis(handle: Dataset, function: str, arguments: dict[str, Any]) -> Any:
    """`shoal.analysis.<function>(handle, **arguments)` (on `ref` if given), arguments
    checked as for methods."""
    from shoal import analysis

    handle = _at_ref(handle, arguments.pop("ref", None))
    run = functools.partial(getattr(analysis, function), handle)
    _check_arguments(run, arguments, function)
    items = arguments.get("items")
    if isinstance(items, list) and items and not all(isinstance(i, str) for i in items):
        arguments["items"] = np.asarray(items, dtype=np.float32)
    result = run(**arguments)
    if isinstance(result, DatasetMap):  # titled by name: the path is the server's
        result = dataclasses.replace(result, title=last_part(handle.uri))
    return result


def _check_arguments(function: Callable[..., Any], arguments: dict[str, Any], method: str) -> None:
    """InvalidInput naming the arguments `method` does not take (the library checks values)."""
    signature = inspect.signature(function)
    accepted = set(signature.parameters)
    unknown = sorted(set(arguments) - accepted)
    if unknown:
        raise InvalidInput(
            f"{method} takes no argument {', '.join(map(repr, unknown))}; it takes "
            f"{', '.join(sorted(accepted)) or 'none'}"
        )
    try:
        signature.bind(**arguments)
    except TypeError as exc:  # a required argument is missing
        raise InvalidInput(f"{method}: {exc}; send it in the JSON body") from None
