"""Memory capacity: weights, KV cache and activations per device, and the batch B_cap they leave room for.

B_cap is the largest system-wide batch (sequences in flight over all devices) whose KV
cache and activations fit in the HBM the weights leave free, at a given context. It is one
of the two limits on the batch next to the latency target (B_SLO, :mod:`.system`); the
paper's balance argument is that for MoE models it must reach B_MoE
(:func:`~rooftile.analysis.roofline.b_moe`) for the experts to be compute-bound.
"""

import math
from dataclasses import dataclass

from ..hdl.errors import InputError, positive_int
from .dtypes import element_bytes
from .hardware import HardwareSpec, get_hardware
from .mapping import Mapping, check_mapping, kv_shards, paper_mapping
from .models import GQAAttention, ModelConfig, get_model
from .ops import decode_layer_ops, ffn_ops

__all__ = [
    "parameter_counts",
    "weight_bytes_per_device",
    "kv_bytes_per_token",
    "activation_bytes_per_sequence",
    "Capacity",
    "capacity",
]

#: Parameter groups of :func:`parameter_counts`; all but ``routed_experts`` are TP-sharded.
NON_EXPERT_GROUPS = ("attention", "dense_ffn", "router", "shared_experts", "embeddings")


def parameter_counts(model: "str | ModelConfig") -> dict[str, float]:
    """Parameters of the whole model by group (keys of :data:`NON_EXPERT_GROUPS` and
    ``"routed_experts"``), read off the decode ops' weight bytes at one byte per element.

    NB: norms, biases and DeepSeek's multi-token-prediction module are not counted; the
    embedding and LM head count once each (once in all when tied).
    """
    model = get_model(model)
    counts = dict.fromkeys((*NON_EXPERT_GROUPS, "routed_experts"), 0.0)
    group_of = {"projection": "attention", "attention": "attention", "ffn": "dense_ffn",
                "router": "router", "shared_expert": "shared_experts"}
    for layer, n_layers in model.layer_counts.items():
        for op in decode_layer_ops(model, 1, 1, dtype="int8", layer=layer):
            if op.group in group_of:
                counts[group_of[op.group]] += n_layers * op.bytes_weights
        if layer == "moe":
            moe = model.moe
            experts = ffn_ops(1, model.hidden_size, moe.moe_intermediate_size, "int8", count=moe.n_routed_experts)
            counts["routed_experts"] += n_layers * sum(op.bytes_weights for op in experts)
    counts["embeddings"] = model.vocab_size * model.hidden_size * (1 if model.tie_word_embeddings else 2)
    return counts


def weight_bytes_per_device(model: "str | ModelConfig", mapping: Mapping, dtype: str = "bf16") -> float:
    """Weight bytes each device holds: non-expert weights over ``tp``, routed experts over ``ep``.

    NB: the absorbed form's W_UK/W_UV are the model's ``kv_b_proj`` (same parameter count);
    no optimizer or framework buffers.
    """
    counts = parameter_counts(model)
    non_expert = sum(counts[group] for group in NON_EXPERT_GROUPS)
    return (non_expert / mapping.tp + counts["routed_experts"] / mapping.ep) * element_bytes(dtype)


def kv_bytes_per_token(model: "str | ModelConfig", dtype: str = "bf16", layers: int | None = None) -> float:
    """KV-cache bytes one token adds, in ``layers`` layers (None: all of them).

    MHA/GQA cache a key and a value per K/V head: ``2 * kv_heads * head_dim * elt`` per layer.
    MLA caches one latent and one RoPE key shared by all heads:
    ``(kv_lora_rank + qk_rope_head_dim) * elt`` per layer.

    NB: every layer caches the whole context (Llama 4's chunked-attention layers, which keep
    only an 8192-token window, are counted in full).
    """
    model = get_model(model)
    att = model.attention
    if isinstance(att, GQAAttention):
        per_layer = 2 * att.num_key_value_heads * att.head_dim
    else:
        per_layer = att.kv_lora_rank + att.qk_rope_head_dim
    layers = model.num_hidden_layers if layers is None else positive_int("layers", layers)
    return per_layer * layers * element_bytes(dtype)


