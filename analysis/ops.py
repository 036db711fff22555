"""Transformer layers decomposed into ops with FLOP and byte counts, per phase and batch.

Each op is one GEMM (or GEMM batch) or one vector op, with its shape kept explicit so a
scheduler can lower it and the roofline uses the same numbers. Its cost comes from a
formula registered per op kind (like ``torch/utils/flop_counter.py``); each formula's
docstring says, in ``NB:`` lines, what it leaves out.

Conventions of every formula:

- 2 FLOPs per multiply-accumulate.
- One element size (``dtype``) for weights, KV cache and activations.
- Each op reads its inputs from and writes its outputs to DRAM once (no cache reuse
  between ops), except inside fused attention, where scores and probabilities stay on chip.
- NB: layer norms, RoPE, residual adds, biases, the SwiGLU product and MoE combine weights
  are not counted; they are elementwise and small next to the GEMMs.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..hdl.errors import lookup, one_of, positive_int
from .dtypes import element_bytes
from .models import GQAAttention, ModelConfig, get_model
from .moe import active_experts

__all__ = [
    "Op",
    "FORMULAS",
    "register_formula",
    "make_op",
    "ffn_ops",
    "moe_ops",
    "decode_layer_ops",
    "prefill_layer_ops",
    "total_intensity",
    "ops_in_group",
    "ATTENTION_FORMS",
    "MLA_EXECUTION_ORDERS",
    "MLA_FORMS",
    "CORE_ATTENTION",
    "core_attention_ops",
    "fused_kernels",
]

#: The ways to run and to account for MLA, with the convention each follows. The first two
#: are the execution orders; the absorbed order has three accounting forms (the paper's
#: unfused bookkeeping, a fused kernel, and FlashMLA's), and naive MLA two conventions for
#: its RoPE key. MHA/GQA models have one form and ignore the choice.
MLA_FORMS = {
    "absorbed": "absorbed order, accounted as flashmla (the default)",
    "naive": "per-head K/V up-projected from the latent every step (kv_up); one fused kernel "
             "over them; the shared RoPE key is read once for all heads",
    "naive-expanded": "naive, with the RoPE key expanded into every head's key and read per "
                      "head, as an MHA kernel over [k_nope, k_rope] would (Hugging Face "
                      "DeepseekV3Attention's eager path)",
    "unfused": "absorbed order as three kernels: scores written to DRAM, read and written "
               "back by the softmax, the probabilities read by the context; score and "
               "context each read their part of the latent",
    "fused": "absorbed order in one kernel: scores stay on chip, but the score reads the "
             "latent and RoPE key and the context reads the latent again (K and V streamed "
             "as separate operands)",
    "flashmla": "absorbed order in one kernel: the latent loaded for the score is reused as "
                "the context's values (FlashMLA), so the cache is read once",
}
ATTENTION_FORMS = tuple(MLA_FORMS)
#: The two execution orders: what a tile schedule can run (the others account for one).
MLA_EXECUTION_ORDERS = ATTENTION_FORMS[:2]

#: The ops of core attention as the paper's Table III counts it: score, softmax and
#: context (naive MLA's decompression GEMM ``kv_up`` excluded).
CORE_ATTENTION = ("attn_score", "softmax", "attn_context")


@dataclass(frozen=True)
class Op:
    """One op of a layer: its GEMM shape, FLOPs and DRAM bytes by kind.

    Members
    -------
    name : str
        Unique within a layer, e.g. ``"attn_score"``.
    group : str
        What the op belongs to, for totals and plots: ``"projection"``, ``"attention"``
        (the ops whose cost grows with context), ``"ffn"``, ``"router"``,
        ``"shared_expert"`` or ``"routed_experts"``.
    kind : str
        Key of the formula in :data:`FORMULAS` that produced the counts.
    flop : float
        Floating-point operations (2 per MAC).
    bytes_weights, bytes_kv_cache, bytes_activations_in, bytes_activations_out : float
        DRAM bytes moved, by kind of data.
    gemm_m, gemm_n, gemm_k, gemm_count : float or int or None
        The op as ``gemm_count`` independent GEMMs of ``[gemm_m x gemm_k] @ [gemm_k x gemm_n]``;
        None for vector ops. For routed experts under the expected routing, ``gemm_m`` (tokens
        per active expert) and ``gemm_count`` (active experts) are expected values, not ints.
    """

    name: str
    group: str
    kind: str
    flop: float
    bytes_weights: float = 0
    bytes_kv_cache: float = 0
    bytes_activations_in: float = 0
    bytes_activations_out: float = 0
    gemm_m: float | None = None
    gemm_n: int | None = None
    gemm_k: int | None = None
    gemm_count: float | None = None

    @property
    def bytes_total(self) -> float:
        return (
            self.bytes_weights + self.bytes_kv_cache
            + self.bytes_activations_in + self.bytes_activations_out
        )

    @property
    def intensity_flop_per_byte(self) -> float:
        """FLOPs per DRAM byte; infinite for an op that moves no bytes (fused softmax)."""
        return total_intensity([self])


def total_intensity(ops: Iterable[Op]) -> float:
    """Arithmetic intensity of ops run together: their FLOPs over their bytes.

    This, not a mean of per-op intensities, is what a roofline of the group sees.
    """
    ops = list(ops)
    flop = sum(op.flop for op in ops)
    moved = sum(op.bytes_total for op in ops)
    return flop / moved if moved else float("inf")


def ops_in_group(ops: Iterable[Op], group: str) -> list[Op]:
    """The ops of ``ops`` that belong to ``group``."""
    return [op for op in ops if op.group == group]


def core_attention_ops(ops: Iterable[Op]) -> list[Op]:
    """The ops of ``ops`` named in :data:`CORE_ATTENTION` (score, softmax, context)."""
    return [op for op in ops if op.name in CORE_ATTENTION]


def fused_kernels(model: "str | ModelConfig", attention: str = "absorbed") -> tuple[tuple[str, ...], ...]:
    """Names of the ops that run as one kernel, per kernel, for ``model`` under ``attention``.

    Core attention is one fused kernel in every form but ``"unfused"`` of an MLA model;
    pass the result to :func:`~rooftile.analysis.roofline.layer_time` as ``fused=``.
    """
    model = get_model(model)
    one_of("attention", attention, ATTENTION_FORMS)
    if isinstance(model.attention, GQAAttention) or attention != "unfused":
        return (CORE_ATTENTION,)
    return ()


#: Op kind -> formula returning the keyword arguments of :class:`Op` other than name/group/kind.
FORMULAS: dict[str, Callable[..., dict]] = {}


def register_formula(kind: str) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Register the FLOP/byte formula of op ``kind``; a second formula for a kind is refused.

    Refusing duplicates keeps one formula per kind, so two modules can never disagree about
    what an op costs.
    """

    def register(formula: Callable[..., dict]) -> Callable[..., dict]:
        if kind in FORMULAS:
            raise ValueError(f"a formula for op kind {kind!r} is already registered")
        FORMULAS[kind] = formula
        return formula

    return register


