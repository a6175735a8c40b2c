"""What every stage reads and writes: its params.yaml section, parsed once into a frozen typed
dataclass, and DVC metrics files.

`parse(cls, data, where)` builds the dataclass `cls` from a params.yaml mapping, recursively
(dataclass fields, `dict[str, X]`, `tuple[X, ...]`, `X | None`), converting ints to floats
where a float is declared, and rejects unknown or missing keys and wrong types with a message
naming the key (`where`, e.g. "params.yaml vocoder.teacher"), so that the library receives
typed values and never casts.
"""
from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
PARAMS_FILE = Path("params.yaml")


def load_params(path: Path = PARAMS_FILE) -> dict:
    """The whole params.yaml."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: params file not found (run from the repository root "
                                "or pass --params)")
    return yaml.safe_load(Path(path).read_text()) or {}


def load_section(name: str, path: Path = PARAMS_FILE) -> dict:
    """params.yaml's section `name` (a system's, e.g. "vocoder")."""
    params = load_params(path)
    if name not in params:
        raise ValueError(f"{path}: no {name!r} section")
    return params[name]


def write_metrics(path: Path, metrics: dict) -> None:
    """A DVC metrics file (JSON), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    """A JSON file another stage wrote (metrics, a registry decision)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: not found")
    return json.loads(Path(path).read_text())


def parse(cls: type[T], data: Any, where: str) -> T:
    """The dataclass `cls` from the mapping `data` (see the module docstring)."""
    return _convert(cls, data, where)


def with_preset(section: dict, presets: dict[str, dict[str, dict]], where: str) -> dict:
    """`section` with each part of its preset (`section["preset"]`, a key of `presets`) under
    the part's own key, params.yaml's keys winning: a key set in params.yaml overrides the
    preset's value, a key left out takes it. `where` names the section in errors."""
    preset = section.get("preset")
    if preset not in presets:
        raise ValueError(f"{where}.preset: unknown preset {preset!r} "
                         f"(expected one of {', '.join(presets)})")
    merged = dict(section)
    for part, defaults in presets[preset].items():
        overrides = section.get(part) or {}
        if not isinstance(overrides, dict):
            raise ValueError(f"{where}.{part}: expected a mapping of overrides, got "
                             f"{overrides!r}")
        merged[part] = {**defaults, **overrides}
    return merged


def as_params(value: Any) -> Any:
    """A parsed dataclass back to plain mappings and lists (what MLflow logs and KFP carries)."""
    if dataclasses.is_dataclass(value):
        return {f.name: as_params(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: as_params(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [as_params(item) for item in value]
    return value


def _convert(kind: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(kind):
        return _dataclass(kind, value, where)
    if origin is dict:
        _check(isinstance(value, dict), where, value, "a mapping")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        _check(isinstance(value, (list, tuple)), where, value, "a list")
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if kind is Any:
        return value
    if kind is float:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), where, value,
               "a number")
        return float(value)
    if kind is int:
        _check(isinstance(value, int) and not isinstance(value, bool), where, value,
               "an integer")
        return value
    _check(isinstance(value, kind), where, value, f"a {kind.__name__}")
    return value


def _dataclass(cls: type, value: Any, where: str):
    _check(isinstance(value, dict), where, value, "a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(value) - set(fields)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                         f"(expected {', '.join(fields)})")
    missing = [name for name, f in fields.items() if name not in value and
               f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    return cls(**{name: _convert(hints[name], item, f"{where}.{name}")
                  for name, item in value.items()})


def _check(ok: bool, where: str, value: Any, expected: str) -> None:
    if not ok:
        raise ValueError(f"{where}: expected {expected}, got {value!r}")
