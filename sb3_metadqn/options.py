"""Command-line options stated once: read from a config dataclass or a function signature.

An :class:`Option` takes its name, type and default from a dataclass field or a keyword
parameter, and its help from the ``:param name:`` line of the class's or function's
docstring. :func:`add_options` turns options into argparse arguments whose help shows the
default; :func:`check_options` checks ``KEY=VALUE`` settings against them before any work.

>>> from sb3_metadqn.nets.mapping import MapperConfig
>>> [(o.name, o.default) for o in dataclass_options(MapperConfig)][:2]
[('rank', 16), ('hidden', 256)]
>>> check_options({"rank": 8.5}, dataclass_options(MapperConfig), "--set", "MapperConfig")
Traceback (most recent call last):
...
ValueError: --set rank=8.5: rank must be int
>>> check_options({"rnak": 8}, dataclass_options(MapperConfig), "--set", "MapperConfig")
Traceback (most recent call last):
...
ValueError: --set rnak=8: MapperConfig has no option 'rnak'; allowed: rank, hidden, embedding, grid_size, planner_channels, planner_iterations, seed, additive
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from sb3_metadqn._checks import LIMITS, Limit

_PARAM = re.compile(r"^\s*:param\s+([\w\s,]+):\s*(.*)$")


def param_docs(obj: Any) -> dict[str, str]:
    """``name -> text`` of every ``:param name:`` (or ``:param a, b:``) line of ``obj``'s
    docstring, continuation lines joined."""
    docs: dict[str, str] = {}
    names: list[str] = []
    for line in (inspect.getdoc(obj) or "").splitlines():
        match = _PARAM.match(line)
        if match:
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                docs[name] = match.group(2).strip()
        elif names and line.startswith((" ", "\t")) and line.strip():
            for name in names:
                docs[name] += " " + line.strip()
        else:
            names = []
    return docs


@dataclass(frozen=True)
class Option:
    """One setting: ``name`` (a field or parameter), its type hint, default and help;
    ``path`` is where it goes (``("mapper", "rank")`` for a nested config's field)."""

    name: str
    hint: Any
    default: Any
    help: str
    path: tuple[str, ...]
    #: the config dataclass a nested option is a field of (``path[0]`` holds one)
    parent: type[Any] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _is_config(hint: Any) -> TypeGuard[type[Any]]:
    """Whether ``hint`` is a dataclass (the class, not an instance)."""
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def dataclass_options(
    cls: type[Any], *, skip: Iterable[str] = (), prefix: str = "", nested: bool = True
) -> list[Option]:
    """An option per field of the dataclass ``cls``; with ``nested``, a field that is itself
    a config dataclass gives an option per field of it, named ``<field>_<name>``."""
    hints = typing.get_type_hints(cls)
    docs = param_docs(cls)
    options = []
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        hint = hints[field.name]
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            continue  # a required field is an argument of its own (the env id)
        if nested and _is_config(hint):
            for option in dataclass_options(hint, prefix=f"{prefix}{field.name}_"):
                path = (field.name, *option.path)
                options.append(dataclasses.replace(option, path=path, parent=hint))
            continue
        name = prefix + field.name
        options.append(Option(name, hint, default, docs.get(field.name, ""), (field.name,)))
    return options


def signature_options(function: Callable[..., Any], *, skip: Iterable[str] = ()) -> list[Option]:
    """An option per parameter of ``function`` that has a default (``**kwargs`` aside)."""
    hints = typing.get_type_hints(function)
    docs = param_docs(function)
    options = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in skip or parameter.default is inspect.Parameter.empty:
            continue
        name = parameter.name
        options.append(Option(name, hints[name], parameter.default, docs.get(name, ""), (name,)))
    return options


# --------------------------------------------------------------------------- types
def _union_args(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def describe(hint: Any) -> str:
    """What a value of type ``hint`` may be, in words."""
    parts = []
    for arg in _union_args(hint):
        origin = typing.get_origin(arg)
        if arg is type(None):
            parts.append("null")
        elif origin is Literal:
            parts.append("one of " + ", ".join(repr(a) for a in typing.get_args(arg)))
        elif origin in (tuple, list) or arg in (tuple, list):
            element = (typing.get_args(arg) or (Any,))[0]
            parts.append(f"a list of {describe(element)}")
        elif origin in (dict, Mapping) or arg in (dict, Mapping) or _is_config(arg):
            parts.append("a JSON object")
        elif arg is Any:
            parts.append("any JSON value")
        else:
            parts.append(getattr(arg, "__name__", str(arg)))
    return " or ".join(parts)


def matches(value: Any, hint: Any) -> bool:
    """Whether the JSON value ``value`` is a valid ``hint`` (lists stand for tuples)."""
    for arg in _union_args(hint):
        origin = typing.get_origin(arg)
        if arg is Any or (arg is type(None) and value is None):
            return True
        if origin is Literal and value in typing.get_args(arg):
            return True
        if arg is bool and isinstance(value, bool):
            return True
        if arg is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if arg is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if arg is str and isinstance(value, str):
            return True
        if (origin in (tuple, list) or arg in (tuple, list)) and isinstance(value, list):
            element = (typing.get_args(arg) or (Any,))[0]
            if all(matches(v, element) for v in value):
                return True
        if (origin in (dict, Mapping) or arg in (dict, Mapping)) and isinstance(value, dict):
            return True
        if _is_config(arg) and isinstance(value, dict):
            fields = {f.name for f in dataclasses.fields(arg)}
            if set(value) <= fields:
                return True
    return False


def check_options(
    settings: Mapping[str, Any], options: list[Option], what: str, owner: str
) -> None:
    """``ValueError`` naming the key, the value and what is allowed unless every setting is
    one of ``options`` (those of ``owner``) with a value of its type; ``what`` names the
    command-line option the settings came from."""
    by_name = {o.name: o for o in options}
    for key, value in settings.items():
        text = json.dumps(value)
        if key not in by_name:
            raise ValueError(
                f"{what} {key}={text}: {owner} has no option {key!r}; allowed: "
                + ", ".join(by_name)
            )
        hint = by_name[key].hint
        if not matches(value, hint):
            raise ValueError(f"{what} {key}={text}: {key} must be {describe(hint)}")
        limit = LIMITS.get(by_name[key].path[-1])
        if limit is not None:
            try:
                limit.check(key, tuple(value) if isinstance(value, list) else value)
            except ValueError as error:
                raise ValueError(f"{what} {key}={text}: {error}") from error


# --------------------------------------------------------------------------- argparse
def _show(value: Any) -> str:
    if isinstance(value, tuple | list):
        return " ".join(map(str, value)) or "()"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _plain(text: str) -> str:
    """Docstring markup dropped: ``x`` -> x, :mod:`a.b` -> a.b."""
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def _scalar(hint: Any, limit: Limit | None = None) -> Callable[[str], Any]:
    """argparse ``type`` of a scalar hint (``None`` spelt ``none`` where allowed), checked
    against ``limit`` (an entry's limit for a list option)."""
    args = [a for a in _union_args(hint) if a is not type(None)]
    optional = len(args) < len(_union_args(hint))
    base = args[0] if len(args) == 1 else str

    def parse(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        try:
            value = base(text)
        except ValueError as error:
            allowed = describe(hint) if limit is None else limit.allowed(entry=limit.sequence)
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from error
        if limit is not None:
            try:
                value = (limit.check_entry if limit.sequence else limit.check)("value", value)
            except ValueError as error:
                allowed = limit.allowed(entry=limit.sequence)
                raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from error
        return value

    parse.__name__ = describe(hint)  # argparse names the type in its error message
    return parse


def add_options(parser: argparse.ArgumentParser, options: list[Option]) -> None:
    """An argparse argument per option, ``dest`` its name, help ending in its default."""
    for option in options:
        hint = option.hint
        limit = LIMITS.get(option.path[-1])
        kwargs: dict[str, Any] = {}
        args = [a for a in _union_args(hint) if a is not type(None)]
        literal = [a for a in args if typing.get_origin(a) is Literal]
        if args == [bool]:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif literal:
            kwargs["choices"] = list(typing.get_args(literal[0]))
        elif args and (typing.get_origin(args[0]) in (tuple, list)):
            kwargs.update(nargs="+", type=_scalar(typing.get_args(args[0])[0], limit))
        elif args and (typing.get_origin(args[0]) in (dict, Mapping) or args[0] is dict):
            kwargs.update(type=_json_object, metavar="JSON")
        else:
            kwargs["type"] = _scalar(hint, limit)
        text = _plain(option.help) or option.name.replace("_", " ")
        parser.add_argument(
            option.flag,
            dest=option.name,
            default=option.default,
            help=f"{text} (default: {_show(option.default)})".replace("%", "%%"),
            **kwargs,
        )


def checked_type(name: str, limit: Limit | None = None) -> Callable[[str], Any]:
    """argparse ``type`` of a numeric option: :data:`~sb3_metadqn._checks.LIMITS` entry
    ``name`` (or ``limit``) says what it may be and what the error says."""
    use = limit or LIMITS[name]
    return _scalar(use.kind | None if use.optional else use.kind, use)


def collect(values: Mapping[str, Any], options: list[Option]) -> dict[str, Any]:
    """Keyword arguments from parsed option values: nested options rebuilt into their
    config dataclass, lists into tuples where the hint is a tuple."""
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    parents: dict[str, Any] = {}
    for option in options:
        value = values[option.name]
        if isinstance(value, list):
            value = tuple(value)
        if option.parent is None:
            out[option.name] = value
        else:
            nested.setdefault(option.path[0], {})[option.path[1]] = value
            parents[option.path[0]] = option.parent
    return {**out, **{name: parents[name](**fields) for name, fields in nested.items()}}


def convert(settings: Mapping[str, Any], options: list[Option]) -> dict[str, Any]:
    """Checked JSON settings as keyword arguments: a JSON object given for a config
    dataclass becomes one (its other fields keep their defaults)."""
    by_name = {o.name: o for o in options}
    out = dict(settings)
    for key, value in settings.items():
        classes = [a for a in _union_args(by_name[key].hint) if _is_config(a)]
        if classes and isinstance(value, dict):
            out[key] = classes[0](**value)
    return out