def make_op(kind: str, name: str, group: str, **params) -> Op:
    """Build an op of ``kind`` by calling its registered formula with ``params``."""
    return Op(name=name, group=group, kind=kind, **lookup(FORMULAS, kind, "op kind")(**params))


@register_formula("linear")
def linear_cost(tokens: float, in_features: int, out_features: int, elt: int, count: float = 1) -> dict:
    """``count`` weight matrices ``[in_features x out_features]``, each applied to ``tokens`` rows.

    ``count > 1`` covers per-head weights (MLA's absorbed W_UK and W_UV) and routed experts.

    NB: bias ignored; the weights are read once per step however many tokens share them,
    which is what makes decode projections memory-bound.
    """
    return dict(
        flop=2 * count * tokens * in_features * out_features,
        bytes_weights=count * in_features * out_features * elt,
        bytes_activations_in=count * tokens * in_features * elt,
        bytes_activations_out=count * tokens * out_features * elt,
        gemm_m=tokens, gemm_n=out_features, gemm_k=in_features, gemm_count=count,
    )


@register_formula("latent_up")
def latent_up_cost(batch: int, context: int, kv_lora_rank: int, out_features: int, elt: int) -> dict:
    """Naive MLA: up-project every cached latent to per-head K/V, every step.

    A GEMM ``[batch*context x kv_lora_rank] @ [kv_lora_rank x out_features]`` whose input is
    the latent KV cache and whose output (the per-head K and V) is written back to DRAM.

    NB: the RoPE part of the cached key bypasses this op and is read by the score.
    """
    cost = linear_cost(batch * context, kv_lora_rank, out_features, elt)
    cost["bytes_kv_cache"] = cost.pop("bytes_activations_in")
    return cost


