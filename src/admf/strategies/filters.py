"""Entry filters: a small expression language over signal, price, volume and features.

    filter: "volume > 1000 and rsi(14) < 70 and close > sma(50)"
    filter: "signal > 0 and close < bollinger(20, 2).lower * 1.001"

The text is parsed with `ast` and compiled into closures over a whitelist of node types;
nothing is passed to eval. Names: signal, open, high, low, close, price (= close), volume.
Calls: any indicator (`sma(20)`, `bollinger(period=20, std_dev=2).upper`), abs, min, max.
The filter gates entries at the moment the signal changes; exits are never filtered.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from admf.core.errors import ConfigError

BAR_NAMES = ("signal", "open", "high", "low", "close", "price", "volume")
_FUNCS: dict[str, Callable[..., float]] = {"abs": abs, "min": min, "max": max}


def _div(a: float, b: float) -> float:
    # (close - low) / (high - low) on a flat bar must not stop a backtest: nan compares false
    return a / b if b else math.nan


def _mod(a: float, b: float) -> float:
    return a % b if b else math.nan


def _pow(a: float, b: float) -> float:
    # floats, so `9 ** 9 ** 9` overflows at once instead of building a huge integer
    try:
        r = float(a) ** float(b)
    except (OverflowError, ZeroDivisionError):
        return math.nan
    return r if isinstance(r, float) else math.nan  # a negative base to a fractional power is complex


_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: _div,
        ast.Mod: _mod, ast.Pow: _pow}
_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Eq: operator.eq, ast.NotEq: operator.ne}

MAX_LENGTH = 2000
Env = tuple  # (signal, open, high, low, close, volume)
Node = Callable[[Env], Any]


class FilterExpr:
    """A parsed filter; `bind(hub, symbol)` gives the callable the slot evaluates."""

    def __init__(self, text: str, tree: ast.Expression, file: str | None, field: str) -> None:
        self.text = text
        self.tree = tree
        self.file = file
        self.field = field

    def _err(self, msg: str, node: ast.AST | None = None) -> ConfigError:
        where = f" at column {node.col_offset + 1}" if node is not None and hasattr(node, "col_offset") else ""
        return ConfigError(f"{msg}{where}", file=self.file, field=self.field, value=self.text,
                           accepted="comparisons of signal, open, high, low, close, price, volume, numbers "
                                    "and indicators like sma(20) with and/or/not")

    def bind(self, hub: Any, symbol: str) -> Callable[[int, float, float, float, float, float], bool]:
        fn = self._compile(self.tree.body, hub, symbol)

        def evaluate(signal: int, o: float, h: float, l: float, c: float, v: float) -> bool:
            return bool(fn((signal, o, h, l, c, v)))

        return evaluate

    def check(self) -> None:
        """Validate names and indicator calls without building indicators."""
        self._compile(self.tree.body, None, "")

    def _compile(self, node: ast.AST, hub: Any, symbol: str) -> Node:
        c = self._compile
        if isinstance(node, ast.BoolOp):
            parts = [c(v, hub, symbol) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda env: all(p(env) for p in parts)
            return lambda env: any(p(env) for p in parts)
        if isinstance(node, ast.UnaryOp):
            inner = c(node.operand, hub, symbol)
            if isinstance(node.op, ast.Not):
                return lambda env: not inner(env)
            if isinstance(node.op, ast.USub):
                return lambda env: -inner(env)
            if isinstance(node.op, ast.UAdd):
                return inner
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            op = _BIN[type(node.op)]
            a, b = c(node.left, hub, symbol), c(node.right, hub, symbol)
            return lambda env: op(a(env), b(env))
        if isinstance(node, ast.Compare) and all(type(o) in _CMP for o in node.ops):
            first = c(node.left, hub, symbol)
            rest = [(_CMP[type(o)], c(x, hub, symbol)) for o, x in zip(node.ops, node.comparators, strict=True)]

            def compare(env: Env) -> bool:
                left = first(env)
                for op, right_fn in rest:
                    right = right_fn(env)
                    if not op(left, right):
                        return False
                    left = right
                return True

            return compare
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | bool):
            value = node.value
            return lambda env: value
        if isinstance(node, ast.Name):
            if node.id in ("True", "False"):
                value = node.id == "True"
                return lambda env: value
            if node.id not in BAR_NAMES:
                raise self._err(f"unknown name {node.id!r}", node)
            idx = {"signal": 0, "open": 1, "high": 2, "low": 3, "close": 4, "price": 4, "volume": 5}[node.id]
            return lambda env: env[idx]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
            return self._indicator(node.value, node.attr, hub, symbol)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in _FUNCS:
                fn = _FUNCS[node.func.id]
                args = [c(a, hub, symbol) for a in node.args]
                if node.keywords or not args:
                    raise self._err(f"{node.func.id}() takes positional arguments", node)
                return lambda env: fn(*(a(env) for a in args))
            return self._indicator(node, "value", hub, symbol)
        raise self._err(f"unsupported expression {type(node).__name__}", node)

    def _indicator(self, call: ast.Call, attr: str, hub: Any, symbol: str) -> Node:
        from admf.features.registry import indicator_class, indicator_names, indicator_params, normalize_params

        if not isinstance(call.func, ast.Name):
            raise self._err("unsupported call", call)
        name = call.func.id
        if name not in indicator_names():
            raise self._err(f"unknown indicator {name!r}", call)
        names = list(indicator_params(name))
        params: dict[str, Any] = {}
        for i, a in enumerate(call.args):
            neg = isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub)
            lit = a.operand if isinstance(a, ast.UnaryOp) and neg else a
            if not isinstance(lit, ast.Constant) or not isinstance(lit.value, int | float):
                raise self._err(f"{name}() arguments must be numbers", a)
            if i >= len(names):
                raise self._err(f"{name}() takes at most {len(names)} arguments", call)
            params[names[i]] = -lit.value if neg else lit.value
        for kw in call.keywords:
            if kw.arg not in names or not isinstance(kw.value, ast.Constant):
                raise self._err(f"{name}() has no parameter {kw.arg!r}; it takes {', '.join(names)}", call)
            params[kw.arg] = kw.value.value
        # checked here, not when the hub builds it, so `admf validate` catches sma(0) and sma(3).upper
        try:
            normalize_params(name, **params)
        except ConfigError as exc:
            raise self._err(f"{name}(): {exc.field} = {exc.value!r}: {exc.detail} ({exc.accepted})", call) from None
        outputs = ("value", "ready", *indicator_class(name).outputs)
        if attr not in outputs:
            raise self._err(f"{name} has no output {attr!r}; it has {', '.join(dict.fromkeys(outputs))}", call)
        if hub is None:
            return lambda env: 0.0
        ind = hub.get(symbol, name, **params)

        def read(env: Env) -> float:
            return getattr(ind, attr)

        return read


def parse_filter(text: str, *, file: str | None = None, field: str = "filter") -> FilterExpr:
    if len(text) > MAX_LENGTH:
        raise ConfigError("filter is too long", file=file, field=field, value=text,
                          accepted=f"at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
        expr = FilterExpr(text, tree, file, field)
        expr.check()
    except SyntaxError as exc:
        raise ConfigError(f"cannot parse filter: {exc.msg}", file=file, field=field, value=text) from None
    except (RecursionError, MemoryError):
        raise ConfigError("filter is nested too deeply", file=file, field=field, value=text) from None
    return expr
