"""The error hierarchy and the one set of input checks: what they accept, and messages
that name the field, the value and what is allowed."""

import math

import pytest

from rooftile.hdl.errors import (InputError, InputTypeError, RooftileError, integer, lookup,
                                 name_registry, one_of, positive_float, positive_int)


def test_input_errors_are_rooftile_errors_and_builtin_ones():
    assert issubclass(InputError, RooftileError) and issubclass(InputError, ValueError)
    assert issubclass(InputTypeError, RooftileError) and issubclass(InputTypeError, TypeError)
    assert not issubclass(InputError, TypeError)


def test_integer_checks_type_and_minimum():
    assert integer("rows", 0, 0) == 0 and positive_int("rows", 7) == 7
    with pytest.raises(InputTypeError, match="rows must be an integer, got True"):
        positive_int("rows", True)
    with pytest.raises(InputTypeError, match="rows must be an integer, got 2.0"):
        positive_int("rows", 2.0)
    with pytest.raises(InputError, match="rows must be >= 1, got 0"):
        positive_int("rows", 0)
    with pytest.raises(InputError, match="depth must be >= 2, got 1"):
        integer("depth", 1, 2)


def test_positive_float_refuses_what_is_not_a_finite_positive_number():
    assert positive_float("clock_Hz", 3) == 3.0 and isinstance(positive_float("x", 3), float)
    for bad in (0, -1.5, math.inf, math.nan):
        with pytest.raises(InputError, match=r"clock_Hz must be > 0, got"):
            positive_float("clock_Hz", bad)
    for bad in ("1e9", None, False):
        with pytest.raises(InputTypeError, match="clock_Hz must be a number"):
            positive_float("clock_Hz", bad)


def test_one_of_lists_what_is_allowed():
    assert one_of("simulator", "icarus", ("verilator", "icarus")) == "icarus"
    with pytest.raises(InputError, match="simulator must be one of verilator, icarus; "
                                         "got 'xsim'"):
        one_of("simulator", "xsim", iter(["verilator", "icarus"]))


class Item:
    def __init__(self, name):
        self.name = name


def test_registry_refuses_duplicates_and_lookup_lists_the_known_names():
    registry = name_registry([Item("h100"), Item("tile")], "hardware")
    assert lookup(registry, "tile", "hardware") is registry["tile"]
    with pytest.raises(InputError, match="duplicate hardware name 'h100'"):
        name_registry([Item("h100"), Item("h100")], "hardware")
    with pytest.raises(InputError, match="unknown hardware 'tpu'; known: h100, tile"):
        lookup(registry, "tpu", "hardware")
    with pytest.raises(InputError, match=r"unknown hardware \['h100'\]"):
        lookup(registry, ["h100"], "hardware")   # unhashable: still a clear error