@register_formula("gated_up")
def gated_up_cost(tokens: float, hidden: int, intermediate: int, elt: int, count: float = 1) -> dict:
    """Gate and up projections of a SwiGLU FFN as one GEMM ``[tokens x hidden] @ [hidden x 2*intermediate]``.

    ``silu(gate) * up`` is taken in the GEMM's epilogue, so only ``intermediate`` elements
    per token are written, for the down-projection to read.

    NB: the SiLU and the product are not counted.
    """
    cost = linear_cost(tokens, hidden, 2 * intermediate, elt, count)
    cost["bytes_activations_out"] /= 2
    return cost


@register_formula("attention_score")
def attention_score_cost(
    batch: int, groups: int, rows: int, key_dim: int, context: int, elt: int,
    cached_dims: int, materialized_dims: int = 0, spill_elt: int = 0,
) -> dict:
    """Scores ``Q K^T``: per (sequence, K/V group) a GEMM ``[rows x key_dim] @ [key_dim x context]``.

    Parameters
    ----------
    groups : int
        Query-head groups that each share one key matrix: K/V heads for MHA/GQA, 1 for
        absorbed MLA (all heads share the latent), heads for naive MLA.
    rows : int
        Query rows per group: query tokens x heads in the group.
    cached_dims : int
        KV-cache elements read per cached token (for all groups together).
    materialized_dims : int
        Elements per cached token read from an activation tensor instead (naive MLA's
        up-projected keys).
    spill_elt : int
        Bytes per score element written to DRAM; 0 (fused attention) keeps them on chip.

    NB: with ``spill_elt=0`` the scores stay on chip, so no output bytes. Prefill counts the
    full ``context x context`` square; a causal mask would skip about half of it.
    """
    return dict(
        flop=2 * batch * groups * rows * key_dim * context,
        bytes_kv_cache=batch * context * cached_dims * elt,
        bytes_activations_in=(batch * groups * rows * key_dim + batch * context * materialized_dims) * elt,
        bytes_activations_out=batch * groups * rows * context * spill_elt,
        gemm_m=rows, gemm_n=context, gemm_k=key_dim, gemm_count=batch * groups,
    )


@register_formula("softmax")
def softmax_cost(batch: int, rows: int, context: int, spill_elt: int = 0) -> dict:
    """Softmax over each score row: ``batch * rows * context`` elements.

    ``spill_elt`` > 0 (unfused attention): the scores are read from and the probabilities
    written to DRAM at that many bytes per element.

    NB: 5 FLOPs per element (max, subtract, exp, sum, divide), as LLM-Viewer counts; the exp
    is costed like any other FLOP although GPUs run it on slower special-function units.
    No bytes with ``spill_elt=0``: fused attention keeps the scores on chip.
    """
    moved = batch * rows * context * spill_elt
    return dict(flop=5 * batch * rows * context, bytes_activations_in=moved, bytes_activations_out=moved)


