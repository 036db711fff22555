"""Lower a decode layer's analysis ops to scaled tile programs, run them, and compare.

Full-size layers take billions of cycles, so each op is *scaled*: what sets its arithmetic
intensity is kept and what does not is shrunk.

- A GEMM op (projection, FFN, router, shared or routed expert) is ``gemm_count``
  GEMMs of ``[gemm_m x gemm_k] @ [gemm_k x gemm_n]``; ``gemm_m`` (tokens sharing one
  weight matrix, or tokens per expert) sets its intensity and is kept, ``gemm_k`` and
  ``gemm_n`` (model widths) are capped at ``max_width``. Results are stored requantised
  (narrow), as the next op reads them.
- The attention ops of a layer (score, softmax, context) become one fused
  :class:`~rooftile.sim.compile.attention.AttentionShape`: the queries that share one K/V
  (``G``: 1 for MHA, the group for GQA, every head for absorbed MLA) are kept, the
  context is capped at ``max_context`` and the head dimensions at ``max_width``; a few
  instances stand for ``batch x K/V heads``.

Every scaled op records the full-size ops it stands for, so a report can show both
intensities side by side.
"""

import dataclasses

from ...analysis.models import GQAAttention, get_model
from ...analysis.moe import sample_routing
from ...analysis.ops import decode_layer_ops
from ..compile.attention import AttentionShape, compile_attention
from ..compile.gemm import compile_gemm
from .spec import StudyError, Workload

__all__ = ["ScaledOp", "lower_layer", "Layer", "lower_workload", "compile_scaled"]

#: Analysis ops fused into one attention program.
FUSED_ATTENTION = ("attn_score", "softmax", "attn_context")


@dataclasses.dataclass(frozen=True)
class ScaledOp:
    """What is simulated for one op of a layer (or the fused attention), and what it
    stands for.

    Exactly one of ``gemm`` (``(m, k, n)``) and ``attention`` is set.
    """
    name: str
    group: str
    full: tuple                 # the analysis Ops
    gemm: tuple | None = None
    attention: AttentionShape | None = None

    @property
    def key(self):
        """Equal keys simulate the same program: run once, reuse the result."""
        return ("gemm", self.gemm) if self.gemm else ("attention", self.attention)

    @property
    def full_flop(self):
        return sum(op.flop for op in self.full)

    @property
    def full_bytes(self):
        return sum(op.bytes_total for op in self.full)

    @property
    def count(self):
        """Instances of the full op per layer (GEMMs, or (sequence, K/V head) pairs)."""
        return self.full[0].gemm_count

    @property
    def flop(self):
        if self.gemm:
            m, k, n = self.gemm
            return 2 * m * k * n
        return self.attention.flop

    def ideal_bytes(self, data_bytes):
        """DRAM bytes of the scaled op if every operand were read once and the output
        written once (requantised, so at the operand width)."""
        if self.gemm:
            m, k, n = self.gemm
            return (m * k + k * n + m * n) * data_bytes
        s = self.attention
        values = 0 if s.shared_values else s.context * s.value_dim
        return s.instances * (s.queries * s.key_dim + s.context * s.key_dim + values
                              + s.queries * s.value_dim) * data_bytes

    @property
    def scaled_shape(self):
        if self.gemm:
            return "M={} K={} N={}".format(*self.gemm)
        return str(self.attention)

    @property
    def full_shape(self):
        first = self.full[0]
        if self.gemm:
            return f"{first.gemm_count:g}x(M={first.gemm_m:g} K={first.gemm_k} N={first.gemm_n})"
        context = self.full[-1]
        return (f"{first.gemm_count:g}x(G={first.gemm_m:g} T={first.gemm_n} "
                f"dk={first.gemm_k} dv={context.gemm_n})")

    def program(self, config):
        if self.gemm:
            # Requantised outputs: shift by about half the bits a K-long sum adds.
            shift = config.data_width - 1 + (self.gemm[1].bit_length() + 1) // 2
            return compile_gemm(config, *self.gemm, out_shift=shift)
        return compile_attention(config, self.attention)


def lower_layer(ops, *, mla_absorbed, max_context=512, max_width=256, max_head_dim=64,
                max_instances=2, max_rows=256):
    """Scale the ops of one decode layer (:func:`~rooftile.analysis.ops.decode_layer_ops`).

    Parameters
    ----------
    mla_absorbed : bool
        The attention shares its values with the keys (absorbed MLA's latent).
    max_head_dim : int
        Cap on the attention's key and value dimensions (the score matrix of a whole
        instance must fit the accumulator).
    max_rows : int
        Largest ``gemm_m`` simulated (tokens); a GEMM with more rows (naive MLA's
        up-projection of the whole cache) is cut to ``max_context`` rows, which keeps its
        intensity near the weights-bound limit it already has.

    Raises
    ------
    ValueError
        A layer without the score and context ops, or an op that is not a GEMM.
    """
    by_name = {op.name: op for op in ops}
    missing = [name for name in FUSED_ATTENTION if name not in by_name]
    if missing:
        raise ValueError(f"the layer has no {', '.join(missing)} op to fuse; ops: "
                         f"{', '.join(by_name)}")
    score, context = by_name["attn_score"], by_name["attn_context"]
    key_dim = min(score.gemm_k, max_head_dim)
    value_dim = min(context.gemm_n, max_head_dim)
    attention = AttentionShape(
        instances=int(min(score.gemm_count, max_instances)), queries=int(score.gemm_m),
        context=min(score.gemm_n, max_context), key_dim=key_dim, value_dim=value_dim,
        shared_values=mla_absorbed)
    scaled = []
    for op in ops:
        if op.name in FUSED_ATTENTION:
            if op.name == "attn_score":
                scaled.append(ScaledOp("attention", "attention",
                                       tuple(by_name[n] for n in FUSED_ATTENTION),
                                       attention=attention))
            continue
        if op.gemm_m is None:
            raise ValueError(f"op {op.name!r} ({op.kind}) is not a GEMM and has no schedule")
        m = max(1, round(op.gemm_m))
        if m > max_rows:
            m = max_context
        scaled.append(ScaledOp(op.name, op.group, (op,),
                               gemm=(m, min(op.gemm_k, max_width), min(op.gemm_n, max_width))))
    return scaled


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


def compile_scaled(config, scaled):
    """Compile each distinct scaled op once for ``config``: ``{key: program}`` in the
    order the keys first appear.

    Raises
    ------
    StudyError
        An op that does not fit the tile (before any build).
    """
    programs = {}
    try:
        for op in scaled:
            if op.key not in programs:
                programs[op.key] = op.program(config)
    except ValueError as error:
        raise StudyError(f"a scaled op does not fit the tile: {error} (tile "
                         f"{config.rows}x{config.cols}, digest {config.digest})") from None
    return programs
