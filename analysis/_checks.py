"""Argument checks and name look-ups shared by the analysis modules.

Every public function of ``rooftile.analysis`` validates its sizes here, so that a bad value
fails at the call that introduced it with a message naming the field, instead of surfacing
later as a negative byte count or a division by zero.
"""

import math
from collections.abc import Iterable, Mapping
from typing import TypeVar

__all__ = ["positive_int", "positive_float", "one_of", "name_registry", "lookup"]

T = TypeVar("T")


def positive_int(field: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1.

    Raises
    ------
    TypeError
        If ``value`` is not an int (``bool`` is refused: ``True`` is not a batch size).
    ValueError
        If ``value`` < 1; the message names ``field``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{field} must be >= 1, got {value!r}")
    return value


def positive_float(field: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is not finite or not > 0; the message names ``field``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{field} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{field} must be > 0, got {value!r}")
    return float(value)


def one_of(field: str, value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def name_registry(items: Iterable[T], what: str) -> dict[str, T]:
    """Index ``items`` by their ``name`` attribute, refusing two items with one name.

    A silently overwritten preset would make a look-up return numbers from the wrong source.
    """
    registry: dict[str, T] = {}
    for item in items:
        name = item.name
        if name in registry:
            raise ValueError(f"duplicate {what} name {name!r}")
        registry[name] = item
    return registry


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """Return ``registry[name]``, or raise a ValueError that lists the known names."""
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(registry)}") from None