@register_formula("attention_context")
def attention_context_cost(
    batch: int, groups: int, rows: int, value_dim: int, context: int, elt: int,
    cached_dims: int, materialized_dims: int = 0, spill_elt: int = 0,
) -> dict:
    """Context ``P V``: per (sequence, group) a GEMM ``[rows x context] @ [context x value_dim]``.

    Parameters as in :func:`attention_score_cost`; ``cached_dims`` is 0 for absorbed MLA,
    whose values are the latent the score already brought on chip.

    NB: with ``spill_elt=0`` the probabilities ``P`` stay on chip (fused attention);
    otherwise they are read from DRAM at ``spill_elt`` bytes each. The output is written.
    Absorbed MLA in the ``flashmla`` form reads its latent once for score and context
    (``cached_dims=0`` here); the ``fused`` and ``unfused`` forms read it again.
    """
    return dict(
        flop=2 * batch * groups * rows * context * value_dim,
        bytes_kv_cache=batch * context * cached_dims * elt,
        bytes_activations_in=batch * context * materialized_dims * elt
        + batch * groups * rows * context * spill_elt,
        bytes_activations_out=batch * groups * rows * value_dim * elt,
        gemm_m=rows, gemm_n=value_dim, gemm_k=context, gemm_count=batch * groups,
    )


def ffn_ops(
    tokens: float, hidden: int, intermediate: int, dtype: str,
    prefix: str = "ffn", group: str = "ffn", count: float = 1, gated: bool = True,
) -> list[Op]:
    """An FFN as two GEMMs: gate and up fused (SwiGLU; ``gated=False``: up alone), then down.

    Parameters
    ----------
    tokens : float
        Token rows per FFN (per expert for routed experts; may be an expected value).
    count : float
        Independent FFNs of this shape (routed experts that receive tokens).
    gated : bool
        False for a two-matrix FFN such as GPT-3's GELU MLP (op ``<prefix>_up``).

    NB: the ``tokens x intermediate`` activation between the two GEMMs goes through DRAM;
    the GELU/SiLU is not counted.
    """
    elt = element_bytes(dtype)
    if gated:
        up = make_op("gated_up", f"{prefix}_up_gate", group, tokens=tokens, hidden=hidden,
                     intermediate=intermediate, elt=elt, count=count)
    else:
        up = make_op("linear", f"{prefix}_up", group, tokens=tokens, in_features=hidden,
                     out_features=intermediate, elt=elt, count=count)
    return [
        up,
        make_op("linear", f"{prefix}_down", group, tokens=tokens, in_features=intermediate,
                out_features=hidden, elt=elt, count=count),
    ]


def _gqa_ops(att: GQAAttention, hidden: int, batch: int, q_tokens: int, context: int, elt: int) -> list[Op]:
    heads, kv_heads, d = att.num_attention_heads, att.num_key_value_heads, att.head_dim
    tokens = batch * q_tokens
    per_group = dict(batch=batch, groups=kv_heads, rows=q_tokens * att.group_size, context=context,
                     elt=elt, cached_dims=kv_heads * d)
    return [
        make_op("linear", "qkv_proj", "projection", tokens=tokens, in_features=hidden,
                out_features=(heads + 2 * kv_heads) * d, elt=elt),
        make_op("attention_score", "attn_score", "attention", key_dim=d, **per_group),
        make_op("softmax", "softmax", "attention", batch=batch, rows=q_tokens * heads, context=context),
        make_op("attention_context", "attn_context", "attention", value_dim=d, **per_group),
        make_op("linear", "o_proj", "projection", tokens=tokens, in_features=heads * d,
                out_features=hidden, elt=elt),
    ]


