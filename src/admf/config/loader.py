"""Load a YAML config: parse, interpolate, normalize the compact forms, validate, expand grids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from admf.config.grid import axis, product
from admf.config.interpolate import interpolate
from admf.config.schema import Config, StrategyEntry
from admf.core.errors import ConfigError

ENTRY_KEYS = {"name", "constraints", "filter", "risk", "sizing", "direction", "symbols"}
TOP_ALIASES = {"strategy": "strategies"}
SECRET_KEYS = ("api_key", "secret_key")


@dataclass(frozen=True)
class Variant:
    """One concrete combination of a grid config."""

    label: str
    config: Config
    params: dict[str, Any]


class _Loader(yaml.SafeLoader):
    """YAML as written: dates stay text (checked later, with the field's name), duplicate keys are errors."""


# `start: 2024-13-45` would otherwise raise from inside PyYAML's date constructor
_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in rs if tag != "tag:yaml.org,2002:timestamp"]
    for ch, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if not isinstance(key, list | dict) and key in seen:
            raise ConfigError(f"duplicate key {key!r} (lines {seen[key]} and {line}); keep one",
                              file=loader.name if loader.name != "<unicode string>" else None,
                              field=f"line {line}")
        if not isinstance(key, list | dict):
            seen[key] = line
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=deep))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(text: str, file: str | None = None) -> Any:
    """Parse YAML text the way configs are read (see _Loader)."""
    loader = _Loader(text)
    if file:
        loader.name = file
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _fail(msg: str, file: str | None, field: str, value: Any = None, accepted: str | None = None) -> NoReturn:
    raise ConfigError(msg, file=file, field=field, value=value, accepted=accepted)


def _normalize_data(raw: dict[str, Any], file: str | None) -> dict[str, Any]:
    data = raw.pop("data", None)
    out: dict[str, Any] = {}
    for key in ("data_dir", "start", "end"):
        if key in raw:
            out[key] = raw.pop(key)
    if data is None:
        _fail("missing", file, "data", accepted="a symbol spec like SPY_5m, a list of them, or a file path")
    if isinstance(data, str):
        out["specs"] = [data]
    elif isinstance(data, list) and data and all(isinstance(x, str) for x in data):
        out["specs"] = list(data)
    elif isinstance(data, dict):
        d = dict(data)
        syms = d.pop("symbols", None) or d.pop("symbol", None)
        tf = d.pop("timeframe", None)
        files = d.pop("files", None) or ([d.pop("file")] if "file" in d else None)
        # `specs` is the normalized form a run directory's config.yaml holds; reading it back reruns that run
        specs = d.pop("specs", None)
        for key in ("data_dir", "dir", "start", "end"):
            if key in d:
                out["data_dir" if key == "dir" else key] = d.pop(key)
        if d:
            _fail(f"unknown key {next(iter(d))!r}", file, f"data.{next(iter(d))}",
                  accepted="symbols (or symbol), timeframe, file, files, specs, dir, start, end")
        if specs or files:
            out["specs"] = ([specs] if isinstance(specs, str) else list(specs)) if specs else [
                str(f) for f in files or ()]
            if syms:
                out["symbols"] = [syms] if isinstance(syms, str) else list(syms)
                if len(out["symbols"]) != len(out["specs"]):
                    _fail("one symbol per file", file, "data.symbols", out["symbols"],
                          f"{len(out['specs'])} symbol(s), in the order of the files")
            if tf:
                out["timeframe"] = str(tf)
        elif syms:
            syms = [syms] if isinstance(syms, str) else syms
            out["specs"] = [f"{s}_{tf}" if tf else s for s in syms]
        else:
            _fail("no symbols or file", file, "data", accepted="data: {symbols: [SPY], timeframe: 5m}")
    else:
        _fail("invalid data", file, "data", data, "a spec like SPY_5m, a list of specs, or a mapping")
    for key in ("start", "end"):
        if key in out and out[key] is not None:
            out[key] = str(out[key])
    return out


def _normalize_entry(entry: Any, i: int, file: str | None) -> dict[str, Any]:
    where = f"strategy[{i}]"
    if isinstance(entry, str):
        return {"type": entry, "params": {}}
    if not isinstance(entry, dict):
        _fail("each strategy must be a mapping", file, where, entry,
              "- bollinger_bands: {period: 20, std_dev: 2.0}")
    e = dict(entry)
    if "type" in e:
        return e
    names = [k for k in e if k not in ENTRY_KEYS]
    if len(names) != 1:
        _fail("name exactly one strategy per entry", file, where, names or list(e),
              f"one strategy name plus any of {', '.join(sorted(ENTRY_KEYS))}")
    name = names[0]
    params = e.pop(name)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        _fail("strategy parameters must be a mapping", file, f"{where}.{name}", params,
              "{param: value, ...}")
    e["type"] = name
    e["params"] = params
    return e


