"""The paper's claims (arXiv 2507.15465), computed from the op formulas.

1. Absorbed MLA raises decode attention's arithmetic intensity more than 100x over MHA at
   the same element size, because all heads read one shared latent cache.
2. MoE expert intensity grows with batch x top-k / experts (x expert-parallel devices), and
   reaches a dense FFN's intensity at a batch size computed here.
3. :func:`paper_claims`: every quantitative claim of the paper rooftile computes (ridge
   points, Table III attention intensities, KV bytes, B_MoE, B_cap, all-to-all time, expert
   imbalance, TPOT and B_SLO), each with its settings, formula and function, for
   ``rooftile claims``.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from ..hdl.errors import positive_int
from .capacity import capacity, kv_bytes_per_token
from .hardware import HARDWARE, HardwareSpec, get_hardware
from .interconnect import INTERCONNECTS, a2a_time, get_interconnect
from .mapping import paper_mapping
from .models import MLAAttention, ModelConfig, get_model
from .moe import sample_routing, tokens_per_expert, zipf_imbalance
from .ops import (
    CORE_ATTENTION, core_attention_ops, decode_layer_ops, ffn_ops, moe_ops, ops_in_group, total_intensity,
)
from .roofline import b_moe, crossover_batch, layer_time
from .system import b_slo, tpot

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
    "core_attention_intensity",
    "reordering_speedup",
    "Claim",
    "paper_claims",
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

    NB: not the paper's B_MoE (:func:`~rooftile.analysis.roofline.b_moe`), which is the
    system-wide batch at which an expert's weight reads reach the machine's ridge point.
    This one compares experts with the dense FFN, per device, with activations and the
    expected number of active experts counted.
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


def core_attention_intensity(
    model: "str | ModelConfig", context: int, dtype: str = "bf16", attention: str = "absorbed",
    batch: int = 1,
) -> float:
    """Decode intensity of core attention as the paper's Table III counts it: score, softmax
    and context (:data:`~rooftile.analysis.ops.CORE_ATTENTION`), without naive MLA's
    decompression GEMM, which :func:`attention_intensity` includes."""
    return total_intensity(core_attention_ops(decode_layer_ops(model, batch, context, dtype=dtype, attention=attention)))


def reordering_speedup(
    model: "str | ModelConfig", hw: "str | HardwareSpec", context: int, dtype: str = "bf16",
    batch: int = 1, fused: bool = True,
) -> float:
    """How much faster core attention runs in the absorbed (reordered) order than naive MLA.

    Time of naive core attention over time of absorbed (FlashMLA) core attention, both as
    one fused kernel on the roofline of ``hw`` (``fused=False`` charges score, softmax and
    context apart, which understates the absorbed form: its compute-bound context and
    memory-bound score overlap inside one kernel).

    NB: naive MLA's decompression GEMM is left out, as in Table III; counting it would
    raise the speedup further.
    """
    kernels = (CORE_ATTENTION,) if fused else ()
    naive, absorbed = (
        core_attention_ops(decode_layer_ops(model, batch, context, dtype=dtype, attention=form))
        for form in ("naive", "flashmla")
    )
    return layer_time(naive, hw, dtype, kernels) / layer_time(absorbed, hw, dtype, kernels)


@dataclass(frozen=True)
class Claim:
    """One computed claim: a flat key, its value, and how it was computed.

    Members
    -------
    key : str
        Dotted name, e.g. ``"b_moe.deepseek-r1.b200"``; the key of ``rooftile claims --json``.
    value : float
    unit : str
    settings : str
        The inputs it was computed at.
    formula : str
        The formula's name, in words.
    function : str
        The rooftile function that computed it.
    """

    key: str
    value: float
    unit: str
    settings: str
    formula: str
    function: str


#: The paper's evaluation models (Table IV) and the attention form of each in Table III.
PAPER_MODELS = {"gpt-3-175b": "mha", "llama-4-maverick": "gqa", "deepseek-r1": "flashmla"}
#: MoE models whose B_MoE the paper quotes.
B_MOE_MODELS = ("deepseek-r1", "qwen3-235b-a22b", "llama-4-maverick")
#: MLA forms of the Table III comparison (and naive's per-head RoPE variant).
MLA_CLAIM_FORMS = ("naive", "naive-expanded", "unfused", "flashmla", "fused")
#: Tokens per device of one all-to-all dispatch (DeepEP's low-latency benchmark size).
A2A_TOKENS_PER_DEVICE = 128


def paper_claims(
    machine: "str | HardwareSpec" = "b200",
    devices: int = 32,
    context: int = 4096,
    dtype: str = "bf16",
    interconnect: str = "nvlink5",
    tpot_target_s: float = 0.05,
    zipf_s: float = 1.0,
    seed: int = 0,
) -> list[Claim]:
    """Every quantitative claim of the paper that rooftile computes, at one set of settings.

    Each model is deployed under its paper mapping (Table IV) scaled to ``devices``
    (:func:`~rooftile.analysis.mapping.paper_mapping`); attention intensities are taken at
    batch 1 and ``context``.
    """
    hw, link = get_hardware(machine), get_interconnect(interconnect)
    positive_int("devices", devices)
    positive_int("context", context)
    claims: list[Claim] = []

    def add(key, value, unit, settings, formula, function):
        claims.append(Claim(key, float(value), unit, settings, formula, function))

    for name in ("h100", "h200", "b200"):
        for elt_type in ("bf16", "fp8"):
            add(f"ridge.{name}.{elt_type}", HARDWARE[name].ridge_flop_per_byte(elt_type), "FLOP/byte",
                f"{name}, {elt_type}, dense", "peak FLOP/s / HBM bandwidth", "HardwareSpec.ridge_flop_per_byte")
    at_context = f"decode, batch 1, context {context}, {dtype}"
    forms = [(model, form) for model, form in PAPER_MODELS.items() if form != "flashmla"]
    forms += [("deepseek-r1", form) for form in MLA_CLAIM_FORMS]
    intensity = {}
    for model, form in forms:
        # MHA/GQA models have one form; their key names it, the ops ignore the choice.
        computed_as = form if form in MLA_CLAIM_FORMS else "absorbed"
        intensity[model, form] = core_attention_intensity(model, context, dtype, computed_as)
        add(f"attention_intensity.{model}.{form}", intensity[model, form], "FLOP/byte", at_context,
            "core attention (score + softmax + context) FLOPs / DRAM bytes", "claims.core_attention_intensity")
    add("mla_over_mha.deepseek-r1", intensity["deepseek-r1", "flashmla"] / intensity["gpt-3-175b", "mha"], "x",
        at_context, "MLA (flashmla) over MHA (GPT-3) core attention intensity", "claims.core_attention_intensity")
    add("reordering_speedup.deepseek-r1", reordering_speedup("deepseek-r1", hw, context, dtype), "x",
        f"{hw.name}, {at_context}", "naive over absorbed (flashmla) core attention time, one fused roofline op each",
        "claims.reordering_speedup")
    for model in PAPER_MODELS:
        add(f"kv_bytes_per_token.{model}", kv_bytes_per_token(model, dtype), "bytes", f"all layers, {dtype}",
            "MHA/GQA: 2 kv_heads head_dim elt; MLA: (kv_lora_rank + rope) elt; x layers",
            "capacity.kv_bytes_per_token")
    for model in B_MOE_MODELS:
        add(f"b_moe.{model}.{hw.name}", b_moe(model, hw, dtype), "sequences", f"{hw.name}, {dtype}, uniform routing",
            "ridge x elt / 2 x n_experts / top_k", "roofline.b_moe")
    on = f"{devices} x {hw.name}"
    for model in PAPER_MODELS:
        mapping = paper_mapping(model, devices)
        where = f"{on}, {mapping}, context {context}, {dtype}"
        cap = capacity(model, hw, devices, context, dtype)
        add(f"b_cap.{model}", cap.b_cap, "sequences", where,
            "dp x floor((HBM - weights) / (KV + activations per sequence))", "capacity.capacity")
        add(f"weights_gb_per_device.{model}", cap.weight_bytes_per_device / 1e9, "GB", where,
            "non-expert params / tp + routed params / ep, x elt", "capacity.weight_bytes_per_device")
        if cap.b_cap:  # no TPOT at a batch that does not fit
            step = tpot(model, hw, link, cap.b_cap, context, devices, dtype=dtype)
            add(f"tpot_ms.{model}.{link.name}", step.tpot_s * 1e3, "ms",
                f"{where}, batch B_cap = {cap.b_cap}, {link.name}",
                "sum over layers of max(FLOPs / peak, bytes / bandwidth) + TP all-reduce + EP all-to-all",
                "system.tpot")
        slo = b_slo(model, hw, link, tpot_target_s, context, devices, dtype=dtype)
        add(f"b_slo.{model}.{link.name}", 0 if slo is None else slo, "sequences",
            f"{where}, TPOT <= {tpot_target_s * 1e3:g} ms, {link.name} (0: the weights do not fit "
            "or batch 1 misses the target)", "largest batch <= B_cap with TPOT(B, L) <= target", "system.b_slo")
        moe = get_model(model).moe
        if moe is None:
            continue
        for link_name in INTERCONNECTS:
            add(f"a2a_us.{model}.{link_name}",
                a2a_time(A2A_TOKENS_PER_DEVICE, get_model(model).hidden_size, moe.num_experts_per_tok, mapping.ep,
                         link_name, dtype) * 1e6, "us",
                f"one dispatch, {A2A_TOKENS_PER_DEVICE} tokens per device, EP{mapping.ep}, {dtype}, {link_name}",
                "latency + tokens top_k hidden elt (ep - 1) / ep / bandwidth", "interconnect.a2a_time")
        routed = A2A_TOKENS_PER_DEVICE * devices
        imbalance = zipf_imbalance(routed, moe.num_experts_per_tok, moe.n_routed_experts, mapping.ep, zipf_s, seed)
        sample = f"{routed} tokens, EP{mapping.ep}, Zipf s = {zipf_s:g}, seed {seed}"
        add(f"gamma.{model}", imbalance.gamma, "x", sample, "busiest device's expert-token pairs / mean",
            "moe.zipf_imbalance")
        add(f"busiest_share.{model}", imbalance.busiest_share, "fraction", sample,
            "busiest device's expert-token pairs / all pairs", "moe.zipf_imbalance")
    return claims
