"""A decode step of a whole deployment: time per output token (TPOT) and the batch B_SLO a
latency target allows.

One decode step runs every layer once for a system-wide batch of ``B`` sequences. Under a
:class:`~rooftile.analysis.mapping.Mapping`, each TP group decodes ``ceil(B / dp)``
sequences, each device does ``1 / tp`` of its group's non-expert work and reads ``1 / tp``
of those weights, and the routed experts of an MoE layer compute the ``B * top_k``
expert-token pairs spread over the devices (the busiest device ``gamma`` times the mean).
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..hdl.errors import InputError, positive_float, positive_int
from .capacity import capacity
from .dtypes import element_bytes
from .hardware import HardwareSpec, get_hardware
from .interconnect import InterconnectSpec, a2a_time, allreduce_time, get_interconnect
from .mapping import Mapping, check_mapping, kv_shards, paper_mapping
from .models import ModelConfig, get_model
from .moe import active_experts
from .ops import decode_layer_ops, ffn_ops, make_op, ops_in_group
from .roofline import b_moe

__all__ = ["DecodeStep", "tpot", "b_slo", "BalancePoint", "balance_sweep", "TpotPoint", "tpot_sweep"]


@dataclass(frozen=True)
class DecodeStep:
    """Time of one decode step over all layers and the LM head, on the busiest device.

    Members
    -------
    compute_s : float
        FLOPs over the peak, summed over layers.
    weights_s, kv_s, activations_s : float
        DRAM bytes of each kind over the bandwidth, summed over layers.
    comm_s : float
        TP all-reduces and EP all-to-alls (dispatch and combine), summed over layers.
    tpot_s : float
        Sum over layers of ``max(compute, memory)`` plus ``comm_s``.
    """

    model: str
    machine: str
    interconnect: str
    mapping: str
    batch: int
    context: int
    dtype: str
    attention: str
    gamma: float
    compute_s: float
    weights_s: float
    kv_s: float
    activations_s: float
    comm_s: float
    tpot_s: float


def _layer_costs(model: ModelConfig, layer: str, batch: int, context: int, mapping: Mapping,
                 dtype: str, attention: str, gamma: float) -> tuple[float, float, float, float]:
    """FLOPs, weight, KV and activation bytes of one ``layer`` on the busiest device."""
    group_batch = math.ceil(batch / mapping.dp)
    ops = decode_layer_ops(model, group_batch, context, dtype=dtype, attention=attention, layer=layer)
    shared = [op for op in ops if op.group != "routed_experts"]
    tp, shards = mapping.tp, kv_shards(model, mapping.tp)
    flop = sum(op.flop for op in shared) / tp
    weights = sum(op.bytes_weights for op in shared) / tp
    kv = sum(op.bytes_kv_cache for op in shared) / shards
    acts = sum(op.bytes_activations_in + op.bytes_activations_out for op in shared) / tp
    if ops_in_group(ops, "routed_experts"):
        moe = model.moe
        # Each expert has devices / ep copies, each serving that share of the tokens.
        replica_batch = math.ceil(batch * mapping.ep / mapping.devices)
        active = active_experts(replica_batch, moe.num_experts_per_tok, moe.n_routed_experts, mapping.ep)
        pairs = gamma * batch * moe.num_experts_per_tok / mapping.devices
        experts = ffn_ops(pairs / active, model.hidden_size, moe.moe_intermediate_size, dtype, count=active)
        flop += sum(op.flop for op in experts)
        weights += sum(op.bytes_weights for op in experts)
        acts += sum(op.bytes_activations_in + op.bytes_activations_out for op in experts)
    return flop, weights, kv, acts


def _layer_comm(model: ModelConfig, layer: str, batch: int, mapping: Mapping, dtype: str,
                link: InterconnectSpec, gamma: float) -> float:
    """Seconds of communication of one ``layer``: two TP all-reduces of the group's hidden
    states (after attention and after the FFN), and an MoE layer's dispatch and combine."""
    hidden_bytes = math.ceil(batch / mapping.dp) * model.hidden_size * element_bytes(dtype)
    seconds = 2 * allreduce_time(hidden_bytes, mapping.tp, link)
    if layer == "moe":
        # Every device dispatches an equal share of the system's tokens; the busiest device
        # receives gamma times the mean, and the all-to-all waits for it.
        tokens = gamma * batch / mapping.devices
        seconds += 2 * a2a_time(tokens, model.hidden_size, model.moe.num_experts_per_tok, mapping.ep, link, dtype)
    return seconds


