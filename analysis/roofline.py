"""The roofline model: attainable performance, bound and time of an op on a machine.

:func:`roofline` is a small pure function, as in LLM-Viewer's ``roofline_model.py``; the
rest applies it to the ops of a layer and searches for the batch at which an op's
intensity crosses a target (the machine's ridge point, or another op's intensity).
"""

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from ..hdl.errors import InputError, positive_int
from .dtypes import element_bytes
from .hardware import HardwareSpec, get_hardware
from .models import ModelConfig, get_model
from .ops import Op

__all__ = ["RooflinePoint", "roofline", "layer_time", "crossover_batch", "ridge_batches", "b_moe"]


@dataclass(frozen=True)
class RooflinePoint:
    """Where an op sits on a machine's roofline.

    Members
    -------
    intensity_flop_per_byte : float
        FLOPs per DRAM byte (infinite when no bytes move).
    attainable_flop_per_s : float
        ``min(peak, intensity x bandwidth)``.
    bound : str
        ``"compute"`` or ``"memory"``: which limit sets the time (compute at the ridge itself).
    time_s : float
        ``max(flop / peak, bytes / bandwidth)``: compute and memory traffic fully overlapped.
    """

    intensity_flop_per_byte: float
    attainable_flop_per_s: float
    bound: str
    time_s: float


def roofline(flop: float, bytes_: float, hw: "str | HardwareSpec", dtype: str = "bf16") -> RooflinePoint:
    """Place ``flop`` FLOPs over ``bytes_`` DRAM bytes on the roofline of ``hw`` for ``dtype``.

    NB: the ideal roofline: no launch or pipeline latency, perfect overlap of compute and
    memory, and full use of the matrix units whatever the GEMM shape (an M=1 GEMV is charged
    at peak when it is compute-bound).
    """
    if flop < 0 or bytes_ < 0 or flop + bytes_ == 0:
        raise ValueError(f"flop and bytes_ must be >= 0 and not both 0, got {flop!r} and {bytes_!r}")
    hw = get_hardware(hw)
    peak = hw.peak_flop_per_s(dtype)
    compute_s = flop / peak
    memory_s = bytes_ / hw.bandwidth_bytes_per_s
    intensity = flop / bytes_ if bytes_ else float("inf")
    return RooflinePoint(
        intensity_flop_per_byte=intensity,
        attainable_flop_per_s=min(peak, intensity * hw.bandwidth_bytes_per_s),
        bound="compute" if compute_s >= memory_s else "memory",
        time_s=max(compute_s, memory_s),
    )


def layer_time(
    ops: Iterable[Op], hw: "str | HardwareSpec", dtype: str = "bf16",
    fused: Iterable[Collection[str]] = (),
) -> float:
    """Seconds for ``ops`` run one after another, each at its own roofline time.

    Parameters
    ----------
    fused : iterable of collections of op names
        Kernels that run several ops fused (e.g.
        :func:`~rooftile.analysis.ops.fused_kernels`): the ops of a kernel are charged as one
        op, ``max(their FLOPs / peak, their bytes / bandwidth)``, since inside one kernel a
        compute-bound part overlaps a memory-bound one. The default charges every op apart.

    NB: no overlap between kernels, and no communication (the expert-parallel all-to-all and
    tensor-parallel reductions are in :mod:`~rooftile.analysis.system`).
    """
    ops = list(ops)
    kernel_of = {}
    for index, names in enumerate(fused):
        for name in names:
            if name in kernel_of:
                raise InputError(f"op {name!r} is in two fused kernels")
            kernel_of[name] = index
    kernels: dict[object, list[Op]] = {}
    for op in ops:
        kernels.setdefault(kernel_of.get(op.name, ("op", op.name)), []).append(op)
    return sum(
        roofline(sum(op.flop for op in group), sum(op.bytes_total for op in group), hw, dtype).time_s
        for group in kernels.values()
    )


def crossover_batch(
    intensity_at: Callable[[int], float], target: float, max_batch: int = 2**20
) -> int | None:
    """Smallest batch in ``[1, max_batch]`` whose intensity reaches ``target``, or None.

    Doubles the batch until the target is reached, then bisects, so the search costs about
    ``2 log2(max_batch)`` evaluations and always ends.

    Parameters
    ----------
    intensity_at : callable
        Batch size -> arithmetic intensity; must not decrease as the batch grows (true of
        every op in :mod:`~rooftile.analysis.ops`: bytes grow no faster than FLOPs).
    target : float
    max_batch : int
        Largest batch searched.
    """
    positive_int("max_batch", max_batch)
    if intensity_at(1) >= target:
        return 1
    low = 1  # the largest batch known to fall short
    while True:
        if low >= max_batch:
            return None
        high = min(2 * low, max_batch)
        if intensity_at(high) >= target:
            break
        low = high
    while high - low > 1:
        mid = (low + high) // 2
        if intensity_at(mid) >= target:
            high = mid
        else:
            low = mid
    return high


def ridge_batches(
    ops_at: Callable[[int], list[Op]],
    hw: "str | HardwareSpec",
    dtype: str = "bf16",
    max_batch: int = 2**20,
) -> dict[str, int | None]:
    """For each op of a layer, the smallest batch at which it becomes compute-bound on ``hw``.

    Parameters
    ----------
    ops_at : callable
        Batch size -> the layer's ops, e.g. ``functools.partial(decode_layer_ops, model,
        context=4096)`` called with ``batch=``.

    Returns
    -------
    dict
        Op name -> batch, or None when the op stays memory-bound up to ``max_batch`` (decode
        attention: its KV bytes grow with the batch as fast as its FLOPs).
    """
    ridge = get_hardware(hw).ridge_flop_per_byte(dtype)

    def intensity_of(name: str) -> Callable[[int], float]:
        return lambda batch: next(op for op in ops_at(batch) if op.name == name).intensity_flop_per_byte

    return {op.name: crossover_batch(intensity_of(op.name), ridge, max_batch) for op in ops_at(1)}


def b_moe(model: "str | ModelConfig", hw: "str | HardwareSpec", dtype: str = "bf16") -> float:
    """B_MoE as the paper defines it: the system-wide batch at which a routed expert's weight
    reads reach the ridge point of ``hw``.

    An expert that serves ``m`` tokens does ``2 m`` FLOPs per weight element it reads
    (``elt`` bytes), so its weight intensity is ``2 m / elt`` and reaches the ridge ``R`` at
    ``m = R elt / 2`` tokens. With uniform routing an expert receives ``B top_k / n_experts``
    of a global batch ``B``, so::

        B_MoE = R * elt / 2 * n_experts / top_k

    It does not depend on the number of expert-parallel devices: the global batch is what
    each expert sees. Returned as a real number; every batch at or above it reaches the ridge.

    NB: weight bytes only (the token activations an expert reads and writes are left out,
    as in the paper's definition), uniform routing (an imbalance factor Gamma > 1 makes the
    hot experts reach it sooner and the cold ones later). This is a different quantity from
    :func:`~rooftile.analysis.claims.moe_dense_crossover`, the per-device batch at which the
    experts' full intensity (weights and activations, expected active experts) matches the
    dense FFN's at a given batch.
    """
    model = get_model(model)
    if model.moe is None:
        raise InputError(f"model {model.name!r} has no MoE layers, so no B_MoE")
    ridge = get_hardware(hw).ridge_flop_per_byte(dtype)
    return ridge * element_bytes(dtype) / 2 * model.moe.n_routed_experts / model.moe.num_experts_per_tok
