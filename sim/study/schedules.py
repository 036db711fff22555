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
import time

import numpy as np

from ...analysis.comparison import OpMeasurement
from ...analysis.hardware import tile_hardware
from ...analysis.roofline import roofline
from ..run import flow
from ..compile.attention import AttentionShape, attention_job, compile_attention
from ..compile.gemm import compile_gemm, gemm_job
from ..model.tile_model import predict_program

__all__ = ["ScaledOp", "lower_layer", "RunResult", "run_scaled", "measurement"]

#: Simulator starts per run_scaled call (progress is reported after each).
RUN_CHUNKS = 4

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


@dataclasses.dataclass
class RunResult:
    """One scaled program as run on the RTL, with the model's prediction."""
    exact: bool
    counters: dict
    prediction: object


def run_scaled(config, scaled, *, seed=0, simulator="verilator", progress=None):
    """Run each distinct scaled program once, with seeded random operands, all in one
    simulator start; return ``{key: RunResult}``.

    ``progress`` (a callable taking a message) hears about the build and the run.
    """
    rng = np.random.default_rng(seed)
    unique = {}
    for op in scaled:
        unique.setdefault(op.key, op)
    programs, expectations, jobs = [], [], []
    lo, hi = -(1 << (config.data_width - 1)), 1 << (config.data_width - 1)
    for op in unique.values():
        program = op.program(config)
        if op.gemm:
            m, k, n = op.gemm
            a, b = rng.integers(lo, hi, (m, k)), rng.integers(lo, hi, (k, n))
            jobs.append(gemm_job(config, program, a, b))
            expectations.append(program.expected(config, a, b))
        else:
            q, k, v = program.random_inputs(config, rng)
            jobs.append(attention_job(config, program, q, k, v))
            expectations.append(program.expected(config, q, k, v))
        programs.append(program)
    if progress:
        progress(f"building the tile ({config.rows}x{config.cols}, digest {config.digest})")
    sim = flow.build(config, "tile", simulator=simulator)
    # A few simulator starts (about a second each) rather than one, so a long run
    # reports progress between them.
    per_start = max(1, -(-len(jobs) // RUN_CHUNKS))
    outcomes, cycles, began = [], 0, time.perf_counter()
    for start in range(0, len(jobs), per_start):
        outcomes += flow.run(sim, jobs[start:start + per_start])
        cycles += sum(outcome["counters"]["cycles"] for outcome in outcomes[start:])
        if progress:
            progress(f"  {len(outcomes)}/{len(jobs)} programs on {simulator}, "
                     f"{cycles:,} cycles, {time.perf_counter() - began:.0f} s")
    results = {}
    for key, program, expected, result in zip(unique, programs, expectations, outcomes):
        output = program.output(config, result["read"])
        results[key] = RunResult(exact=bool(np.array_equal(output, expected)),
                                 counters=result["counters"],
                                 prediction=predict_program(config, program.commands))
    return results


def measurement(config, op, result, *, workload, model, attention, batch, full_time_s):
    """The :class:`~rooftile.analysis.comparison.OpMeasurement` of one scaled op."""
    moved = result.prediction.bytes_read + result.prediction.bytes_written
    point = roofline(op.flop, moved, tile_hardware(config, clock_Hz=1.0))  # s = cycles
    return OpMeasurement(
        workload=workload, model=model, attention=attention, batch=batch, op=op.name,
        group=op.group, scaled_shape=op.scaled_shape, full_shape=op.full_shape,
        count=float(op.count), flop=op.flop, bytes=moved, full_flop=op.full_flop,
        full_bytes=op.full_bytes, measured_cycles=result.counters["cycles"],
        model_cycles=result.prediction.cycles, roofline_cycles=point.time_s,
        bound=point.bound, counters=result.counters, exact=result.exact,
        peak_macs_per_cycle=config.peak_macs_per_cycle,
        dram_bytes_per_cycle=config.dram_bytes_per_cycle, full_time_s=full_time_s)
