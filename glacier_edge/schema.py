"""Typed JSON for frozen dataclasses: one validating decoder for every contract the project writes.

A contract (run record, bundle manifest, run result, bench results) is a frozen dataclass whose
field annotations *are* its schema. :func:`from_json` walks those annotations and refuses, with
one line naming the field, a missing field, an unknown field or a value of the wrong type, so
nothing downstream needs ``.get(key, default)`` or meets a half-shaped dict. Written here (about
sixty lines over ``typing``) rather than taken from pydantic, which would add a compiled
dependency and ~0.1 s of import to every station cold start.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union

from glacier_edge.errors import ModelBundleError

T = TypeVar("T")


class ContractError(ModelBundleError):
    """A stored record does not have the shape its contract states."""


def _decode(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _decode(option, value, where)
            except ContractError:
                continue
        raise ContractError(_at(where, f"{_describe(value)} is not {_name(hint)}"))
    if origin is Literal:
        if value in args and type(value) is type(args[0]):
            return value
        raise ContractError(_at(where, f"{_describe(value)} is not one of {', '.join(map(repr, args))}"))
    if hint is type(None):
        if value is None:
            return None
        raise ContractError(_at(where, f"expected null, got {_describe(value)}"))
    if dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ContractError(_at(where, f"expected a list, got {_describe(value)}"))
        item = args[0] if args else Any
        decoded = [_decode(item, element, f"{where}[{index}]") for index, element in enumerate(value)]
        return tuple(decoded) if origin is tuple else decoded
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            raise ContractError(_at(where, f"expected an object, got {_describe(value)}"))
        return {key: _decode(args[1], element, _join(where, key)) for key, element in value.items()}
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint in (str, bool):
        if isinstance(value, hint):
            return value
    else:
        raise TypeError(f"{where}: contract type {hint!r} is not supported")
    raise ContractError(_at(where, f"expected {hint.__name__}, got {_describe(value)}"))


def _decode_dataclass(cls: type[T], value: Any, where: str) -> T:
    if not isinstance(value, dict):
        raise ContractError(_at(where, f"expected an object, got {_describe(value)}"))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ContractError(_at(where, f"unknown field '{unknown[0]}'"))
    kwargs = {}
    for name, spec in fields.items():
        if name not in value:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ContractError(_at(where, f"missing field '{name}'"))
            continue
        kwargs[name] = _decode(hints[name], value[name], _join(where, name))
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ checks of values that type-check
        raise ContractError(_at(where, str(exc))) from exc


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _at(where: str, text: str) -> str:
    return f"field {where}: {text}" if where else text


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def from_json(cls: type[T], data: Any, label: str) -> T:
    """Decode ``data`` (parsed JSON) into ``cls``; :class:`ContractError` names ``label`` and the field."""
    try:
        return _decode_dataclass(cls, data, "")
    except ContractError as exc:
        raise ContractError(f"{label}: {exc}") from None


def to_json(record: Any) -> dict[str, Any]:
    """The record as JSON-ready data (tuples become lists when serialised)."""
    return dataclasses.asdict(record)