def activation_bytes_per_sequence(model: "str | ModelConfig", tp: int = 1, dtype: str = "bf16") -> float:
    """Estimate of the activation bytes one decoding sequence keeps live on a device.

    ``elt * (4 * hidden + widest / tp) + 4 * vocab / tp``: the residual stream and the
    normalised input, output and residual of one layer (4 hidden vectors), the widest
    intermediate of any layer (gate and up outputs of an FFN, a projection's output, or the
    ``top_k`` expert copies a token's dispatch creates), split over TP, and fp32 logits.

    NB: an estimate, not a measurement: decode does not keep activations across layers,
    and kernel workspaces, CUDA graphs and allocator fragmentation are not counted.
    """
    model = get_model(model)
    positive_int("tp", tp)
    widest = 0
    for layer in model.layer_counts:
        for op in decode_layer_ops(model, 1, 1, dtype="int8", layer=layer):
            widest = max(widest, op.bytes_activations_out)  # one token at one byte per element
    if model.moe is not None:
        widest = max(widest, 2 * model.moe.moe_intermediate_size * model.moe.num_experts_per_tok)
    return element_bytes(dtype) * (4 * model.hidden_size + widest / tp) + 4 * model.vocab_size / tp


@dataclass(frozen=True)
class Capacity:
    """What fits in each device's memory at one context, and the batch it allows.

    Members
    -------
    weight_bytes_per_device : float
    kv_bytes_per_sequence : float
        KV bytes of one sequence at ``context`` on each device that holds it (after TP).
    activation_bytes_per_sequence : float
    free_bytes_per_device : float
        Memory left by the weights (negative when they do not fit).
    b_cap : int
        Largest system-wide batch that fits: ``dp * floor(free / per-sequence bytes)``; 0
        when the weights alone do not fit.
    batch : int or None
        The batch asked for, if any.
    feasible : bool
        The weights fit, and so does ``batch`` when one was asked for.
    reason : str
        Why not, when not feasible; empty otherwise.
    """

    model: str
    machine: str
    mapping: str
    devices: int
    context: int
    dtype: str
    memory_bytes_per_device: float
    weight_bytes_per_device: float
    kv_bytes_per_sequence: float
    activation_bytes_per_sequence: float
    free_bytes_per_device: float
    b_cap: int
    batch: int | None
    feasible: bool
    reason: str

    def require(self) -> "Capacity":
        """Return self if feasible, else raise an InputError with :attr:`reason`."""
        if not self.feasible:
            raise InputError(self.reason)
        return self


def capacity(
    model: "str | ModelConfig",
    hw: "str | HardwareSpec",
    devices: int = 32,
    context: int = 4096,
    dtype: str = "bf16",
    mapping: Mapping | None = None,
    batch: int | None = None,
) -> Capacity:
    """B_cap of ``model`` on ``devices`` devices of ``hw`` under ``mapping`` at ``context``.

    Each device of a TP group holds its share of every sequence of the group, so a group
    fits ``floor(free / (kv + activations per sequence))`` sequences and the system ``dp``
    times that.

    Parameters
    ----------
    mapping : Mapping or None
        None: the model's paper mapping scaled to ``devices`` (:func:`paper_mapping`).
    batch : int or None
        A system batch to check: the result is flagged infeasible when it exceeds B_cap.

    Raises
    ------
    InputError
        On an unknown name, a mapping that does not fit ``devices``, or a machine without a
        memory capacity.
    """
    model, hw = get_model(model), get_hardware(hw)
    positive_int("context", context)
    mapping = paper_mapping(model, devices) if mapping is None else check_mapping(model, mapping, devices)
    if hw.memory_bytes is None:
        raise InputError(f"hardware {hw.name!r} has no memory capacity; capacity needs a preset with one")
    if batch is not None:
        positive_int("batch", batch)
    weights = weight_bytes_per_device(model, mapping, dtype)
    kv = kv_bytes_per_token(model, dtype) * context / kv_shards(model, mapping.tp)
    act = activation_bytes_per_sequence(model, mapping.tp, dtype)
    free = hw.memory_bytes - weights
    b_cap = mapping.dp * math.floor(free / (kv + act)) if free > 0 else 0
    where = f"{model.name} on {devices} x {hw.name} ({mapping}) at context {context}, {dtype}"
    if free <= 0:
        reason = (f"the weights of {where} need {weights / 1e9:.1f} GB per device, more than "
                  f"its {hw.memory_bytes / 1e9:.0f} GB")
    elif batch is not None and batch > b_cap:
        reason = f"batch {batch} does not fit {where}: allowed 1 to B_cap = {b_cap}"
    else:
        reason = ""
    return Capacity(
        model=model.name, machine=hw.name, mapping=str(mapping), devices=devices, context=context,
        dtype=dtype, memory_bytes_per_device=hw.memory_bytes, weight_bytes_per_device=weights,
        kv_bytes_per_sequence=kv, activation_bytes_per_sequence=act, free_bytes_per_device=free,
        b_cap=b_cap, batch=batch, feasible=not reason, reason=reason,
    )
