"""Spec strings ``name:key=value,...``: parsing, option typing and the canonical form.

Shared by every registry (methods, mask families), so all of them read specs alike. An
option's type is the type of the parameter's default, so an entry declares its keys simply
by its keyword defaults.
"""

from __future__ import annotations

import re
from typing import Any

# A registry name: never starts with "@" (which names Python code) or ":" and holds no "," "=" or space.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
NAME_RULE = "start with a letter or digit and hold only letters, digits and _ . + -"


def _convert(value: str, default: Any, key: str, name: str) -> Any:
    """Convert a spec value to the type of the parameter's default."""
    try:
        if isinstance(default, bool):
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise ValueError(f"{name}: {key}={value!r} is not a valid {type(default).__name__}") from None
    return value


def typed_options(
    raw: dict[str, str], params: dict[str, Any], owner: str, name: str, open_keys: bool = False
) -> dict[str, Any]:
    """Check spec options against a registry entry's parameters and convert them to their types.

    Parameters
    ----------
    raw : dict
        Option names to raw string values (:func:`parse_spec`).
    params : dict
        The entry's parameters with their defaults (the defaults give the types).
    owner : str
        What the entry is, for messages (``"method"``, ``"mask family"``).
    name : str
        The entry's name.
    open_keys : bool
        Accept keys that are not in ``params`` too (an entry taking ``**kwargs``); their
        values stay strings.

    Raises
    ------
    ValueError
        An unknown option (valid ones listed) or a value of the wrong type.
    """
    typed = {}
    for key, value in raw.items():
        if key not in params:
            if open_keys:
                typed[key] = value
                continue
            valid = ", ".join(sorted(params)) or "none"
            raise ValueError(f"{owner} {name!r} has no option {key!r} (valid: {valid})")
        label = name if owner == "method" else f"{owner} {name!r}"
        typed[key] = _convert(value, params[key], key, label)
    return typed


def parse_options(text: str, spec: str) -> dict[str, str]:
    """Split ``"k=v,k2=v2"`` (the part of ``spec`` after its name) into raw string values.

    Raises
    ------
    ValueError
        A part without ``=`` or a key given twice (the message quotes ``spec``).
    """
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ValueError(f"bad option {part!r} in spec {spec!r}: expected key=value")
        if key.strip() in options:
            raise ValueError(f"option {key!r} given twice in spec {spec!r}")
        options[key.strip()] = value.strip()
    return options


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``"name:k=v,k2=v2"`` into the name and a dict of raw string values."""
    name, _, rest = spec.strip().partition(":")
    if not name:
        raise ValueError(f"empty method name in spec {spec!r}")
    return name, parse_options(rest, spec)


def canonical_spec(name: str, options: dict[str, Any]) -> str:
    """Spec string with keys sorted, so equal configurations get equal names."""
    if not options:
        return name
    return name + ":" + ",".join(f"{k}={options[k]}" for k in sorted(options))


def split_specs(value: str) -> list[str]:
    """Split ``telea,patch:size=9,features=0,mean`` into specs.

    A comma starts a new spec unless the text after it is a ``key=value`` option
    of the current spec (it contains ``=`` before any ``:``).
    """
    specs: list[str] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        head = part.split(":", 1)[0]
        if specs and "=" in head and ":" in specs[-1]:
            specs[-1] += "," + part
        else:
            specs.append(part)
    return specs
