"""Matrix products on the matrix-unit harness: layout, golden check, cycle model.

The harness has no DMA: operands sit in the scratchpads, so this exercises the array,
its skew and drain, and the accumulator. Used by the array tests, ``rooftile matmul``
and the array benchmark; runs through :func:`rooftile.sim.run.pipeline.run_programs`.
"""

import dataclasses

import numpy as np

from ..model import golden
from ..model.array_model import predict_cycles
from ..run.pipeline import random_operands
from ...hdl.errors import InputError
from .packing import operand, sizes

__all__ = ["MatmulProgram", "compile_matmul", "plan_matmul"]


def _blocks(size, width):
    return -(-size // width)


@dataclasses.dataclass(frozen=True)
class MatmulProgram:
    """``C[m, n] = A[m, k] @ B[k, n]`` as harness commands, the second and later
    blocks of an output accumulating: output-stationary, one per output block and
    ``k_chunk`` reduction steps; weight-stationary, one per ``rows x cols`` block of B
    (``k_chunk`` is ``rows``)."""
    shape: tuple
    k_chunk: int
    commands: tuple
    acc_rows: int
    top = "harness"

    def job(self, config, a, b):
        """The harness job: A and B laid out in the scratchpads, the commands, the bound.

        Raises
        ------
        ValueError
            Operands of another shape or outside the signed operand range.
        """
        m, k, n = self.shape
        a, b = operand(config, "a", a, (m, k)), operand(config, "b", b, (k, n))
        m_blocks, n_blocks = _blocks(m, config.rows), _blocks(n, config.cols)
        k_blocks = _blocks(k, config.rows)
        a_pad = np.zeros((m_blocks * config.rows, k_blocks * config.rows), dtype=np.int64)
        a_pad[:m, :k] = a
        b_pad = np.zeros((k, n_blocks * config.cols), dtype=np.int64)
        b_pad[:, :n] = b
        if config.dataflow == "weight_stationary":
            # Entry kb*M + i holds row i of A's k-block kb (zero past K).
            sp_a = [a_pad[i, kb * config.rows:(kb + 1) * config.rows].tolist()
                    for kb in range(k_blocks) for i in range(m)]
        else:
            # Entry mi*K + s holds column s of A's block mi.
            sp_a = [a_pad[mi * config.rows:(mi + 1) * config.rows, s].tolist()
                    for mi in range(m_blocks) for s in range(k)]
        # Entry nj*K + s holds row s of B's block nj.
        sp_b = [b_pad[s, nj * config.cols:(nj + 1) * config.cols].tolist()
                for nj in range(n_blocks) for s in range(k)]
        return {"a": sp_a, "b": sp_b, "commands": list(self.commands),
                "acc_rows": self.acc_rows,
                "max_cycles": 2 * self.predict(config).cycles + 1000}

    def random_operands(self, config, rng):
        m, k, n = self.shape
        return random_operands(config, rng, (m, k), (k, n))

    def predict(self, config):
        return predict_cycles(config, [c["steps"] for c in self.commands])

    def output(self, config, result):
        m, _, n = self.shape
        if config.dataflow == "weight_stationary":
            # Accumulator row nj*M + i holds C[i, nj*C:(nj+1)*C].
            acc = np.asarray(result["acc"], dtype=np.int64)
            return np.hstack([acc[nj * m:(nj + 1) * m]
                              for nj in range(_blocks(n, config.cols))])[:, :n]
        return _unblock(config, result["acc"], m, n)

    def expected(self, config, a, b):
        return golden.matmul(a, b, config.acc_width)


def compile_matmul(config, m, k, n, *, k_chunk=None):
    """Plan ``C[m, n] = A[m, k] @ B[k, n]`` on the harness.

    ``k_chunk`` splits an output-stationary block's reduction; a weight-stationary
    plan's reduction goes in blocks of ``rows`` steps (``k_chunk`` must be None).

    Raises
    ------
    ValueError
        Sizes below 1, or a problem that does not fit the scratchpads / accumulator.
    """
    sizes(M=m, K=k, N=n)
    if k_chunk is not None and config.dataflow == "weight_stationary":
        raise InputError(f"k_chunk={k_chunk!r} applies to output-stationary blocks only; "
                         f"a weight_stationary plan reduces over rows={config.rows} steps "
                         f"per block (pass k_chunk=None)")
    k_chunk = k if k_chunk is None else k_chunk
    if not 1 <= k_chunk:
        raise ValueError(f"k_chunk must be >= 1, got {k_chunk!r}")
    if k > config.max_reduction:
        raise ValueError(f"K={k} exceeds the tile's max_reduction={config.max_reduction}")
    if config.dataflow == "weight_stationary":
        return _weight_stationary(config, m, k, n)
    m_blocks, n_blocks = _blocks(m, config.rows), _blocks(n, config.cols)
    sp_need = max(m_blocks, n_blocks) * k
    if sp_need > config.sp_depth:
        raise ValueError(f"operands need {sp_need} scratchpad entries, sp_depth is "
                         f"{config.sp_depth}; use a smaller K or larger sp_depth")
    acc_need = m_blocks * n_blocks * config.rows
    if acc_need > config.acc_depth:
        raise ValueError(f"result needs {acc_need} accumulator rows, acc_depth is "
                         f"{config.acc_depth}")
    commands = []
    for mi in range(m_blocks):
        for nj in range(n_blocks):
            for start in range(0, k, k_chunk):
                commands.append({
                    "a_addr": mi * k + start, "b_addr": nj * k + start,
                    "steps": min(k_chunk, k - start),
                    "acc_addr": (mi * n_blocks + nj) * config.rows,
                    "accumulate": int(start > 0),
                    "rows_used": min(config.rows, m - mi * config.rows),
                    "cols_used": min(config.cols, n - nj * config.cols),
                })
    return MatmulProgram((m, k, n), k_chunk, tuple(commands), acc_need)


def _weight_stationary(config, m, k, n):
    """The weight-stationary plan: per column block of B and ``rows`` reduction steps,
    one block streaming all of A's ``m`` rows, accumulating over the reduction."""
    r, c = config.rows, config.cols
    k_blocks, n_blocks = _blocks(k, r), _blocks(n, c)
    sp_need = max(k_blocks * m, n_blocks * k)
    if sp_need > config.sp_depth:
        raise ValueError(f"operands need {sp_need} scratchpad entries, sp_depth is "
                         f"{config.sp_depth}; use a smaller M or K or a larger sp_depth")
    acc_need = n_blocks * m
    if acc_need > config.acc_depth:
        raise ValueError(f"result needs {acc_need} accumulator rows, acc_depth is "
                         f"{config.acc_depth}")
    commands = tuple({
        "a_addr": kb * m, "b_addr": nj * k + kb * r, "steps": m, "acc_addr": nj * m,
        "accumulate": int(kb > 0), "rows_used": min(r, k - kb * r),
        "cols_used": min(c, n - nj * c)} for nj in range(n_blocks) for kb in range(k_blocks))
    return MatmulProgram((m, k, n), r, commands, acc_need)


def plan_matmul(config, a, b, *, k_chunk=None):
    """The harness job for ``a @ b`` (compile and lay out in one call).

    Raises
    ------
    ValueError
        Shapes that do not multiply, or that do not fit the scratchpads / accumulator.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"need a[M, K] @ b[K, N] with M, K, N >= 1, got shapes "
                         f"{a.shape} and {b.shape}")
    return compile_matmul(config, a.shape[0], a.shape[1], b.shape[1],
                          k_chunk=k_chunk).job(config, a, b)


def _unblock(config, acc, m, n):
    n_blocks = _blocks(n, config.cols)
    out = np.zeros((_blocks(m, config.rows) * config.rows, n_blocks * config.cols),
                   dtype=np.int64)
    acc = np.asarray(acc, dtype=np.int64)
    for block in range(len(acc) // config.rows):
        mi, nj = divmod(block, n_blocks)
        out[mi * config.rows:(mi + 1) * config.rows,
            nj * config.cols:(nj + 1) * config.cols] = acc[block * config.rows:
                                                          (block + 1) * config.rows]
    return out[:m, :n]
