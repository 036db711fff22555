"""Lower workload ops to scaled GEMMs on the tile and measure them against the roofline.

An analysis :class:`~rooftile.analysis.ops.Op` is ``gemm_count`` identical GEMMs of
``[gemm_m x gemm_k] @ [gemm_k x gemm_n]``. What sets its arithmetic intensity is
``gemm_m``: the rows that share one streamed operand (query heads sharing a KV head, all
heads sharing MLA's latent, tokens sharing an expert's weights). The scaled GEMM keeps
``gemm_m`` and shrinks ``gemm_k`` and ``gemm_n`` (head or model width, context) to what
simulates in seconds; one instance stands for all ``gemm_count``.

NB: the tile writes int32 results to DRAM, where a fused attention kernel keeps scores on
chip; the measured bytes include them, and so does the roofline of the scaled GEMM.
"""

import dataclasses

import numpy as np

from ..analysis.hardware import tile_hardware
from ..analysis.roofline import roofline
from .gemm import compile_gemm, run_gemms
from .tile_model import predict_program

__all__ = ["ScaledGemm", "scale_op", "GemmMeasurement", "measure_scaled"]


@dataclasses.dataclass(frozen=True)
class ScaledGemm:
    """The GEMM simulated for ``op``, and the op it stands for."""
    label: str
    op: object
    m: int
    k: int
    n: int

    def traffic_bytes(self, config):
        """DRAM bytes of one scaled GEMM on the tile: A and B once each, int32 C."""
        return ((self.m * self.k + self.k * self.n) * config.data_bytes
                + self.m * self.n * config.acc_bytes)

    @property
    def flop(self):
        return 2 * self.m * self.k * self.n


def scale_op(op, label=None, *, max_m=256, max_k=64, max_n=256):
    """Scale a GEMM op for simulation, keeping ``gemm_m`` (rounded, for the expected
    tokens per expert) up to ``max_m``.

    Raises
    ------
    ValueError
        The op is not a GEMM (softmax), or its rows exceed ``max_m``.
    """
    if op.gemm_m is None:
        raise ValueError(f"op {op.name!r} ({op.kind}) is not a GEMM; it has no tile schedule "
                         f"here")
    m = max(1, round(op.gemm_m))
    if m > max_m:
        raise ValueError(f"op {op.name!r} has gemm_m={op.gemm_m:g} rows, more than "
                         f"max_m={max_m}; raise max_m to simulate it")
    return ScaledGemm(label or op.name, op, m, min(op.gemm_k, max_k), min(op.gemm_n, max_n))


@dataclasses.dataclass
class GemmMeasurement:
    """A scaled GEMM as run on the RTL, next to its two predictions."""
    label: str
    shape: tuple
    exact: bool
    measured_cycles: int
    model_cycles: int
    roofline_cycles: float
    bound: str
    intensity_flop_per_byte: float
    full_intensity_flop_per_byte: float
    counters: dict
    peak_macs: int

    @property
    def utilization(self):
        """Useful MACs over the array's peak for the measured cycles."""
        return self.counters["useful_macs"] / (self.measured_cycles * self.peak_macs)


def measure_scaled(config, scaled, *, seed=0, simulator="verilator"):
    """Run every scaled GEMM on the tile in one simulator start; return measurements."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (config.data_width - 1)), 1 << (config.data_width - 1)
    cases = [(rng.integers(lo, hi, (s.m, s.k)), rng.integers(lo, hi, (s.k, s.n)))
             for s in scaled]
    hw = tile_hardware(config, clock_Hz=1.0)  # 1 Hz: seconds are cycles
    out = []
    for s, result in zip(scaled, run_gemms(config, cases, simulator=simulator)):
        program = compile_gemm(config, s.m, s.k, s.n)
        point = roofline(s.flop, s.traffic_bytes(config), hw)
        out.append(GemmMeasurement(
            label=s.label, shape=(s.m, s.k, s.n), exact=result.exact,
            measured_cycles=result.counters["cycles"],
            model_cycles=predict_program(config, program.commands).cycles,
            roofline_cycles=point.time_s, bound=point.bound,
            intensity_flop_per_byte=point.intensity_flop_per_byte,
            full_intensity_flop_per_byte=s.op.intensity_flop_per_byte,
            counters=result.counters, peak_macs=config.peak_macs_per_cycle))
    return out
