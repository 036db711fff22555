"""What a sweep runs: points over tile fields, the attention unit, machines, models,
batches and study options, read from TOML and checked before anything is built.

A sweep file has up to four tables::

    [sweep]              # name, and the two axes of the report's heat maps
    [fixed]              # values every point shares (any key of SWEEP_KEYS)
    [grid]               # lists: the points are their cartesian product
    [[points]]           # explicit points, each over [fixed]; with [grid], added to it

Every value is checked on its own first (unknown keys and bad values end the sweep with
one error that lists them all); a point whose values are each fine but cannot be built
together (a bandwidth above what a word per cycle carries, a layer whose scaled ops do not
fit the scratchpads) is skipped with the reason.
"""

import dataclasses
import hashlib
import itertools
import json
import tomllib
from fractions import Fraction
from pathlib import Path

from ...analysis.cost import MACHINES
from ...analysis.models import MODELS
from ...hdl.errors import InputError, integer, lookup, one_of, positive_float
from ...hdl.params import (ATTENTION_UNIT_PRESETS, DATA_WIDTHS, DATAFLOWS, AttentionUnit,
                           TileConfig, rational)
from ..run.flow import rtl_digest
from ..run.simulators import SIMULATORS
from ..study.schedules import compile_scaled, lower_workload
from ..study.spec import MLA_FORMS, StudySpec, Workload

__all__ = ["SweepError", "SWEEP_KEYS", "Point", "Sweep", "load_sweep", "sweep_from_tables",
           "EXAMPLE"]


class SweepError(InputError):
    """A sweep file that cannot run; the message names every bad key and value."""


def _int(minimum):
    return lambda key, value: integer(key, value, minimum)


def _rate(key, value):
    if isinstance(value, bool):
        raise InputError(f"{key} must be a number such as 2, 1.75 or \"7/4\", got {value!r}")
    return str(rational(key, value))


def _width(key, value):
    if isinstance(value, bool) or value not in DATA_WIDTHS:
        raise InputError(f"{key} must be one of {DATA_WIDTHS}, got {value!r}")
    return value


#: Element formats a sweep extrapolates to (the cost model's units price these two).
DTYPES = {"bf16": 16, "fp8": 8}

#: Every key a point may set, with its check (returning the value as stored).
SWEEP_KEYS = {
    # TileConfig fields (the attention unit is the next key).
    "rows": _int(1), "cols": _int(1), "sp_depth": _int(2), "acc_depth": _int(1),
    "dram_depth": _int(1), "program_depth": _int(2), "dram_latency": _int(1),
    "acc_width": _int(1), "max_reduction": _int(1),
    "data_width": lambda k, v: _width(k, v),
    "dataflow": lambda k, v: one_of(k, v, DATAFLOWS),
    "dram_bytes_per_cycle": _rate,
    "clock_Hz": positive_float,
    "attention_unit": lambda k, v: one_of(k, v, ("none", *ATTENTION_UNIT_PRESETS)),
    # The workload and where it is extrapolated to.
    "model": lambda k, v: lookup(MODELS, v, "model") and v,
    "batch": _int(1),
    "machine": lambda k, v: lookup(MACHINES, v, "machine") and v,
    # Study options.
    "dtype": lambda k, v: one_of(k, v, DTYPES),
    "context": _int(1), "ep_devices": _int(1), "max_context": _int(1), "max_width": _int(1),
    "max_head_dim": _int(1), "max_instances": _int(1), "seed": _int(0),
    "attention": lambda k, v: one_of(k, v, MLA_FORMS),
    "simulator": lambda k, v: one_of(k, v, SIMULATORS),
}
_TILE_KEYS = ("rows", "cols", "sp_depth", "acc_depth", "dram_depth", "program_depth",
              "dram_latency", "acc_width", "max_reduction", "data_width", "dataflow",
              "dram_bytes_per_cycle", "clock_Hz")
_STUDY_KEYS = ("context", "ep_devices", "max_context", "max_width", "max_head_dim",
               "max_instances", "seed", "attention", "simulator")
#: What a point leaves out: TileConfig's and StudySpec's own defaults, and these.
DEFAULTS = {"attention_unit": "none", "machine": "h100"}
REQUIRED = ("model", "batch")


