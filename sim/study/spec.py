"""What a study runs: the tile, the workloads, the scaling limits, read from defaults,
a TOML file and options, and checked before anything is built."""

import dataclasses
import tomllib
from fractions import Fraction
from pathlib import Path

from ...analysis.cost import MACHINES, UNITS
from ...analysis.hardware import get_hardware
from ...analysis.models import MODELS
from ...analysis.ops import MLA_EXECUTION_ORDERS
from ...hdl.errors import InputError, one_of
from ...hdl.params import AttentionUnit, TileConfig
from ..run.simulators import SIMULATORS

__all__ = ["Workload", "StudySpec", "StudyError", "MLA_FORMS", "CHIP_UNITS", "balanced_tile",
           "default_spec", "load_spec"]

#: The forms MLA's attention can be simulated in: its execution orders (the accounting
#: forms of ``analysis.ops.MLA_FORMS`` are roofline bookkeeping of the absorbed order).
MLA_FORMS = MLA_EXECUTION_ORDERS
#: The units a chip can put beside the tile: every unit, each running a contiguous group
#: of a layer's ops (the attention, or an MoE layer's routed experts).
CHIP_UNITS = tuple(UNITS)


class StudyError(InputError):
    """A study specification that cannot run; the message says what is allowed."""


@dataclasses.dataclass(frozen=True)
class Workload:
    """One decode layer: a model at a batch size (sequences per device)."""
    model: str
    batch: int

    @property
    def label(self):
        return f"{self.model} b={self.batch}"


#: Operand and accumulator widths of the tile per element format: 16-bit operands stand
#: for bf16, 8-bit for fp8 and int8; the accumulator holds 4096 extreme products.
TILE_WIDTHS = {"bf16": (16, 48), "fp8": (8, 32), "int8": (8, 32)}


def balanced_tile(hw="h100", dtype="bf16", rows=8, cols=8, **fields):
    """A tile whose ridge point (peak ops per DRAM byte) matches machine ``hw``'s for
    ``dtype``: ``dram_bytes_per_cycle = 2 * rows * cols / ridge``, with operands as wide
    as ``dtype``'s (:data:`TILE_WIDTHS`).

    Scratchpad and accumulator depths default to what the default study's absorbed-MLA
    attention needs (128 heads sharing one latent over 512 tokens; see
    :func:`~rooftile.sim.compile.attention.compile_attention`).
    """
    ridge = get_hardware(hw).ridge_flop_per_byte(dtype)
    data_width, acc_width = TILE_WIDTHS[one_of("dtype", dtype, TILE_WIDTHS)]
    # DRAM and program memory hold a whole layer as one program (DeepSeek-V3 at batch
    # 128: 117,504 words and 31,995 instructions).
    fields = {"data_width": data_width, "acc_width": acc_width, "sp_depth": 24576,
              "acc_depth": 10240, "dram_depth": 1 << 17, "program_depth": 1 << 15,
              "dram_latency": 32, **fields}
    bandwidth = Fraction(2 * rows * cols / ridge).limit_denominator(1 << 12)
    return TileConfig(rows=rows, cols=cols, dram_bytes_per_cycle=bandwidth, **fields)


