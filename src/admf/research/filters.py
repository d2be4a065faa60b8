"""Entry filters on arrays: the filter language of `admf.strategies.filters` compiled to numpy.

The text is parsed and checked by `parse_filter` (one parser); this module walks the same
tree and evaluates each node on whole arrays with Python's semantics: comparisons with nan
are false, `and`/`or`/`not` use truthiness (nan is true), `a / b` and `a % b` are nan when b
is 0, `**` is nan where Python would raise or return a complex number, `min`/`max` keep the
first of equal values as the builtins do. Indicators come from the FeatureStore, so their
values are the incremental indicators' values after each bar, as the slot reads them.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np

from admf.research.features import FeatureStore
from admf.strategies.filters import parse_filter

_BAR = {"open": 1, "high": 2, "low": 3, "close": 4, "price": 4, "volume": 5}
ArrayFn = Callable[[float], np.ndarray | float]


def _truthy(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64) != 0.0


def _div(a: Any, b: Any) -> Any:
    with np.errstate(all="ignore"):
        return np.where(np.asarray(b) != 0.0, np.divide(a, np.where(np.asarray(b) != 0.0, b, 1.0)), np.nan)


def _mod(a: Any, b: Any) -> Any:
    with np.errstate(all="ignore"):
        return np.where(np.asarray(b) != 0.0, np.mod(a, np.where(np.asarray(b) != 0.0, b, 1.0)), np.nan)


def _pow(a: Any, b: Any) -> Any:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(all="ignore"):
        r = np.power(a, b)
    # Python raises OverflowError / ZeroDivisionError where numpy returns inf: the filter says nan
    return np.where(np.isinf(r) & np.isfinite(a) & np.isfinite(b), np.nan, r)


def _min(*xs: Any) -> Any:
    r = xs[0]
    for x in xs[1:]:
        r = np.where(np.asarray(x) < r, x, r)
    return r


def _max(*xs: Any) -> Any:
    r = xs[0]
    for x in xs[1:]:
        r = np.where(np.asarray(x) > r, x, r)
    return r


_BIN: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: _div, ast.Mod: _mod, ast.Pow: _pow}
_CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal, ast.Eq: np.equal,
    ast.NotEq: np.not_equal}
_FUNCS: dict[str, Callable[..., Any]] = {"abs": np.abs, "min": _min, "max": _max}


def _compile(node: ast.AST, store: FeatureStore, k: int, cols: tuple[np.ndarray, ...]) -> ArrayFn:
    def c(n: ast.AST) -> ArrayFn:
        return _compile(n, store, k, cols)

    if isinstance(node, ast.BoolOp):
        parts = [c(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda s: reduce(np.logical_and, [_truthy(p(s)) for p in parts]).astype(np.float64)
        return lambda s: reduce(np.logical_or, [_truthy(p(s)) for p in parts]).astype(np.float64)
    if isinstance(node, ast.UnaryOp):
        inner = c(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda s: (~_truthy(inner(s))).astype(np.float64)
        if isinstance(node.op, ast.USub):
            return lambda s: -np.asarray(inner(s), dtype=np.float64)
        return inner
    if isinstance(node, ast.BinOp):
        op = _BIN[type(node.op)]
        a, b = c(node.left), c(node.right)
        return lambda s: op(np.asarray(a(s), dtype=np.float64), np.asarray(b(s), dtype=np.float64))
    if isinstance(node, ast.Compare):
        first = c(node.left)
        rest = [(_CMP[type(o)], c(x)) for o, x in zip(node.ops, node.comparators, strict=True)]

        def compare(s: float) -> np.ndarray:
            left = np.asarray(first(s), dtype=np.float64)
            out = np.ones(np.shape(left), dtype=np.bool_)
            for op, fn in rest:
                right = np.asarray(fn(s), dtype=np.float64)
                out = out & op(left, right)
                left = right
            return out.astype(np.float64)

        return compare
    if isinstance(node, ast.Constant):
        value = float(node.value)  # type: ignore[arg-type]  # parse_filter allowed numbers only
        return lambda s: value
    if isinstance(node, ast.Name):
        if node.id in ("True", "False"):
            value = 1.0 if node.id == "True" else 0.0
            return lambda s: value
        if node.id == "signal":
            return lambda s: s
        col = cols[_BAR[node.id]]
        return lambda s: col
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
        return _indicator(node.value, node.attr, store, k)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in _FUNCS:
            fn = _FUNCS[node.func.id]
            args = [c(a) for a in node.args]
            return lambda s: fn(*(np.asarray(a(s), dtype=np.float64) for a in args))
        return _indicator(node, "value", store, k)
    raise ValueError(f"unsupported filter node {type(node).__name__}")  # parse_filter rejected it already


def _indicator(call: ast.Call, attr: str, store: FeatureStore, k: int) -> ArrayFn:
    from admf.features.registry import indicator_params

    assert isinstance(call.func, ast.Name)
    name = call.func.id
    names = list(indicator_params(name))
    params: dict[str, Any] = {}
    for i, a in enumerate(call.args):
        neg = isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub)
        lit: Any = a.operand if neg else a  # type: ignore[attr-defined]
        value: Any = lit.value  # parse_filter allowed number literals only
        params[names[i]] = -value if neg else value
    for kw in call.keywords:
        assert isinstance(kw.value, ast.Constant) and kw.arg is not None
        params[kw.arg] = kw.value.value
    arrays = store.get(k, name, **params)
    values = arrays[attr].astype(np.float64)
    return lambda s: values


def filter_bits(text: str, store: FeatureStore, k: int, cols: tuple[np.ndarray, ...], *,
                file: str | None = None) -> np.ndarray:
    """Per bar of symbol k: bit 1 when a long entry passes the filter, bit 2 when a short one does."""
    expr = parse_filter(text, file=file)
    fn = _compile(expr.tree.body, store, k, cols)
    n = len(cols[0])
    long_ok = np.broadcast_to(_truthy(fn(1.0)), (n,))
    short_ok = np.broadcast_to(_truthy(fn(-1.0)), (n,))
    return (long_ok.astype(np.int8) | (short_ok.astype(np.int8) << 1)).astype(np.int8)


__all__ = ["filter_bits"]