def _pydantic_error(exc: ValidationError, file: str | None, entries_key: str) -> ConfigError:
    err = exc.errors()[0]
    loc = list(err.get("loc", ()))
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
        else:
            parts.append(str(p))
    field = ".".join(parts).replace("strategies[", "strategy[").replace("data.specs", "data")
    msg = err.get("msg", "invalid value")
    accepted = None
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        accepted = str(ctx["expected"])
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
        value = parts[-1] if parts else None
        return ConfigError(msg, file=file, field=field, value=value)
    value = err.get("input")
    if parts and parts[-1] in SECRET_KEYS:
        value = "<redacted>"
    return ConfigError(msg, file=file, field=field, value=value, accepted=accepted)


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> Config:
    """Read and validate a config file. Strategy parameters may still hold grids."""
    p = Path(path)
    file = str(path)
    if not p.is_file():
        raise ConfigError("config file not found", file=file)
    try:
        raw = read_yaml(p.read_text(), file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"malformed YAML: {problem}", file=file, field=where) from None
    except UnicodeDecodeError:
        raise ConfigError("not a text file", file=file) from None
    if not isinstance(raw, dict):
        raise ConfigError("top level must be a mapping", file=file, value=type(raw).__name__,
                          accepted="name:, data:, strategy:, ...")
    raw = interpolate(raw, env=env, file=file)
    return config_from_dict(raw, file=file, base_dir=str(p.resolve().parent))


def config_from_dict(raw: dict[str, Any], *, file: str | None = None, base_dir: str | None = None) -> Config:
    raw = dict(raw)
    for alias, key in TOP_ALIASES.items():
        if alias in raw:
            if key in raw:
                _fail(f"both {alias!r} and {key!r} given", file, alias)
            raw[key] = raw.pop(alias)
    raw["data"] = _normalize_data(raw, file)
    entries = raw.get("strategies")
    if entries is None:
        _fail("missing", file, "strategy", accepted="a list of strategies, e.g. - sma_crossover: {fast: 10}")
    if isinstance(entries, dict | str):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        _fail("must be a non-empty list", file, "strategy", entries)
    raw["strategies"] = [_normalize_entry(e, i, file) for i, e in enumerate(entries)]
    if isinstance(raw.get("strategy_files"), str):
        raw["strategy_files"] = [raw["strategy_files"]]
    raw["source"] = file
    raw["base_dir"] = base_dir
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise _pydantic_error(exc, file, "strategies") from None
    check_strategies(cfg)
    return cfg


def _strategy_axes(cfg: Config) -> list[dict[str, list[Any]]]:
    """Per entry: parameter name -> values (grids expanded, every value validated)."""
    from admf.strategies.registry import get_strategy, load_user_strategies

    file = cfg.source
    for f in cfg.strategy_files:
        fp = Path(f)
        # beside the config first, then the working directory (as data paths are found)
        if not fp.is_absolute() and cfg.base_dir and ((Path(cfg.base_dir) / fp).exists() or not fp.exists()):
            fp = Path(cfg.base_dir) / fp
        load_user_strategies(fp, file=file)
    out = []
    for i, e in enumerate(cfg.strategies):
        where = f"strategy[{i}].{e.type}"
        cls = get_strategy(e.type, file=file, field=f"strategy[{i}]")
        given: dict[str, list[Any]] = {}
        for key, value in e.params.items():
            values = axis(value, file=file, field=f"{where}.{key}")
            given[key] = values if values is not None else [value]
        from admf.strategies.params import validate_params

        validate_params(cls.params, {k: v[0] for k, v in given.items()}, file=file, field=where)
        axes: dict[str, list[Any]] = {}
        for key, spec in cls.params.items():
            vals = given.get(key, [spec.default])
            axes[key] = [spec.coerce(v, file=file, field=f"{where}.{key}") for v in vals]
        out.append(axes)
    return out


def check_strategies(cfg: Config) -> None:
    _strategy_axes(cfg)
    for i, e in enumerate(cfg.strategies):
        if e.filter:
            from admf.strategies.filters import parse_filter

            parse_filter(e.filter, file=cfg.source, field=f"strategy[{i}].filter")


def expand(cfg: Config) -> list[Variant]:
    """Every combination of the grid (Cartesian product); a plain config gives one variant."""
    axes_per_entry = _strategy_axes(cfg)
    flat: dict[str, list[Any]] = {}
    for i, axes in enumerate(axes_per_entry):
        for key, vals in axes.items():
            flat[f"{i}.{key}"] = vals
    variants = []
    multi = len(cfg.strategies) > 1
    for combo in product(flat):
        entries = []
        labels = []
        for i, e in enumerate(cfg.strategies):
            params = {k.split(".", 1)[1]: v for k, v in combo.items() if k.split(".", 1)[0] == str(i)}
            entries.append(StrategyEntry(**{**e.model_dump(exclude={"params"}), "params": params}))
            varying = {k.split(".", 1)[1]: v for k, v in combo.items()
                       if k.split(".", 1)[0] == str(i) and len(flat[k]) > 1}
            if varying:
                tag = ",".join(f"{k}={v}" for k, v in varying.items())
                labels.append(f"{e.name or e.type}({tag})" if multi else tag)
        label = ";".join(labels) or cfg.name
        variants.append(Variant(label, cfg.model_copy(update={"strategies": entries}), combo))
    return variants


def is_grid(cfg: Config) -> bool:
    return any(len(v) > 1 for axes in _strategy_axes(cfg) for v in axes.values())
