"""Matrix products on the matrix-unit harness: layout, run, golden check, cycle model.

The harness has no DMA: operands sit in the scratchpads, so this exercises the array,
its skew and drain, and the accumulator. Used by the array tests, ``rooftile matmul``
and the array benchmark.
"""

import dataclasses

import numpy as np

from ..run import flow
from ..model import golden

__all__ = ["MatmulResult", "plan_matmul", "predict_cycles", "run_matmuls"]


def _blocks(size, width):
    return -(-size // width)


def plan_matmul(config, a, b, *, k_chunk=None):
    """Lay out ``a @ b`` in the scratchpads and list its output blocks.

    A is split into ``rows``-high and B into ``cols``-wide blocks (zero padded at the
    edges); each output block is one command per ``k_chunk`` reduction steps, the
    second and later chunks accumulating. Returns a harness job.

    Raises
    ------
    ValueError
        Shapes that do not multiply, or that do not fit the scratchpads / accumulator.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or 0 in a.shape + b.shape:
        raise ValueError(f"need a[M, K] @ b[K, N] with M, K, N >= 1, got shapes "
                         f"{a.shape} and {b.shape}")
    limit = 1 << (config.data_width - 1)
    for name, x in (("a", a), ("b", b)):
        if x.size and (x.min() < -limit or x.max() >= limit):
            raise ValueError(f"{name} has values outside the signed {config.data_width}-bit "
                             f"range [{-limit}, {limit - 1}]")
    m, k = a.shape
    n = b.shape[1]
    k_chunk = k if k_chunk is None else k_chunk
    if not 1 <= k_chunk:
        raise ValueError(f"k_chunk must be >= 1, got {k_chunk!r}")
    if k > config.max_reduction:
        raise ValueError(f"K={k} exceeds the tile's max_reduction={config.max_reduction}")
    m_blocks, n_blocks = _blocks(m, config.rows), _blocks(n, config.cols)
    sp_need = max(m_blocks, n_blocks) * k
    if sp_need > config.sp_depth:
        raise ValueError(f"operands need {sp_need} scratchpad entries, sp_depth is "
                         f"{config.sp_depth}; use a smaller K or larger sp_depth")
    acc_need = m_blocks * n_blocks * config.rows
    if acc_need > config.acc_depth:
        raise ValueError(f"result needs {acc_need} accumulator rows, acc_depth is "
                         f"{config.acc_depth}")

    a_pad = np.zeros((m_blocks * config.rows, k), dtype=np.int64)
    a_pad[:m] = a
    b_pad = np.zeros((k, n_blocks * config.cols), dtype=np.int64)
    b_pad[:, :n] = b
    # Entry mi*K + s holds column s of A's block mi; entry nj*K + s row s of B's block nj.
    sp_a = [a_pad[mi * config.rows:(mi + 1) * config.rows, s].tolist()
            for mi in range(m_blocks) for s in range(k)]
    sp_b = [b_pad[s, nj * config.cols:(nj + 1) * config.cols].tolist()
            for nj in range(n_blocks) for s in range(k)]
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
    cycles = predict_cycles(config, [c["steps"] for c in commands])
    return {"a": sp_a, "b": sp_b, "commands": commands, "acc_rows": acc_need,
            "max_cycles": 2 * cycles + 1000}


def predict_cycles(config, steps):
    """Cycles from ``start`` to ``done`` for blocks of ``steps`` reduction steps each.

    Two cycles fetch and hand over the first command; each later block's last step
    waits at least ``drain_interval`` after the previous one; the last results then
    cross the array (``2 * rows + cols``: skew in, up the column at one row per two
    cycles, de-skew) and the accumulator write and ``done`` take three more.
    """
    if not steps:
        return 2
    interval = config.drain_interval
    issue = steps[0] + sum(max(s, interval) for s in steps[1:])
    return 2 + issue + 2 * config.rows + config.cols + 1


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


@dataclasses.dataclass
class MatmulResult:
    """One product as run on the RTL, with its golden check and cycle prediction."""
    shape: tuple
    k_chunk: int
    output: np.ndarray
    expected: np.ndarray
    counters: dict
    predicted_cycles: int
    peak_macs: int
    #: Host-side seconds: loading, free-running compute, readback.
    wall: dict
    #: Run folder with ``dump.fst`` when waves were requested.
    run_dir: str | None = None

    @property
    def exact(self):
        return bool(np.array_equal(self.output, self.expected))

    @property
    def array_utilization(self):
        """Fraction of cycles a reduction step entered the array."""
        return self.counters["steps"] / self.counters["cycles"]

    @property
    def mac_utilization(self):
        """Useful MACs over the array's peak for the run's cycles."""
        return self.counters["useful_macs"] / (self.counters["cycles"] * self.peak_macs)


def run_matmuls(config, cases, *, simulator="verilator", waves=False):
    """Run ``(a, b)`` or ``(a, b, k_chunk)`` cases in one simulator start."""
    cases = [tuple(case) + (None,) * (3 - len(case)) for case in cases]
    jobs = [plan_matmul(config, a, b, k_chunk=k_chunk) for a, b, k_chunk in cases]
    sim = flow.build(config, "harness", simulator=simulator, waves=waves)
    results = []
    for (a, b, k_chunk), job, result in zip(cases, jobs, flow.run(sim, jobs)):
        m, n = np.shape(a)[0], np.shape(b)[1]
        results.append(MatmulResult(
            shape=(m, np.shape(a)[1], n),
            k_chunk=k_chunk or np.shape(a)[1],
            output=_unblock(config, result["acc"], m, n),
            expected=golden.matmul(a, b, config.acc_width),
            counters=result["counters"],
            predicted_cycles=predict_cycles(config, [c["steps"] for c in job["commands"]]),
            peak_macs=config.peak_macs_per_cycle,
            wall=result["wall"],
            run_dir=result.get("run_dir")))
    return results
