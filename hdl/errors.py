"""rooftile's errors and the one set of input checks every layer uses.

Every error rooftile raises on purpose derives from :class:`RooftileError`, so a command
line can print one line for it instead of a traceback. Bad input raises
:class:`InputError` (a ``ValueError``) or :class:`InputTypeError` (a ``TypeError``),
naming the field, the value and what is allowed, at the call that introduced it.
"""

import math
from collections.abc import Iterable, Mapping
from typing import TypeVar

__all__ = ["RooftileError", "InputError", "InputTypeError",
           "integer", "positive_int", "positive_float", "one_of", "name_registry", "lookup"]

T = TypeVar("T")


class RooftileError(Exception):
    """Base of every error rooftile raises on purpose."""


class InputError(RooftileError, ValueError):
    """A value outside what is allowed; the message names the field and the allowed range."""


class InputTypeError(RooftileError, TypeError):
    """A value of the wrong type; the message names the field and the type wanted."""


def integer(field: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum`` (``bool`` is refused: ``True`` is
    not a size)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputTypeError(f"{field} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{field} must be >= {minimum}, got {value!r}")
    return value


def positive_int(field: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1."""
    return integer(field, value, 1)


def positive_float(field: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{field} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{field} must be > 0, got {value!r}")
    return float(value)


def one_of(field: str, value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise an InputError listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise InputError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def name_registry(items: Iterable[T], what: str) -> dict[str, T]:
    """Index ``items`` by their ``name`` attribute, refusing two items with one name.

    A silently overwritten preset would make a look-up return numbers from the wrong source.
    """
    registry: dict[str, T] = {}
    for item in items:
        if item.name in registry:
            raise InputError(f"duplicate {what} name {item.name!r}")
        registry[item.name] = item
    return registry


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """Return ``registry[name]``, or raise an InputError that lists the known names."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown {what} {name!r}; known: {', '.join(registry)}") from None