def _mla_ops(model: ModelConfig, batch: int, q_tokens: int, context: int, elt: int, form: str) -> list[Op]:
    att, hidden = model.attention, model.hidden_size
    heads, latent, rope = att.num_attention_heads, att.kv_lora_rank, att.qk_rope_head_dim
    nope, v = att.qk_nope_head_dim, att.v_head_dim
    tokens = batch * q_tokens

    def proj(name: str, in_features: int, out_features: int, count: int = 1) -> Op:
        return make_op("linear", name, "projection", tokens=tokens, in_features=in_features,
                       out_features=out_features, elt=elt, count=count)

    ops = []
    if att.q_lora_rank is not None:
        ops.append(proj("q_down", hidden, att.q_lora_rank))
    ops += [
        proj("q_up", att.q_lora_rank or hidden, heads * (nope + rope)),
        # The new token's latent and RoPE key, appended to the cache.
        proj("kv_down", hidden, latent + rope),
    ]
    # Only the unfused form writes the score matrix to DRAM (see MLA_FORMS).
    spill = elt if form == "unfused" else 0
    softmax = make_op("softmax", "softmax", "attention", batch=batch, rows=q_tokens * heads,
                      context=context, spill_elt=spill)
    # The absorbed order follows DeepSeek-V3's reference inference code (inference/model.py,
    # attn_impl="absorb"): per-head einsums with the W_UK and W_UV slices of wkv_b.
    if not form.startswith("naive"):
        shared = dict(batch=batch, groups=1, rows=q_tokens * heads, context=context, elt=elt,
                      spill_elt=spill)
        # flashmla (and its alias absorbed) reuses the score's latent as the values.
        values_read = 0 if form in ("absorbed", "flashmla") else latent
        ops += [
            proj("q_absorb", nope, latent, count=heads),  # W_UK folded into each head's query
            make_op("attention_score", "attn_score", "attention", key_dim=latent + rope,
                    cached_dims=latent + rope, **shared),
            softmax,
            make_op("attention_context", "attn_context", "attention", value_dim=latent,
                    cached_dims=values_read, **shared),
            proj("o_absorb", latent, v, count=heads),  # W_UV folded into each head's output
        ]
    else:
        per_head = dict(batch=batch, groups=heads, rows=q_tokens, context=context, elt=elt)
        # "naive" reads the one shared RoPE key from the cache for all heads; "naive-expanded"
        # reads it inside every head's materialized [k_nope, k_rope] key.
        rope_cached, key_materialized = (rope, nope) if form == "naive" else (0, nope + rope)
        ops += [
            make_op("latent_up", "kv_up", "attention", batch=batch, context=context,
                    kv_lora_rank=latent, out_features=heads * (nope + v), elt=elt),
            make_op("attention_score", "attn_score", "attention", key_dim=nope + rope,
                    cached_dims=rope_cached, materialized_dims=heads * key_materialized, **per_head),
            softmax,
            make_op("attention_context", "attn_context", "attention", value_dim=v,
                    cached_dims=0, materialized_dims=heads * v, **per_head),
        ]
    ops.append(proj("o_proj", heads * v, hidden))
    return ops


def moe_ops(model: "str | ModelConfig", tokens: int, dtype: str = "bf16", ep_devices: int = 1) -> list[Op]:
    """The MoE block of a layer: router, shared experts and routed experts, on one device.

    Parameters
    ----------
    tokens : int
        Tokens per device per step.
    ep_devices : int
        Expert-parallel devices. Each device runs ``tokens * top_k`` expert-token pairs over
        the expected number of its experts that receive a token (see
        :func:`~rooftile.analysis.moe.active_experts`), so more devices means more tokens,
        and higher intensity, per expert.

    NB: expected routing (uniform, no imbalance; :func:`~rooftile.analysis.moe.sample_routing`
    shows the spread); router weights counted at ``dtype`` although usually kept in fp32.
    """
    model = get_model(model)
    if model.moe is None:
        raise ValueError(f"model {model.name!r} has no MoE layers")
    moe, hidden = model.moe, model.hidden_size
    experts, top_k = moe.n_routed_experts, moe.num_experts_per_tok
    active = active_experts(tokens, top_k, experts, ep_devices)
    ops = [
        make_op("linear", "router", "router", tokens=tokens, in_features=hidden,
                out_features=experts, elt=element_bytes(dtype)),
    ]
    if moe.n_shared_experts:
        ops += ffn_ops(tokens, hidden, moe.n_shared_experts * moe.moe_intermediate_size, dtype,
                       prefix="shared_expert", group="shared_expert")
    # Each device computes tokens * top_k expert-token pairs, spread over its active experts.
    ops += ffn_ops(tokens * top_k / active, hidden, moe.moe_intermediate_size, dtype,
                   prefix="expert", group="routed_experts", count=active)
    return ops