def tpot(
    model: "str | ModelConfig",
    hw: "str | HardwareSpec",
    link: "str | InterconnectSpec",
    batch: int,
    context: int,
    devices: int = 32,
    mapping: Mapping | None = None,
    dtype: str = "bf16",
    attention: str = "absorbed",
    gamma: float = 1.0,
    check_capacity: bool = True,
) -> DecodeStep:
    """TPOT(B, L): seconds of one decode step of a system batch ``batch`` at ``context``.

    Every layer runs at the roofline of its total FLOPs and DRAM bytes on the busiest device
    (compute and memory traffic overlapped within a layer, as a pipelined kernel schedule
    would); its communication is added, not overlapped. The LM head adds one GEMM.

    Parameters
    ----------
    gamma : float
        Expert imbalance factor (:func:`~rooftile.analysis.moe.zipf_imbalance`), >= 1.
    check_capacity : bool
        Refuse a batch beyond B_cap (:func:`~rooftile.analysis.capacity.capacity`).

    Raises
    ------
    InputError
        On an unknown name, a mapping that does not fit ``devices``, ``gamma < 1``, or (with
        ``check_capacity``) a batch that does not fit in memory.

    NB: no prefill interference, no kernel launch or scheduling overheads; embeddings'
    lookups and norms are not counted; every communication goes over ``link`` (in practice
    TP stays inside an NVLink domain).
    """
    model, hw, link = get_model(model), get_hardware(hw), get_interconnect(link)
    positive_int("batch", batch)
    positive_int("context", context)
    if not gamma >= 1:
        raise InputError(f"gamma must be >= 1, got {gamma!r}")
    mapping = paper_mapping(model, devices) if mapping is None else check_mapping(model, mapping, devices)
    if check_capacity:
        capacity(model, hw, devices, context, dtype, mapping, batch).require()
    peak, bw = hw.peak_flop_per_s(dtype), hw.bandwidth_bytes_per_s
    totals = dict(compute=0.0, weights=0.0, kv=0.0, acts=0.0, comm=0.0, time=0.0)
    lm_head = make_op("linear", "lm_head", "projection", tokens=math.ceil(batch / mapping.dp),
                      in_features=model.hidden_size, out_features=model.vocab_size, elt=element_bytes(dtype))
    head = (lm_head.flop / mapping.tp, lm_head.bytes_weights / mapping.tp, 0.0,
            (lm_head.bytes_activations_in + lm_head.bytes_activations_out) / mapping.tp)
    parts = [(n, _layer_costs(model, layer, batch, context, mapping, dtype, attention, gamma),
              _layer_comm(model, layer, batch, mapping, dtype, link, gamma))
             for layer, n in model.layer_counts.items()]
    for n, (flop, weights, kv, acts), comm in [*parts, (1, head, 0.0)]:
        totals["compute"] += n * flop / peak
        totals["weights"] += n * weights / bw
        totals["kv"] += n * kv / bw
        totals["acts"] += n * acts / bw
        totals["comm"] += n * comm
        totals["time"] += n * (max(flop / peak, (weights + kv + acts) / bw) + comm)
    return DecodeStep(
        model=model.name, machine=hw.name, interconnect=link.name, mapping=str(mapping), batch=batch,
        context=context, dtype=dtype, attention=attention, gamma=gamma, compute_s=totals["compute"],
        weights_s=totals["weights"], kv_s=totals["kv"], activations_s=totals["acts"],
        comm_s=totals["comm"], tpot_s=totals["time"],
    )


def b_slo(
    model: "str | ModelConfig",
    hw: "str | HardwareSpec",
    link: "str | InterconnectSpec",
    tpot_target_s: float,
    context: int,
    devices: int = 32,
    mapping: Mapping | None = None,
    dtype: str = "bf16",
    attention: str = "absorbed",
    gamma: float = 1.0,
) -> int | None:
    """B_SLO: the largest system batch, up to B_cap, whose TPOT meets ``tpot_target_s``.

    None when even one sequence misses the target or the weights do not fit. Bisects, since
    TPOT does not decrease with the batch.
    """
    positive_float("tpot_target_s", tpot_target_s)
    limit = capacity(model, hw, devices, context, dtype, mapping).b_cap

    def meets(batch: int) -> bool:
        return tpot(model, hw, link, batch, context, devices, mapping, dtype, attention, gamma,
                    check_capacity=False).tpot_s <= tpot_target_s

    if limit < 1 or not meets(1):
        return None
    low, high = 1, limit  # meets(low) holds
    if meets(high):
        return high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if meets(mid) else (low, mid)
    return low


@dataclass(frozen=True)
class BalancePoint:
    """B_cap and B_MoE of one model at one context (a point of the balance figure)."""

    model: str
    machine: str
    devices: int
    context: int
    b_cap: int
    b_moe: float | None


def balance_sweep(
    models: Iterable["str | ModelConfig"], hw: "str | HardwareSpec", contexts: Sequence[int],
    devices: int = 32, dtype: str = "bf16",
) -> list[BalancePoint]:
    """B_cap (paper mapping) and B_MoE (None for a dense model) against context, per model."""
    points = []
    for model in models:
        model = get_model(model)
        moe_batch = b_moe(model, hw, dtype) if model.moe is not None else None
        for context in contexts:
            points.append(BalancePoint(model=model.name, machine=get_hardware(hw).name, devices=devices,
                                       context=context, b_cap=capacity(model, hw, devices, context, dtype).b_cap,
                                       b_moe=moe_batch))
    return points


@dataclass(frozen=True)
class TpotPoint:
    """TPOT of one model at one batch over one interconnect (a point of the TPOT figure)."""

    model: str
    machine: str
    interconnect: str
    batch: int
    context: int
    tpot_s: float
    comm_s: float


def tpot_sweep(
    model: "str | ModelConfig", hw: "str | HardwareSpec", links: Iterable["str | InterconnectSpec"],
    batches: Sequence[int], context: int, devices: int = 32, dtype: str = "bf16", gamma: float = 1.0,
) -> list[TpotPoint]:
    """TPOT against batch for each interconnect; batches beyond B_cap are left out."""
    limit = capacity(model, hw, devices, context, dtype).b_cap
    points = []
    for link in links:
        for batch in (b for b in batches if b <= limit):
            step = tpot(model, hw, link, batch, context, devices, dtype=dtype, gamma=gamma, check_capacity=False)
            points.append(TpotPoint(model=step.model, machine=step.machine, interconnect=step.interconnect,
                                    batch=batch, context=context, tpot_s=step.tpot_s, comm_s=step.comm_s))
    return points
