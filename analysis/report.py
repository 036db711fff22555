"""Tidy per-op result rows for a layer on a machine, and their CSV, JSON and text forms.

One row per op (LLMCompass-style data-then-plot split): the plots and the CLI table read
these rows, and the CSV/JSON files hold exactly them, with units in the column names.
"""

import csv
import dataclasses
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..hdl.errors import one_of
from .hardware import HardwareSpec, get_hardware
from .models import ModelConfig, get_model
from .ops import decode_layer_ops, prefill_layer_ops
from .roofline import ridge_batches, roofline

__all__ = ["PHASES", "OpRow", "layer_rows", "write_csv", "write_json", "format_table"]

PHASES = ("decode", "prefill")


@dataclass(frozen=True)
class OpRow:
    """One op of one layer on one machine: workload, counts and roofline result.

    ``ridge_batch`` is the smallest batch at which the op turns compute-bound on this
    machine, with everything else held fixed (None: not up to 2^20).
    """

    model: str
    phase: str
    layer: str
    attention: str
    dtype: str
    hardware: str
    batch: int
    context: int
    q_tokens: int
    ep_devices: int
    op: str
    group: str
    kind: str
    gemm_m: float | None
    gemm_n: int | None
    gemm_k: int | None
    gemm_count: float | None
    flop: float
    bytes_weights: float
    bytes_kv_cache: float
    bytes_activations_in: float
    bytes_activations_out: float
    intensity_flop_per_byte: float
    attainable_flop_per_s: float
    bound: str
    time_s: float
    ridge_batch: int | None


def layer_rows(
    model: "str | ModelConfig",
    hw: "str | HardwareSpec",
    batch: int,
    context: int,
    q_tokens: int = 1,
    phase: str = "decode",
    dtype: str = "bf16",
    ep_devices: int = 1,
    attention: str = "absorbed",
    layer: str | None = None,
) -> list[OpRow]:
    """Answer "what does layer X of model Y cost at batch B and context L on machine Z".

    In prefill, ``context`` is the prompt length (``seq``) and ``q_tokens`` is ignored.
    """
    model, hw = get_model(model), get_hardware(hw)
    one_of("phase", phase, PHASES)
    if phase == "decode":
        ops_at = functools.partial(decode_layer_ops, model, context=context, q_tokens=q_tokens, dtype=dtype,
                                   ep_devices=ep_devices, attention=attention, layer=layer)
    else:
        q_tokens = context
        ops_at = functools.partial(prefill_layer_ops, model, seq=context, dtype=dtype,
                                   ep_devices=ep_devices, attention=attention, layer=layer)
    ops = ops_at(batch)
    ridge = ridge_batches(ops_at, hw, dtype)
    layer = layer or model.default_layer
    workload = dict(model=model.name, phase=phase, layer=layer, attention=attention, dtype=dtype,
                    hardware=hw.name, batch=batch, context=context, q_tokens=q_tokens, ep_devices=ep_devices)
    rows = []
    for op in ops:
        counts = {f.name: getattr(op, f.name) for f in dataclasses.fields(op) if f.name != "name"}
        point = roofline(op.flop, op.bytes_total, hw, dtype)
        rows.append(OpRow(**workload, op=op.name, **counts, **dataclasses.asdict(point), ridge_batch=ridge[op.name]))
    return rows


def write_csv(rows: Sequence, path: "str | Path") -> None:
    """Write dataclass ``rows`` to ``path`` as CSV with a header of their field names."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, [field.name for field in dataclasses.fields(rows[0])])
        writer.writeheader()
        writer.writerows(dataclasses.asdict(row) for row in rows)


def write_json(rows: "Sequence | object", path: "str | Path") -> None:
    """Write dataclass ``rows`` (or one dataclass) to ``path`` as strict JSON.

    An infinite intensity (an op that moves no DRAM bytes) becomes ``null``: JSON has no
    infinity, and Python's ``Infinity`` extension breaks other readers.
    """

    def clean(value):
        return None if isinstance(value, float) and math.isinf(value) else value

    def record(row) -> dict:
        return {key: clean(value) for key, value in dataclasses.asdict(row).items()}

    data = record(rows) if dataclasses.is_dataclass(rows) else [record(row) for row in rows]
    Path(path).write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")


def _shape(row: OpRow) -> str:
    if row.gemm_m is None:
        return "vector"

    def size(value: float) -> str:  # exact when whole, 4 digits for an expected value
        return str(int(value)) if float(value).is_integer() else f"{value:.4g}"

    count = f"{size(row.gemm_count)}x " if row.gemm_count != 1 else ""
    return f"{count}{size(row.gemm_m)}x{row.gemm_n}x{row.gemm_k}"


def format_table(rows: Sequence[OpRow]) -> str:
    """An aligned text table of ``rows`` with a total line per layer.

    Columns: GEMM shape as ``[count x] M x N x K``, GFLOP, MB moved by kind, intensity,
    bound, time, and the batch at which the op would turn compute-bound.
    """

    def cells(op: str, shape: str, group: Sequence[OpRow], bound: str, ridge: str) -> tuple[str, ...]:
        flop = sum(row.flop for row in group)
        weights = sum(row.bytes_weights for row in group)
        kv = sum(row.bytes_kv_cache for row in group)
        act = sum(row.bytes_activations_in + row.bytes_activations_out for row in group)
        moved = weights + kv + act
        intensity = flop / moved if moved else math.inf
        return (group[0].layer, op, shape, f"{flop / 1e9:.3f}", f"{weights / 1e6:.2f}", f"{kv / 1e6:.2f}",
                f"{act / 1e6:.2f}", f"{intensity:.1f}", bound, f"{sum(row.time_s for row in group) * 1e6:.2f}",
                ridge)

    header = ("layer", "op", "gemm [count x] MxNxK", "GFLOP", "MB weights", "MB kv", "MB act",
              "FLOP/B", "bound", "time us", "ridge batch")
    lines = [header]
    for layer in dict.fromkeys(row.layer for row in rows):
        in_layer = [row for row in rows if row.layer == layer]
        lines += [
            cells(row.op, _shape(row), [row], row.bound, "never" if row.ridge_batch is None else str(row.ridge_batch))
            for row in in_layer
        ]
        lines.append(cells("TOTAL", "", in_layer, "", ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, 1, 2, 8}
    return "\n".join(
        "  ".join(cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        .rstrip()
        for line in lines
    )