@dataclasses.dataclass(frozen=True)
class StudySpec:
    """Everything a study runs, and so everything its results record.

    Members
    -------
    config : TileConfig
    workloads : tuple of Workload
    context : int
        Full-size tokens each sequence attends to.
    dtype : str
        Element format of the full-size ops; the tile's operands must be as wide
        (:data:`TILE_WIDTHS`: 16-bit for ``"bf16"``, 8-bit for ``"fp8"`` or ``"int8"``).
    ep_devices : int
        Expert-parallel devices for MoE layers.
    attention : str
        MLA form, ``"absorbed"`` or ``"naive"``.
    machines : tuple of str
        Presets the full-size ops are extrapolated to.
    max_context, max_width, max_head_dim, max_instances : int
        Scaling limits (see :func:`~rooftile.sim.study.schedules.lower_layer`).
    seed : int
        Seeds the operands and the MoE routing sample.
    simulator : str
    chip_units : tuple of str
        Units (:data:`CHIP_UNITS`) co-simulated beside the tile on the chip, every layer
        with ops the unit runs, with one batch and two interleaved sub-batches; none by
        default.
    compare_dataflows : bool
        Also run every scaled op on the same tile with each other dataflow
        (:data:`~rooftile.hdl.params.DATAFLOWS`) and report them side by side.
    """
    config: TileConfig
    workloads: tuple
    context: int = 4096
    # The paper's bf16; "fp8" (DeepSeek-V3 serves in FP8, arXiv 2412.19437, section 3.3)
    # with an 8-bit tile is the option.
    dtype: str = "bf16"
    # Between a single node's EP8 and DeepSeek-V3's decoding deployment of EP320 (same
    # report, section 3.4.2): enough tokens per expert at batch 16-128 to show the trend.
    ep_devices: int = 32
    attention: str = "absorbed"
    machines: tuple = ("h100", "b200")
    max_context: int = 512
    max_width: int = 256
    max_head_dim: int = 64
    max_instances: int = 2
    seed: int = 0
    simulator: str = "verilator"
    chip_units: tuple = ()
    compare_dataflows: bool = False

    def __post_init__(self):
        if not self.workloads:
            raise StudyError("a study needs at least one workload")
        for w in self.workloads:
            if w.model not in MODELS:
                raise StudyError(f"unknown model {w.model!r}; known: {', '.join(MODELS)}")
            if isinstance(w.batch, bool) or not isinstance(w.batch, int) or w.batch < 1:
                raise StudyError(f"batch must be an integer >= 1, got {w.batch!r}")
        for machine in self.machines:
            if machine not in MACHINES:
                raise StudyError(f"unknown machine {machine!r}; the cost model knows: "
                                 f"{', '.join(MACHINES)}")
        if self.simulator not in SIMULATORS:
            raise StudyError(f"simulator must be one of {SIMULATORS}, got {self.simulator!r}")
        if self.dtype not in TILE_WIDTHS:
            raise StudyError(f"dtype must be one of {', '.join(TILE_WIDTHS)}, got {self.dtype!r}")
        if self.config.data_width != TILE_WIDTHS[self.dtype][0]:
            raise StudyError(f"dtype {self.dtype!r} needs a {TILE_WIDTHS[self.dtype][0]}-bit "
                             f"tile, got data_width={self.config.data_width}; allowed: "
                             + ", ".join(f"{d} with {w}-bit" for d, (w, _) in TILE_WIDTHS.items()))
        if self.attention not in MLA_FORMS:
            raise StudyError(f"attention must be one of {', '.join(MLA_FORMS)}, "
                             f"got {self.attention!r}")
        for kind in self.chip_units:
            if kind not in CHIP_UNITS:
                raise StudyError(f"chip unit must be one of {', '.join(CHIP_UNITS)}, "
                                 f"got {kind!r}")
        for name in ("context", "ep_devices", "max_context", "max_width", "max_head_dim",
                     "max_instances"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StudyError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.compare_dataflows, bool):
            raise StudyError(f"compare_dataflows must be true or false, got "
                             f"{self.compare_dataflows!r}")

    def to_json(self):
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_json()
        d["workloads"] = [dataclasses.asdict(w) for w in self.workloads]
        d["machines"] = list(self.machines)
        d["chip_units"] = list(self.chip_units)
        return d


#: The default study's models: one per attention type, with the sources in analysis.models.
DEFAULT_MODELS = ("llama-2-7b", "llama-3-70b", "deepseek-v3")
DEFAULT_BATCHES = (1, 16, 128)


def default_spec(**changes):
    """The built-in study: an 8x8 16-bit tile balanced like an H100 at bf16, MHA
    (Llama-2-7B), GQA (Llama-3-70B) and MLA + MoE (DeepSeek-V3) decode at 4096 tokens of
    context and batches 1, 16 and 128."""
    workloads = tuple(Workload(m, b) for m in DEFAULT_MODELS for b in DEFAULT_BATCHES)
    dtype = changes.get("dtype", "bf16")
    spec = {"config": balanced_tile(dtype=dtype), "workloads": workloads, **changes}
    return StudySpec(**spec)


