"""``rooftile study``: decode layers of real models on the RTL tile, against the roofline.

A study is a tile configuration and a list of workloads (model x batch). For each
workload the layer's ops are scaled (:mod:`rooftile.sim.study.run.schedules`), every distinct
scaled program runs once on the RTL with its output checked bit-exactly, and each op is
reported with three numbers: RTL cycles, the analytical tile model's cycles and the
roofline's. The model then extrapolates each op to full size on real machines.

Extrapolation (what the model carries to full size): a roofline of the full op on the
machine, derated by two efficiencies the model predicts for the scaled op and the RTL
confirms: the *mapping* efficiency (useful MACs per busy array step: an ``M = 1`` GEMV
uses one row of the array, at any size) on the compute side, and the achieved fraction
of the DRAM rate (latency, softmax and pipeline bubbles) on the memory side when the
scaled op is memory-bound. ``time = max(flop / (peak * mapping), bytes / (bandwidth *
dram_efficiency))``.
"""

import dataclasses
import datetime
import importlib.metadata
import platform
import subprocess
import sys
import time
import tomllib
from fractions import Fraction
from pathlib import Path

from ...analysis.hardware import HARDWARE, get_hardware, tile_hardware
from ...analysis.models import MODELS, GQAAttention, get_model
from ...analysis.moe import sample_routing
from ...analysis.ops import decode_layer_ops
from ...analysis.roofline import roofline
from ...analysis.study_report import write_study
from ...hdl.params import TileConfig
from ..run import flow
from .schedules import lower_layer, measurement, run_scaled
from ..run.simulators import simulator_version

__all__ = ["Workload", "StudySpec", "balanced_tile", "default_spec", "load_spec",
           "run_study", "StudyError", "Derates", "lower_workload"]

SIMULATORS = ("verilator", "icarus")


class StudyError(ValueError):
    """A study specification that cannot run; the message says what is allowed."""


@dataclasses.dataclass(frozen=True)
class Workload:
    """One decode layer: a model at a batch size (sequences per device)."""
    model: str
    batch: int

    @property
    def label(self):
        return f"{self.model} b={self.batch}"