def _layer_ops(
    model: "str | ModelConfig", batch: int, q_tokens: int, context: int, dtype: str,
    ep_devices: int, attention: str, layer: str | None,
) -> list[Op]:
    model = get_model(model)
    elt = element_bytes(dtype)
    positive_int("ep_devices", ep_devices)
    one_of("attention", attention, ATTENTION_FORMS)
    layer = layer or model.default_layer
    one_of(f"layer of model {model.name!r}", layer, model.layer_counts)
    if isinstance(model.attention, GQAAttention):
        ops = _gqa_ops(model.attention, model.hidden_size, batch, q_tokens, context, elt)
    else:
        ops = _mla_ops(model, batch, q_tokens, context, elt, attention)
    tokens = batch * q_tokens
    if layer == "dense":
        return ops + ffn_ops(tokens, model.hidden_size, model.intermediate_size, dtype,
                             gated=model.gated_ffn)
    return ops + moe_ops(model, tokens, dtype, ep_devices)


def decode_layer_ops(
    model: "str | ModelConfig",
    batch: int,
    context: int,
    q_tokens: int = 1,
    dtype: str = "bf16",
    ep_devices: int = 1,
    attention: str = "absorbed",
    layer: str | None = None,
) -> list[Op]:
    """Ops of one decode step of one layer, on one device.

    Parameters
    ----------
    model : str or ModelConfig
        A registered model name or a configuration.
    batch : int
        Sequences decoded together on this device.
    context : int
        Tokens each sequence attends to (cached tokens, including the new ones).
    q_tokens : int
        Query tokens per sequence per step: 1 for plain decode, more for speculative decoding.
    dtype : str
        Element format, a key of :data:`~rooftile.analysis.dtypes.DTYPE_BYTES`.
    ep_devices : int
        Expert-parallel devices; only MoE layers use it.
    attention : str
        MLA form, a key of :data:`MLA_FORMS` (``"absorbed"``, ``"naive"``, ``"unfused"``,
        ...); MHA/GQA models have one form and ignore it.
    layer : str or None
        ``"dense"`` or ``"moe"``; None picks the model's MoE layer if it has one.

    Raises
    ------
    ValueError
        On an unknown name (listing the known ones) or a size < 1 (naming the field).
    """
    positive_int("batch", batch)
    positive_int("context", context)
    positive_int("q_tokens", q_tokens)
    return _layer_ops(model, batch, q_tokens, context, dtype, ep_devices, attention, layer)


def prefill_layer_ops(
    model: "str | ModelConfig",
    batch: int,
    seq: int,
    dtype: str = "bf16",
    ep_devices: int = 1,
    attention: str = "absorbed",
    layer: str | None = None,
) -> list[Op]:
    """Ops of one layer processing ``batch`` prompts of ``seq`` tokens each.

    Prefill is a decode step with ``seq`` query tokens attending to ``seq`` tokens: the
    keys and values the layer just produced are read back as the cache. Parameters as in
    :func:`decode_layer_ops`.

    NB: no causal mask (the full ``seq x seq`` scores are counted, about twice what a
    masked kernel computes).
    """
    positive_int("batch", batch)
    positive_int("seq", seq)
    return _layer_ops(model, batch, seq, seq, dtype, ep_devices, attention, layer)
