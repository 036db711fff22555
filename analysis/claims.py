"""The paper's headline claims (arXiv 2507.15465), computed from the op formulas.

1. Absorbed MLA raises decode attention's arithmetic intensity more than 100x over MHA at
   the same element size, because all heads read one shared latent cache.
2. MoE expert intensity grows with batch x top-k / experts (x expert-parallel devices), and
   reaches a dense FFN's intensity at a batch size computed here.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from ..hdl.errors import positive_int
from .models import MLAAttention, ModelConfig, get_model
from .moe import sample_routing, tokens_per_expert
from .ops import decode_layer_ops, ffn_ops, moe_ops, ops_in_group, total_intensity
from .roofline import crossover_batch

__all__ = [
    "attention_intensity",
    "dense_reference_intensity",
    "expert_intensity",
    "moe_dense_crossover",
    "HeadlineClaims",
    "headline_claims",
    "RoutingReport",
    "routing_imbalance",
    "SweepPoint",
    "intensity_sweep",
]


def attention_intensity(
    model: "str | ModelConfig", context: int, dtype: str = "bf16", attention: str = "absorbed",
    batch: int = 1, q_tokens: int = 1,
) -> float:
    """Decode intensity of the ops whose cost grows with context (score, softmax, context,
    and naive MLA's up-projection of the cache)."""
    ops = decode_layer_ops(model, batch, context, q_tokens, dtype, attention=attention)
    return total_intensity(ops_in_group(ops, "attention"))


def _require_moe(model: "str | ModelConfig") -> ModelConfig:
    model = get_model(model)
    if model.moe is None:
        raise ValueError(f"model {model.name!r} has no MoE layers")
    return model


def _require_mla(model: "str | ModelConfig") -> ModelConfig:
    model = get_model(model)
    if not isinstance(model.attention, MLAAttention):
        raise ValueError(f"model {model.name!r} does not use MLA")
    return model


def dense_reference_intensity(model: "str | ModelConfig", tokens: int, dtype: str = "bf16") -> float:
    """Intensity of the dense FFN an MoE model's experts are compared with, at ``tokens``.

    The model's own dense FFN when it has first-k dense layers; otherwise a dense FFN of one
    expert's shape, i.e. the expert as it would run if every token reached it.
    """
    model = _require_moe(model)
    width = model.intermediate_size if "dense" in model.layer_counts else model.moe.moe_intermediate_size
    return total_intensity(ffn_ops(tokens, model.hidden_size, width, dtype))


def expert_intensity(model: "str | ModelConfig", tokens: int, dtype: str = "bf16", ep_devices: int = 1) -> float:
    """Intensity of the routed experts of one device at ``tokens`` tokens per device."""
    return total_intensity(ops_in_group(moe_ops(model, tokens, dtype, ep_devices), "routed_experts"))


def moe_dense_crossover(
    model: "str | ModelConfig", batch: int, q_tokens: int = 1, dtype: str = "bf16",
    ep_devices: int = 1, max_batch: int = 2**20,
) -> int | None:
    """Smallest per-device batch at which the routed experts are as intense as the dense FFN
    is at ``batch``; None if not reached by ``max_batch``.

    Without expert parallelism this is about ``batch x n_experts / top_k``; EP over ``D``
    devices divides it by ``D``.
    """
    positive_int("batch", batch)
    positive_int("q_tokens", q_tokens)
    target = dense_reference_intensity(model, batch * q_tokens, dtype)
    return crossover_batch(
        lambda b: expert_intensity(model, b * q_tokens, dtype, ep_devices), target, max_batch
    )


@dataclass(frozen=True)
class HeadlineClaims:
    """The two headline figures, with the inputs they were computed at.

    Members
    -------
    mla_over_mha : float
        Absorbed-MLA decode attention intensity over MHA's; the paper claims > 100.
    moe_dense_crossover_batch, moe_dense_crossover_batch_ep : int or None
        Per-device batch at which the experts reach the dense FFN's intensity at ``batch``,
        without and with expert parallelism over ``ep_devices``.
    """

    dtype: str
    batch: int
    context: int
    ep_devices: int
    mha_model: str
    mla_model: str
    moe_model: str
    mha_attention_flop_per_byte: float
    mla_absorbed_attention_flop_per_byte: float
    mla_naive_attention_flop_per_byte: float
    mla_over_mha: float
    dense_ffn_flop_per_byte: float
    moe_expert_flop_per_byte: float
    moe_expert_ep_flop_per_byte: float
    moe_dense_crossover_batch: int | None
    moe_dense_crossover_batch_ep: int | None


def headline_claims(
    batch: int = 64,
    context: int = 4096,
    dtype: str = "bf16",
    ep_devices: int | None = None,
    mha_model: "str | ModelConfig" = "llama-2-7b",
    mla_model: "str | ModelConfig" = "deepseek-v3",
    moe_model: "str | ModelConfig" = "deepseek-v3",
) -> HeadlineClaims:
    """Compute both headline claims at one operating point.

    ``ep_devices=None`` uses the MoE model's ``balanced_ep_devices`` (32 for DeepSeek-V3),
    the EP width at which each expert expects as many tokens as one device's batch.
    """
    mha_model, mla_model, moe_model = get_model(mha_model), _require_mla(mla_model), _require_moe(moe_model)
    ep_devices = ep_devices or moe_model.moe.balanced_ep_devices
    mha = attention_intensity(mha_model, context, dtype, batch=batch)
    absorbed = attention_intensity(mla_model, context, dtype, "absorbed", batch=batch)
    return HeadlineClaims(
        dtype=dtype, batch=batch, context=context, ep_devices=ep_devices,
        mha_model=mha_model.name, mla_model=mla_model.name, moe_model=moe_model.name,
        mha_attention_flop_per_byte=mha,
        mla_absorbed_attention_flop_per_byte=absorbed,
        mla_naive_attention_flop_per_byte=attention_intensity(mla_model, context, dtype, "naive", batch=batch),
        mla_over_mha=absorbed / mha,
        dense_ffn_flop_per_byte=dense_reference_intensity(moe_model, batch, dtype),
        moe_expert_flop_per_byte=expert_intensity(moe_model, batch, dtype),
        moe_expert_ep_flop_per_byte=expert_intensity(moe_model, batch, dtype, ep_devices),
        moe_dense_crossover_batch=moe_dense_crossover(moe_model, batch, dtype=dtype),
        moe_dense_crossover_batch_ep=moe_dense_crossover(moe_model, batch, dtype=dtype, ep_devices=ep_devices),
    )


@dataclass(frozen=True)
class RoutingReport:
    """One seeded routing sample of an MoE layer, next to the expectation.

    Members
    -------
    tokens_routed : int
        Global batch routed: per-device tokens x EP devices.
    expected_tokens_per_expert : float
    min_tokens, max_tokens : int
        Coldest and hottest expert of the sample.
    mean_tokens : float
    hottest_flop_per_byte, coldest_active_flop_per_byte : float
        Intensity of the hottest expert and of the coldest expert that gets any token.
    """

    tokens_routed: int
    seed: int
    skew: float
    expected_tokens_per_expert: float
    min_tokens: int
    mean_tokens: float
    max_tokens: int
    hottest_flop_per_byte: float
    coldest_active_flop_per_byte: float


def routing_imbalance(
    model: "str | ModelConfig", tokens: int, dtype: str = "bf16", ep_devices: int = 1,
    seed: int = 0, skew: float = 0.0,
) -> RoutingReport:
    """Route ``tokens x ep_devices`` tokens once and report the spread of tokens per expert."""
    model = _require_moe(model)
    moe = model.moe
    sample = sample_routing(tokens, moe.num_experts_per_tok, moe.n_routed_experts, ep_devices, seed, skew)

    def one_expert(expert_tokens: int) -> float:
        return total_intensity(ffn_ops(expert_tokens, model.hidden_size, moe.moe_intermediate_size, dtype))

    return RoutingReport(
        tokens_routed=sample.tokens, seed=seed, skew=skew,
        expected_tokens_per_expert=tokens_per_expert(
            tokens, moe.num_experts_per_tok, moe.n_routed_experts, ep_devices),
        min_tokens=sample.min, mean_tokens=sample.mean, max_tokens=sample.max,
        hottest_flop_per_byte=one_expert(sample.max),
        coldest_active_flop_per_byte=one_expert(sample.min_active),
    )


@dataclass(frozen=True)
class SweepPoint:
    """Decode intensity of one op type at one batch size (a row of the intensity figure)."""

    series: str
    model: str
    batch: int
    intensity_flop_per_byte: float


def intensity_sweep(
    batches: Sequence[int],
    context: int = 4096,
    dtype: str = "bf16",
    ep_devices: int | None = None,
    mha_model: "str | ModelConfig" = "llama-2-7b",
    gqa_model: "str | ModelConfig" = "llama-3-70b",
    mla_model: "str | ModelConfig" = "deepseek-v3",
    moe_model: "str | ModelConfig" = "deepseek-v3",
) -> list[SweepPoint]:
    """Decode intensity against batch size for each op type of the paper's argument.

    Series: MHA, GQA, MLA naive and absorbed attention; the dense FFN the experts are
    compared with; MoE routed experts without and with EP over ``ep_devices`` (None: the
    MoE model's ``balanced_ep_devices``).
    """
    models = dict(mha=get_model(mha_model), gqa=get_model(gqa_model), mla=_require_mla(mla_model),
                  moe=_require_moe(moe_model))
    ep_devices = ep_devices or models["moe"].moe.balanced_ep_devices
    series = {
        "MHA attention": ("mha", lambda b: attention_intensity(models["mha"], context, dtype, batch=b)),
        "GQA attention": ("gqa", lambda b: attention_intensity(models["gqa"], context, dtype, batch=b)),
        "MLA naive attention": ("mla", lambda b: attention_intensity(models["mla"], context, dtype, "naive", b)),
        "MLA absorbed attention": ("mla", lambda b: attention_intensity(models["mla"], context, dtype, batch=b)),
        "dense FFN": ("moe", lambda b: dense_reference_intensity(models["moe"], b, dtype)),
        "MoE expert": ("moe", lambda b: expert_intensity(models["moe"], b, dtype)),
        f"MoE expert, EP={ep_devices}": ("moe", lambda b: expert_intensity(models["moe"], b, dtype, ep_devices)),
    }
    return [
        SweepPoint(series=label, model=models[role].name, batch=b, intensity_flop_per_byte=at(b))
        for label, (role, at) in series.items()
        for b in batches
    ]