def balanced_tile(hw="h100", dtype="fp8", rows=8, cols=8, **fields):
    """A tile whose ridge point (peak ops per DRAM byte) matches machine ``hw``'s for
    ``dtype``: ``dram_bytes_per_cycle = 2 * rows * cols / ridge``.

    Scratchpad and accumulator depths default to what the default study's absorbed-MLA
    attention needs (128 heads sharing one latent over 512 tokens; see
    :func:`~rooftile.sim.compile.attention.compile_attention`).
    """
    ridge = get_hardware(hw).ridge_flop_per_byte(dtype)
    fields = {"sp_depth": 24576, "acc_depth": 10240, "dram_depth": 1 << 16,
              "program_depth": 1 << 14, "dram_latency": 32, **fields}
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
        Element format of the full-size ops; the tile's operands should be as wide
        (int8 tile -> ``"fp8"`` or ``"int8"``).
    ep_devices : int
        Expert-parallel devices for MoE layers.
    attention : str
        MLA form, ``"absorbed"`` or ``"naive"``.
    machines : tuple of str
        Presets the full-size ops are extrapolated to.
    max_context, max_width, max_head_dim, max_instances : int
        Scaling limits (see :func:`~rooftile.sim.study.run.schedules.lower_layer`).
    seed : int
        Seeds the operands and the MoE routing sample.
    simulator : str
    """
    config: TileConfig
    workloads: tuple
    context: int = 4096
    # One byte per element, as the int8 tile moves; DeepSeek-V3 serves in FP8 (its
    # technical report, arXiv 2412.19437, section 3.3).
    dtype: str = "fp8"
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

    def __post_init__(self):
        if not self.workloads:
            raise StudyError("a study needs at least one workload")
        for w in self.workloads:
            if w.model not in MODELS:
                raise StudyError(f"unknown model {w.model!r}; known: {', '.join(MODELS)}")
            if isinstance(w.batch, bool) or not isinstance(w.batch, int) or w.batch < 1:
                raise StudyError(f"batch must be an integer >= 1, got {w.batch!r}")
        for machine in self.machines:
            if machine not in HARDWARE:
                raise StudyError(f"unknown machine {machine!r}; known: {', '.join(HARDWARE)}")
        if self.simulator not in SIMULATORS:
            raise StudyError(f"simulator must be one of {SIMULATORS}, got {self.simulator!r}")
        if self.attention not in ("absorbed", "naive"):
            raise StudyError(f"attention must be 'absorbed' or 'naive', got {self.attention!r}")
        for name in ("context", "ep_devices", "max_context", "max_width", "max_head_dim",
                     "max_instances"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StudyError(f"{name} must be an integer >= 1, got {value!r}")

    def to_json(self):
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_json()
        d["workloads"] = [dataclasses.asdict(w) for w in self.workloads]
        d["machines"] = list(self.machines)
        return d


#: The default study's models: one per attention type, with the sources in analysis.models.
DEFAULT_MODELS = ("llama-2-7b", "llama-3-70b", "deepseek-v3")
DEFAULT_BATCHES = (1, 16, 128)


def default_spec(**changes):
    """The built-in study: an 8x8 int8 tile balanced like an H100 at fp8, MHA
    (Llama-2-7B), GQA (Llama-3-70B) and MLA + MoE (DeepSeek-V3) decode at 4096 tokens of
    context and batches 1, 16 and 128."""
    workloads = tuple(Workload(m, b) for m in DEFAULT_MODELS for b in DEFAULT_BATCHES)
    spec = {"config": balanced_tile(), "workloads": workloads, **changes}
    return StudySpec(**spec)


def load_spec(path, **overrides):
    """Read a study from a TOML file: a ``[tile]`` table of TileConfig fields (or
    ``balanced_to = "h100"`` to set the bandwidth from a machine's ridge), a ``[study]``
    table of :class:`StudySpec` fields with ``models`` and ``batches`` lists.

    Raises
    ------
    StudyError
        An unreadable file or unknown keys, naming them and the allowed ones.
    """
    try:
        text = Path(path).read_text()
        document = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise StudyError(f"cannot read study file {path}: {error}") from None
    unknown = set(document) - {"tile", "study"}
    if unknown:
        raise StudyError(f"{path}: unknown tables {sorted(unknown)}; allowed: tile, study")
    tile = dict(document.get("tile", {}))
    study = dict(document.get("study", {}))
    fields = {f.name for f in dataclasses.fields(StudySpec)} - {"config", "workloads"}
    allowed = fields | {"models", "batches"}
    unknown = set(study) - allowed
    if unknown:
        raise StudyError(f"{path}: unknown [study] keys {sorted(unknown)}; allowed: "
                         f"{', '.join(sorted(allowed))}")
    balanced_to = tile.pop("balanced_to", None)
    try:
        if balanced_to or not tile:
            config = balanced_tile(balanced_to or "h100", study.get("dtype", "fp8"), **tile)
        else:
            config = TileConfig.from_json(tile)
    except (TypeError, ValueError) as error:
        raise StudyError(f"{path}: [tile]: {error}") from None
    models = study.pop("models", DEFAULT_MODELS)
    batches = study.pop("batches", DEFAULT_BATCHES)
    for key in ("machines",):
        if key in study:
            study[key] = tuple(study[key])
    study.update(overrides)
    workloads = tuple(Workload(m, b) for m in models for b in batches)
    return StudySpec(config=config, workloads=workloads, **study)


def _provenance(spec):
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent, check=False)
    return {
        "rooftile_version": version("rooftile"),
        "git_commit": commit.stdout.strip() or "unknown",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "simulator": spec.simulator,
        "simulator_version": simulator_version(spec.simulator),
        "python": platform.python_version(),
        "amaranth": version("amaranth"), "cocotb": version("cocotb"),
        "numpy": version("numpy"),
        "tile_config": spec.config.to_json(),
        "tile_digest": spec.config.digest,
        "study": {k: v for k, v in spec.to_json().items() if k != "config"},
        "seed": spec.seed,
    }


def _routing(spec, model, batch):
    """Tokens per expert on device 0 in one seeded routing sample; None without MoE."""
    moe = get_model(model).moe
    if moe is None or get_model(model).default_layer != "moe":
        return None
    try:
        sample = sample_routing(batch, moe.num_experts_per_tok, moe.n_routed_experts,
                                spec.ep_devices, seed=spec.seed)
    except ValueError as error:
        raise StudyError(f"{model}: {error}") from None
    local = sample.counts[:max(1, moe.n_routed_experts // spec.ep_devices)]
    active = [c for c in local if c > 0] or [0]   # an idle device runs one token
    return {"experts_on_device": len(local), "active": len(active),
            "min": min(active), "max": max(active),
            "mean": sum(active) / len(active), "global_mean": sample.mean}


@dataclasses.dataclass(frozen=True)
class Derates:
    """What the model, validated on a scaled op, carries to full size (module docstring).

    ``mapping``: useful MACs per busy array step over the array's MACs; ``dram``: the
    achieved fraction of the DRAM rate when the scaled op is memory-bound, else 1."""
    mapping: float
    dram: float

    @classmethod
    def of(cls, config, op, result):
        pred = result.prediction
        mapping = op.flop / 2 / (pred.array_busy * config.peak_macs_per_cycle)
        moved = pred.bytes_read + pred.bytes_written
        scaled = roofline(op.flop, moved, tile_hardware(config, clock_Hz=1.0))  # s = cycles
        dram = (min(1.0, moved / float(config.dram_bytes_per_cycle) / pred.cycles)
                if scaled.bound == "memory" else 1.0)
        return cls(mapping, dram)

    def time_s(self, flop, bytes_, hw, dtype):
        """Seconds of a full-size op of ``flop`` and ``bytes_`` on machine ``hw``."""
        hw = get_hardware(hw)
        return max(flop / (hw.peak_flop_per_s(dtype) * self.mapping),
                   bytes_ / (hw.bandwidth_bytes_per_s * self.dram))


@dataclasses.dataclass(frozen=True)
class Layer:
    """A workload's decode layer, lowered: its attention type, scaled ops and routing."""
    workload: Workload
    attention: str
    scaled: list
    routing: dict | None


def lower_workload(spec, w):
    """Scale the decode layer of workload ``w`` (routed experts at the tokens per expert
    of a seeded routing sample)."""
    model = get_model(w.model)
    ops = decode_layer_ops(w.model, batch=w.batch, context=spec.context, dtype=spec.dtype,
                           ep_devices=spec.ep_devices, attention=spec.attention)
    gqa = isinstance(model.attention, GQAAttention)
    scaled = lower_layer(ops, mla_absorbed=not gqa and spec.attention == "absorbed",
                         max_context=spec.max_context, max_width=spec.max_width,
                         max_head_dim=spec.max_head_dim, max_instances=spec.max_instances)
    routing = _routing(spec, w.model, w.batch)
    if routing:
        tokens = max(1, round(routing["mean"]))
        scaled = [dataclasses.replace(op, gemm=(tokens, *op.gemm[1:]))
                  if op.group == "routed_experts" else op for op in scaled]
    kind = (f"mla-{spec.attention}" if not gqa else
            "mha" if model.attention.group_size == 1 else "gqa")
    return Layer(w, kind, scaled, routing)


def run_study(spec, out_dir, *, progress=print, verdict=True, comparison=True):
    """Run ``spec`` and write its results folder; return the written paths by kind.

    ``verdict`` adds the attention-unit comparison (:mod:`rooftile.sim.study.verdict`);
    ``comparison=False`` writes only the verdict's files.

    Raises
    ------
    StudyError
        A workload whose scaled ops do not fit the tile (raised before any build).
    """
    began = time.perf_counter()
    layers = [lower_workload(spec, w) for w in spec.workloads]
    every = [op for layer in layers for op in layer.scaled]
    try:
        for op in {op.key: op for op in every}.values():
            op.program(spec.config)     # compile errors before the long build
    except ValueError as error:
        raise StudyError(f"a scaled op does not fit the tile: {error}") from None
    progress(f"study: {len(spec.workloads)} workloads, {len(every)} ops, "
             f"{len({op.key for op in every})} distinct programs")
    configs = [spec.config]
    if verdict:
        from .verdict import variants
        configs += [variant.unit or variant.tile for variant in variants(spec.config)]
    progress(f"building {len({c.digest for c in configs})} configurations "
             f"(in parallel, cached ones are reused)")
    flow.build_many(configs, simulator=spec.simulator)
    results = run_scaled(spec.config, every, seed=spec.seed, simulator=spec.simulator,
                         progress=progress)
    simulated = time.perf_counter()

    measurements, routing_rows, layer_rows = [], [], []
    for layer in layers:
        w, kind, scaled, routing = (layer.workload, layer.attention, layer.scaled,
                                    layer.routing)
        for op in scaled:
            result = results[op.key]
            measurements.append(measurement(
                spec.config, op, result, workload=w.label, model=w.model, attention=kind,
                batch=w.batch, full_time_s={
                    name: Derates.of(spec.config, op, result).time_s(
                        op.full_flop, op.full_bytes, name, spec.dtype)
                    for name in spec.machines}))
        if routing:
            routing_rows.append({"workload": w.label, "ep_devices": spec.ep_devices,
                                 **{k: (round(v, 2) if isinstance(v, float) else v)
                                    for k, v in routing.items()}})
        mine = measurements[-len(scaled):]
        for name in spec.machines:
            total = sum(m.full_time_s[name] for m in mine)
            ideal = sum(roofline(op.full_flop, op.full_bytes, name, spec.dtype).time_s
                        for op in scaled)
            attention = sum(m.full_time_s[name] for m in mine if m.group == "attention")
            layer_rows.append({"workload": w.label, "machine": name,
                               "layer_us": round(total * 1e6, 3),
                               "roofline_layer_us": round(ideal * 1e6, 3),
                               "attention_share_pct": round(100 * attention / total, 1)})
    bad = [m for m in measurements if not m.exact]
    provenance = _provenance(spec)
    provenance["wall_s"] = {"simulate": round(simulated - began, 1),
                            "total": round(time.perf_counter() - began, 1)}
    provenance["all_exact"] = not bad
    extra = {"Full-size decode layer time per machine (model-extrapolated)": layer_rows}
    if routing_rows:
        extra["MoE routing sample (tokens per expert on device 0)"] = routing_rows
    paths = {}
    if verdict:
        from .verdict import run_verdict, write_verdict
        rows, breakdown = run_verdict(spec, layers, results, progress=progress)
        text, paths = write_verdict(out_dir, spec.config, rows, breakdown, spec.machines)
        provenance["wall_s"]["total"] = round(time.perf_counter() - began, 1)
    if comparison:
        paths.update(write_study(out_dir, measurements, provenance, extra))
        if verdict:
            report = paths["report"]
            report.write_text(report.read_text() + "\n" + text + "\n")
    written = "report.md" if comparison else "verdict.md"
    progress(f"study: wrote {Path(out_dir) / written} "
             f"({time.perf_counter() - began:.0f} s; "
             f"{'all outputs bit-exact' if not bad else f'{len(bad)} outputs WRONG'})")
    if bad:
        raise StudyError(f"{len(bad)} ops differ from the numpy golden model: "
                         + ", ".join(f"{m.workload}/{m.op}" for m in bad))
    return paths


def default_out_dir():
    """``results/study-<UTC timestamp>`` in the working directory."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"study-{stamp}"