@dataclasses.dataclass(frozen=True)
class Point:
    """One variant and workload: every key's value (defaults filled in)."""
    values: dict

    @property
    def config(self):
        """The tile; with an attention unit, the unit's memories are the tile's."""
        v = self.values
        tile = {k: v[k] for k in _TILE_KEYS if k in v}
        if "dram_bytes_per_cycle" in tile:
            tile["dram_bytes_per_cycle"] = Fraction(tile["dram_bytes_per_cycle"])
        if "data_width" in tile and "acc_width" not in tile:
            tile["acc_width"] = 48 if tile["data_width"] == 16 else 32
        config = TileConfig(**tile)
        if v["attention_unit"] != "none":
            unit = AttentionUnit(v["attention_unit"], sp_depth=config.sp_depth,
                                 acc_depth=config.acc_depth, dram_depth=config.dram_depth,
                                 program_depth=config.program_depth)
            config = config.replace(attention_unit=unit)
        return config

    @property
    def dtype(self):
        """The element format: given, or the one the operand width stands for."""
        return self.values.get("dtype") or ("bf16" if self.config.data_width == 16 else "fp8")

    @property
    def spec(self):
        """The one-workload StudySpec this point lowers and runs."""
        v = self.values
        return StudySpec(config=self.config, workloads=(Workload(v["model"], v["batch"]),),
                         dtype=self.dtype, machines=(v["machine"],),
                         **{k: v[k] for k in _STUDY_KEYS if k in v})

    @property
    def engine(self):
        """The attention unit's engine tile, or None."""
        config = self.config
        return config.attention_unit_tile() if config.attention_unit else None

    @property
    def build_key(self):
        """Points with equal keys share their builds (the tile's and the engine's)."""
        engine = self.engine
        return (self.spec.simulator, self.config.digest, engine.digest if engine else None)

    @property
    def digest(self):
        """Names the point's results: the tile with its DRAM rate, latency, clock and
        unit (not only ``TileConfig.digest``, which leaves those out), the workload, the
        options, the machine and the RTL (:func:`~rooftile.sim.run.flow.rtl_digest`: a
        design edit recomputes every point)."""
        spec = self.spec
        text = json.dumps({"rtl": rtl_digest(), "tile": self.config.to_json(),
                           "tile_digest": self.config.digest,
                           "study": {k: v for k, v in spec.to_json().items() if k != "config"}},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def lower(self):
        """``(layer, tile programs, engine programs)``: the workload's scaled ops, compiled
        for the tile and (attention, with a unit) for the unit's engine.

        Raises
        ------
        StudyError
            An op that does not fit.
        """
        spec, engine = self.spec, self.engine
        layer = lower_workload(spec, spec.workloads[0])
        on_unit = [op for op in layer.scaled if engine and op.attention is not None]
        on_tile = [op for op in layer.scaled if op not in on_unit]
        return (layer, compile_scaled(spec.config, on_tile),
                compile_scaled(engine, on_unit) if on_unit else {})

    def value(self, key):
        """``key``'s value in this point, a default one included (as a sweep file writes it)."""
        if key in self.values:
            return self.values[key]
        if key == "dtype":
            return self.dtype
        value = getattr(self.config if key in _TILE_KEYS else self.spec, key)
        return str(value) if key == "dram_bytes_per_cycle" else value

    def label(self, keys):
        return " ".join(f"{k}={self.values.get(k, '(default)')}" for k in keys)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """The points that run, the ones skipped with their reason, and the report's axes."""
    name: str
    points: tuple
    skipped: tuple          # (values, reason)
    axes: tuple             # keys that vary, the heat maps' two first
    out: str | None = None


def _checked(where, table, problems):
    """``table`` with every value checked (lists: each item); problems are collected."""
    out = {}
    for key, value in table.items():
        if key not in SWEEP_KEYS:
            problems.append(f"{where}: unknown key {key!r}")
            continue
        try:
            if isinstance(value, list):
                if not value:
                    raise InputError(f"{key} lists no value")
                out[key] = [SWEEP_KEYS[key](key, item) for item in value]
            else:
                out[key] = SWEEP_KEYS[key](key, value)
        except (InputError, TypeError, ValueError) as error:
            problems.append(f"{where}: {error}")
    return out


def sweep_from_tables(document, where="sweep"):
    """The :class:`Sweep` of a parsed sweep file (see the module docstring).

    Raises
    ------
    SweepError
        Unknown tables or keys, bad values (all named at once), axes that are not
        swept, or no point that can run.
    """
    problems = []
    unknown = set(document) - {"sweep", "fixed", "grid", "points"}
    if unknown:
        problems.append(f"unknown tables {sorted(unknown)}; allowed: sweep, fixed, grid, "
                        f"points")
    head = document.get("sweep", {})
    for key in set(head) - {"name", "axes", "out"}:
        problems.append(f"[sweep]: unknown key {key!r}; allowed: name, axes, out")
    fixed = _checked("[fixed]", document.get("fixed", {}), problems)
    for key, value in fixed.items():
        if isinstance(value, list):
            problems.append(f"[fixed]: {key} must be one value; lists go in [grid]")
    grid = _checked("[grid]", document.get("grid", {}), problems)
    for key, value in grid.items():
        if not isinstance(value, list):
            grid[key] = [value]
    explicit = [_checked(f"[[points]] #{i + 1}", p, problems)
                for i, p in enumerate(document.get("points", []))]
    if problems:
        raise SweepError(f"{where}: " + "; ".join(problems) + "; allowed keys: "
                         + ", ".join(SWEEP_KEYS))
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    rows = (combos if grid or not explicit else []) + explicit
    varying = [k for k in SWEEP_KEYS
               if len({json.dumps(r.get(k, fixed.get(k))) for r in rows}) > 1]
    axes = tuple(head.get("axes", varying[:2]))
    bad_axes = [a for a in axes if a not in varying]
    if bad_axes or len(axes) > 2:
        raise SweepError(f"{where}: [sweep] axes must name at most two keys that vary "
                         f"between points ({', '.join(varying) or 'none vary'}); got "
                         f"{list(axes)}")
    points, skipped, seen = [], [], set()
    for row in rows:
        values = {**DEFAULTS, **fixed, **row}
        missing = [k for k in REQUIRED if k not in values]
        if missing:
            raise SweepError(f"{where}: every point needs {', '.join(missing)} (in [fixed], "
                             f"[grid] or [[points]])")
        point = Point(values)
        try:
            point.lower()          # builds the configs and compiles: does it fit?
        except (InputError, TypeError, ValueError) as error:
            skipped.append((values, str(error)))
            continue
        if point.digest not in seen:
            seen.add(point.digest)
            # The report's axes and tables name every varying key, defaults included.
            points.append(Point({**values, **{k: point.value(k) for k in varying}}))
    if not points:
        raise SweepError(f"{where}: no point can run; " + "; ".join(
            f"{Point(v).label(varying) or 'the point'}: {why}" for v, why in skipped))
    return Sweep(head.get("name", "sweep"), tuple(points), tuple(skipped), axes + tuple(
        k for k in varying if k not in axes), head.get("out"))


def load_sweep(path):
    """Read and check a sweep file (:func:`sweep_from_tables`).

    Raises
    ------
    SweepError
        An unreadable file, or anything :func:`sweep_from_tables` refuses.
    """
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SweepError(f"cannot read sweep file {path}: {error}") from None
    return sweep_from_tables(document, where=str(path))


#: ``rooftile sweep --example``: 2 array shapes x 3 DRAM rates of one small decode layer.
EXAMPLE = """\
# rooftile sweep --config sweep.toml: 2 array shapes x 3 DRAM rates, one decode layer of
# Llama-3-8B (GQA) at batch 4, scaled down to 64 tokens of context and widths of 64.
[sweep]
name = "example"
axes = ["rows", "dram_bytes_per_cycle"]     # the heat maps' x and y

[fixed]                  # every point
cols = 4
data_width = 8           # fp8 operands (data_width 16 is bf16)
sp_depth = 1024
acc_depth = 512
dram_depth = 16384
program_depth = 8192
model = "llama-3-8b"
batch = 4
machine = "h100"         # full-size extrapolation and energy
max_context = 64
max_width = 64
max_head_dim = 32
max_instances = 1

[grid]                   # the cartesian product of these lists
rows = [2, 4]
dram_bytes_per_cycle = ["1", "2", "4"]

# Explicit points may follow, each over [fixed], e.g.:
# [[points]]
# rows = 4
# attention_unit = "logic-die"
"""