#: The type each ``[study]`` key of a TOML file must have (lists: of that type).
_STUDY_KEYS = {"models": [str], "batches": [int], "machines": [str], "context": int,
               "dtype": str, "ep_devices": int, "attention": str, "max_context": int,
               "max_width": int, "max_head_dim": int, "max_instances": int, "seed": int,
               "simulator": str, "chip_units": [str], "compare_dataflows": bool}
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false"}


def _checked(path, table, key, value):
    """``value`` of ``[table] key`` if it has the type :data:`_STUDY_KEYS` names."""
    wanted = _STUDY_KEYS[key]
    if isinstance(wanted, list):
        (item,) = wanted
        if not isinstance(value, list) or not all(
                isinstance(v, item) and not isinstance(v, bool) for v in value):
            example = {"models": '["llama-2-7b"]', "machines": '["h100"]'}.get(key, "[1, 16]")
            raise StudyError(f"{path}: [{table}] {key} must be a list of "
                             f"{'strings' if item is str else 'integers'}, e.g. "
                             f"{key} = {example}; got {value!r}")
        return tuple(value)
    if not isinstance(value, wanted) or (isinstance(value, bool) and wanted is not bool):
        raise StudyError(f"{path}: [{table}] {key} must be {_TYPE_NAMES[wanted]}, "
                         f"got {value!r}")
    return value


def _tile_config(path, tile, dtype):
    """The TileConfig of a ``[tile]`` table: ``balanced_to`` a machine (the bandwidth
    follows from its ridge point) or every field given."""
    fields = {f.name for f in dataclasses.fields(TileConfig)}
    unknown = set(tile) - fields - {"balanced_to"}
    if unknown:
        raise StudyError(f"{path}: unknown [tile] keys {sorted(unknown)}; allowed: "
                         f"balanced_to, {', '.join(sorted(fields))}")
    tile = dict(tile)
    balanced_to = tile.pop("balanced_to", None)
    if balanced_to is not None and "dram_bytes_per_cycle" in tile:
        raise StudyError(f"{path}: [tile] balanced_to sets dram_bytes_per_cycle from the "
                         f"machine's ridge point; give one of the two, not both")
    unit = tile.pop("attention_unit", None)
    try:
        if unit is not None:
            if not isinstance(unit, dict):
                raise StudyError(f"{path}: [tile.attention_unit] must be a table, got {unit!r}")
            tile["attention_unit"] = AttentionUnit(**unit)
        if balanced_to is not None or "dram_bytes_per_cycle" not in tile:
            return balanced_tile(balanced_to or "h100", dtype, **tile)
        return TileConfig(**tile)
    except (TypeError, ValueError) as error:
        raise StudyError(f"{path}: [tile]: {error}") from None


def load_spec(path, **overrides):
    """Read a study from a TOML file: a ``[tile]`` table of TileConfig fields (or
    ``balanced_to = "h100"`` to set the bandwidth from a machine's ridge), a ``[study]``
    table of :class:`StudySpec` fields with ``models`` and ``batches`` lists.

    Raises
    ------
    StudyError
        An unreadable file, unknown keys or values of the wrong type, naming the key,
        the value and what is allowed.
    """
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise StudyError(f"cannot read study file {path}: {error}") from None
    unknown = set(document) - {"tile", "study"}
    if unknown:
        raise StudyError(f"{path}: unknown tables {sorted(unknown)}; allowed: tile, study")
    for table in ("tile", "study"):
        if not isinstance(document.get(table, {}), dict):
            raise StudyError(f"{path}: {table} must be a table ([{table}]), "
                             f"got {document[table]!r}")
    study = document.get("study", {})
    unknown = set(study) - set(_STUDY_KEYS)
    if unknown:
        raise StudyError(f"{path}: unknown [study] keys {sorted(unknown)}; allowed: "
                         f"{', '.join(sorted(_STUDY_KEYS))}")
    study = {key: _checked(path, "study", key, value) for key, value in study.items()}
    config = _tile_config(path, document.get("tile", {}), study.get("dtype", "bf16"))
    models = study.pop("models", DEFAULT_MODELS)
    batches = study.pop("batches", DEFAULT_BATCHES)
    study.update(overrides)
    workloads = tuple(Workload(m, b) for m in models for b in batches)
    if "chip_units" in study:
        study["chip_units"] = tuple(study["chip_units"])
    return StudySpec(config=config, workloads=workloads, **study)
