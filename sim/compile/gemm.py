"""GEMM compiler for the tile: ``C[M, N] = A[M, K] @ B[K, N]`` as a double-buffered program.

DRAM layout (zero padded): operands as scratchpad entries, ``PA`` (``PB``) of them to
a word (:meth:`~rooftile.hdl.params.TileConfig.entries_per_word`), so that a LOAD moves
whole words and a thin GEMM's loads keep up with its compute (see
:func:`~rooftile.sim.compile.packing.block_columns`):

- A, block ``mi``: entry ``k`` is ``A[mi*R:(mi+1)*R, k]``, in word
  ``a_base + mi * ceil(K / PA) + k // PA``;
- B, block ``nj``: entry ``k`` is ``B[k, nj*C:(nj+1)*C]``, in word
  ``b_base + nj * ceil(K / PB) + k // PB``;
- C, block ``(mi, nj)``: word ``c_base + (mi * NB + nj) * R + i`` holds row ``i``.

Output blocks are grouped into panels of ``mt x nt`` blocks that fill half the
accumulator, and the reduction into k-tiles whose A and B rows for the whole panel fit
half a scratchpad (k-tiles and each block's scratchpad span a multiple of ``max(PA,
PB)`` entries, so every load starts a word at a word-aligned entry): each loaded
k-tile then serves ``mt * nt`` blocks (A reused ``nt``
times, B ``mt`` times). K-tile ``g`` of the program goes to scratchpad half ``g % 2``
and panel ``p`` to accumulator half ``p % 2``, so the next k-tile's loads and the
previous panel's stores overlap the current compute. Dependency tokens (see
:mod:`rooftile.hdl.isa`) keep the halves safe: a load into a half waits until the
execute two k-tiles back freed it, and the first execute into an accumulator half waits
until the stores of two panels back drained it.

Weight-stationary tiles (``TileConfig.dataflow``) run :func:`compile_gemm_ws`'s
schedule instead: B is the stationary operand, A streams by rows (see there).
"""

import dataclasses
import math

import numpy as np

from ...hdl.isa import assemble
from ..model import golden
from ..model.tile_model import cycle_bound, predict_program
from ..run.pipeline import random_operands
from .packing import block_columns, operand, sizes, unpack_lanes

__all__ = ["GemmProgram", "WsGemmProgram", "compile_gemm", "compile_gemm_ws", "tile_job"]


#: K is split into at least this many k-tiles where that keeps them >= 2 * rows steps.
MIN_K_TILES = 4


def _ceil_div(a, b):
    return -(-a // b)


def tile_job(config, program, image):
    """The tile testbench's job for ``program`` with DRAM ``image`` (``(addr, word)``
    pairs): load, run within the model's cycle bound, read the outputs back."""
    return {"dram": image, "program": program.instructions,
            "read": program.read_ranges(config),
            "max_cycles": cycle_bound(config, program.commands)}


@dataclasses.dataclass
class GemmProgram:
    """A compiled GEMM: instructions, DRAM layout and the data to load; runs on the
    tile through :func:`rooftile.sim.run.pipeline.run_programs`."""
    shape: tuple
    instructions: list
    a_base: int
    b_base: int
    c_base: int
    words: int
    k_tile: int
    panel: tuple     # (mt, nt) output blocks sharing each loaded k-tile
    commands: list   # (opcode, deps, args) as encoded, for models and inspection
    out_shift: int | None = None   # narrow stores: C requantised by this shift
    top = "tile"
    #: The operand a layer's previous op produces (:mod:`~rooftile.sim.compile.layer`).
    activation_target = "A"

    def out_width(self, config):
        """Bits of one stored result lane."""
        return config.acc_width if self.out_shift is None else config.data_width

    def expected(self, config, a, b):
        """The golden C as this program stores it."""
        c = golden.matmul(a, b, config.acc_width)
        if self.out_shift is None:
            return c
        return golden.requantize(c, self.out_shift, config.data_width)

    def dram_image(self, config, a, b):
        """``(addr, word)`` pairs for A and B in this program's layout."""
        dw = config.data_width
        return (block_columns(a, config.rows, dw, self.a_base,
                              config.entries_per_word(config.rows))
                + block_columns(np.asarray(b).T, config.cols, dw, self.b_base,
                                config.entries_per_word(config.cols)))

    def job(self, config, a, b):
        m, k, n = self.shape
        a, b = operand(config, "a", a, (m, k)), operand(config, "b", b, (k, n))
        return tile_job(config, self, self.dram_image(config, a, b))

    def random_operands(self, config, rng):
        m, k, n = self.shape
        return random_operands(config, rng, (m, k), (k, n))

    def predict(self, config):
        return predict_program(config, self.commands)

    def read_ranges(self, config):
        m, _, n = self.shape
        blocks = _ceil_div(m, config.rows) * _ceil_div(n, config.cols)
        return [(self.c_base, blocks * config.rows)]

    def exchange_ranges(self, config):
        """``(first word, words)`` of what a chip's unit running this GEMM exchanges with
        the tile over the shared channel: nothing. The hand-off's channel traffic is the
        tile's own STOREs of the activations and LOADs of the outputs, already on the
        channel; the unit (a PIM in the memory, as Duplex's) reads A and B and writes C
        in its memory at its own rate. Counting the unit's accesses too would charge the
        channel twice, and a narrow engine's re-reads of A (once per output panel) are
        traffic inside the memory."""
        return []

    def output(self, config, result):
        """Reassemble C from the DRAM words read back from :meth:`read_ranges`."""
        (words,) = result["read"]
        m, _, n = self.shape
        r, c = config.rows, config.cols
        nb = _ceil_div(n, c)
        out = np.zeros((_ceil_div(m, r) * r, nb * c), dtype=np.int64)
        for index, word in enumerate(words):
            block, i = divmod(index, r)
            mi, nj = divmod(block, nb)
            out[mi * r + i, nj * c:(nj + 1) * c] = unpack_lanes(word, c,
                                                                 self.out_width(config))
        return out[:m, :n]


def compile_gemm(config, m, k, n, *, out_shift=None):
    """Compile ``C[m, n] = A[m, k] @ B[k, n]`` for ``config``.

    ``out_shift`` requantises C to operands (narrow stores, see
    :func:`~rooftile.hdl.isa.StoreArgs`), as a layer whose output feeds the next does;
    None stores the ``acc_width`` sums.

    Raises
    ------
    ValueError
        Non-positive sizes, a reduction beyond ``max_reduction``, or a problem whose
        data, program or double buffers do not fit the tile (the message says which).
    """
    sizes(M=m, K=k, N=n)
    if k > config.max_reduction:
        raise ValueError(f"K={k} exceeds the tile's max_reduction={config.max_reduction}")
    if config.dataflow == "weight_stationary":
        return compile_gemm_ws(config, m, k, n, out_shift=out_shift)
    if config.acc_depth < 2 * config.rows:
        raise ValueError(f"double buffering needs acc_depth >= 2 * rows = {2 * config.rows}, "
                         f"got {config.acc_depth}")
    r, c = config.rows, config.cols
    pa, pb = config.entries_per_word(r), config.entries_per_word(c)
    align = max(pa, pb)   # loads start whole words: scratchpad offsets are multiples
    mb, nb = _ceil_div(m, r), _ceil_div(n, c)
    half = config.sp_depth // 2 // align * align
    if half < align:
        raise ValueError(f"double buffering needs sp_depth >= 2 * {align} (the entries of "
                         f"one DRAM word), got {config.sp_depth}")
    region_rows = config.acc_depth // 2
    # A panel of mt x nt output blocks shares each loaded k-tile: A is reused nt times
    # and B mt times. Square-ish panels that fill an accumulator region reuse most;
    # k-tiles stay at least 2 * rows long where K allows, so blocks stream unstalled.
    most = max(1, half // (_ceil_div(min(k, 2 * r), align) * align))
    mt = max(1, min(mb, math.isqrt(region_rows // r), most))
    nt = max(1, min(nb, region_rows // (r * mt), most))
    # At least MIN_K_TILES k-tiles where K allows (each still >= 2 * rows steps), so the
    # next k-tile's loads overlap this one's compute even when one panel is the whole GEMM.
    limit = half // max(mt, nt) // align * align
    k_tile = min(k, limit, max(2 * r, _ceil_div(k, MIN_K_TILES)))
    if k_tile < k:
        k_tile = max(align, k_tile // align * align)
    span = _ceil_div(k_tile, align) * align   # scratchpad entries of a block's k-tile
    words_a, words_b = _ceil_div(k, pa), _ceil_div(k, pb)
    a_base, b_base = 0, mb * words_a
    c_base = b_base + nb * words_b
    words = c_base + mb * nb * r
    if words > config.dram_depth:
        raise ValueError(f"A, B and C need {words} DRAM words, dram_depth is "
                         f"{config.dram_depth}")

    commands = []
    tile = 0
    panels = [(pm, pn) for pm in range(0, mb, mt) for pn in range(0, nb, nt)]
    starts = list(range(0, k, k_tile))
    for panel, (pm, pn) in enumerate(panels):
        block_rows = range(pm, min(pm + mt, mb))
        block_cols = range(pn, min(pn + nt, nb))
        blocks = [(mi, nj) for mi in block_rows for nj in block_cols]
        region = (panel % 2) * region_rows

        def acc_addr(mi, nj):
            return region + ((mi - pm) * len(block_cols) + (nj - pn)) * r

        for t, start in enumerate(starts):
            steps = min(k_tile, k - start)
            sp = (tile % 2) * half
            loads = [("LOAD", set(), {
                "target": "A", "dram_addr": a_base + mi * words_a + start // pa,
                "stride": 1, "sp_addr": sp + (mi - pm) * span, "rows": steps,
                "elems": min(r, m - mi * r)}) for mi in block_rows]
            loads += [("LOAD", set(), {
                "target": "B", "dram_addr": b_base + nj * words_b + start // pb,
                "stride": 1, "sp_addr": sp + (nj - pn) * span, "rows": steps,
                "elems": min(c, n - nj * c)}) for nj in block_cols]
            if tile >= 2:
                loads[0][1].add("pop_next")   # this half was freed by tile - 2
            loads[-1][1].add("push_next")     # operands ready
            execs = [("EXEC", set(), {
                "a_addr": sp + (mi - pm) * span, "b_addr": sp + (nj - pn) * span,
                "steps": steps, "acc_addr": acc_addr(mi, nj), "accumulate": int(t > 0),
                "rows_used": min(r, m - mi * r), "cols_used": min(c, n - nj * c)})
                for mi, nj in blocks]
            execs[0][1].add("pop_prev")
            execs[-1][1].add("push_prev")     # half free once the last block is fed
            if t == 0 and panel >= 2:
                execs[0][1].add("pop_next")   # region drained by the store of panel - 2
            if t == len(starts) - 1:
                execs[-1][1].add("push_next")  # results written
            commands += loads + execs
            tile += 1
        stores = [("STORE", set(), {
            "acc_addr": acc_addr(mi, nj), "dram_addr": c_base + (mi * nb + nj) * r,
            "stride": 1, "rows": min(r, m - mi * r), "elems": min(c, n - nj * c),
            **({} if out_shift is None else {"narrow": 1, "shift": out_shift})})
            for mi, nj in blocks]
        stores[0][1].add("pop_prev")
        stores[-1][1].add("push_prev")
        commands += stores
    commands, instructions = assemble(config, commands)
    return GemmProgram((m, k, n), instructions, a_base, b_base, c_base, words, k_tile,
                       (mt, nt), commands, out_shift)


class WsGemmProgram(GemmProgram):
    """A GEMM compiled for a weight-stationary tile: A is laid out by rows per k-block,
    C by rows per column block (see :func:`compile_gemm_ws`); ``panel`` is
    ``(rows of A, column blocks of B)`` per panel."""

    def dram_image(self, config, a, b):
        dw = config.data_width
        return (block_columns(np.asarray(a).T, config.rows, dw, self.a_base,
                              config.entries_per_word(config.rows))
                + block_columns(np.asarray(b).T, config.cols, dw, self.b_base,
                                config.entries_per_word(config.cols)))

    def read_ranges(self, config):
        m, _, n = self.shape
        return [(self.c_base, _ceil_div(n, config.cols) * m)]

    def output(self, config, result):
        (words,) = result["read"]
        m, _, n = self.shape
        c, width = config.cols, self.out_width(config)
        rows = [unpack_lanes(word, c, width) for word in words]
        return np.array([sum((rows[nj * m + i] for nj in range(_ceil_div(n, c))), [])
                         for i in range(m)], dtype=np.int64)[:, :n]


def _ws_panel(config, m, k, nb, half, region_rows, align):
    """``(pm, nt, k_tile)`` of a weight-stationary GEMM: ``pm`` rows of A by ``nt`` column
    blocks of B per panel (``nt * pm`` accumulator rows), and the k-tile, a multiple of
    ``rows`` and of ``align`` unless it is all of K.

    A loaded panel row block is reused by ``nt`` column blocks and a loaded weight block
    by ``pm`` rows: traffic goes as ``1 / pm + 1 / (cols * nt)``, least at
    ``pm = cols * nt``; ``pm >= rows`` keeps the weight loads hidden under the steps.
    """
    r, c = config.rows, config.cols
    step = math.lcm(r, align)
    pm = min(m, region_rows, half, max(r, math.isqrt(region_rows * c)))
    if pm < m:   # panels start at whole words of A's rows
        pm = max(align, pm // align * align)
    if pm > min(region_rows, half):
        raise ValueError(f"weight_stationary needs acc_depth // 2 >= {align} rows (a DRAM "
                         f"word of entries), got acc_depth={config.acc_depth}")
    span = _ceil_div(pm, align) * align
    # As many column blocks as the accumulator region holds, each with at least one
    # k-tile step of weights in half a scratchpad.
    nt = max(1, min(nb, region_rows // pm, half // (_ceil_div(min(k, step), align) * align)))
    # The k-tile's A rows (k_tile / rows blocks of `span` entries) and B rows (`nt`
    # blocks of k_tile entries) fit half a scratchpad each; at least MIN_K_TILES k-tiles
    # where K allows, so loads overlap compute.
    limit = min(half // span * r, half // nt // align * align)
    k_tile = min(k, limit, max(step, _ceil_div(k, MIN_K_TILES)))
    if k_tile < k:
        k_tile = k_tile // step * step
    if k_tile < 1:
        raise ValueError(f"weight_stationary k-tiles need {step} entries (rows and a DRAM "
                         f"word) of {pm} rows of A and {nt} weight blocks in half a "
                         f"scratchpad, sp_depth={config.sp_depth} is too small")
    return pm, nt, k_tile


def compile_gemm_ws(config, m, k, n, *, out_shift=None):
    """Compile ``C[m, n] = A[m, k] @ B[k, n]`` for a weight-stationary tile.

    Each EXEC keeps ``rows x cols`` of B (``rows`` reduction steps of one column block)
    in the array and streams a panel's rows of A through it, accumulating into one
    accumulator row per row of A. DRAM layout (zero padded), ``PA`` (``PB``) entries
    to a word:

    - A, k-block ``kb``: entry ``i`` is ``A[i, kb*R:(kb+1)*R]``, in word
      ``a_base + kb * ceil(M / PA) + i // PA``;
    - B, block ``nj``: entry ``k`` is ``B[k, nj*C:(nj+1)*C]``, as output-stationary;
    - C, column block ``nj``: word ``c_base + nj * M + i`` holds ``C[i, nj*C:(nj+1)*C]``.

    Panels of ``pm`` rows by ``nt`` column blocks fill half the accumulator; k-tiles,
    scratchpad and accumulator halves and dependency tokens follow
    :func:`compile_gemm`. Arguments and errors as :func:`compile_gemm`.
    """
    r, c = config.rows, config.cols
    pa, pb = config.entries_per_word(r), config.entries_per_word(c)
    align = max(pa, pb)
    half = config.sp_depth // 2 // align * align
    if half < align:
        raise ValueError(f"double buffering needs sp_depth >= 2 * {align} (the entries of "
                         f"one DRAM word), got {config.sp_depth}")
    nb = _ceil_div(n, c)
    region_rows = config.acc_depth // 2
    pm, nt, k_tile = _ws_panel(config, m, k, nb, half, region_rows, align)
    span, k_span = _ceil_div(pm, align) * align, _ceil_div(k_tile, align) * align
    words_a, words_b = _ceil_div(m, pa), _ceil_div(k, pb)
    a_base, b_base = 0, _ceil_div(k, r) * words_a
    c_base = b_base + nb * words_b
    words = c_base + nb * m
    if words > config.dram_depth:
        raise ValueError(f"A, B and C need {words} DRAM words, dram_depth is "
                         f"{config.dram_depth}")

    commands = []
    tile = 0
    panels = [(m0, pn) for m0 in range(0, m, pm) for pn in range(0, nb, nt)]
    starts = list(range(0, k, k_tile))
    for panel, (m0, pn) in enumerate(panels):
        rows = min(pm, m - m0)
        block_cols = range(pn, min(pn + nt, nb))
        region = (panel % 2) * region_rows
        for t, start in enumerate(starts):
            k_blocks = range(start // r, _ceil_div(min(start + k_tile, k), r))
            sp = (tile % 2) * half
            loads = [("LOAD", set(), {
                "target": "A", "dram_addr": a_base + kb * words_a + m0 // pa, "stride": 1,
                "sp_addr": sp + (kb - k_blocks[0]) * span, "rows": rows,
                "elems": min(r, k - kb * r)}) for kb in k_blocks]
            loads += [("LOAD", set(), {
                "target": "B", "dram_addr": b_base + nj * words_b + start // pb,
                "stride": 1, "sp_addr": sp + (nj - pn) * k_span,
                "rows": min(k_tile, k - start), "elems": min(c, n - nj * c)})
                for nj in block_cols]
            execs = [("EXEC", set(), {
                "a_addr": sp + (kb - k_blocks[0]) * span,
                "b_addr": sp + (nj - pn) * k_span + (kb - k_blocks[0]) * r,
                "steps": rows, "acc_addr": region + (nj - pn) * pm,
                "accumulate": int(kb > 0), "rows_used": min(r, k - kb * r),
                "cols_used": min(c, n - nj * c)})
                for nj in block_cols for kb in k_blocks]
            _tile_tokens(loads, execs, tile, t == 0 and panel >= 2, t == len(starts) - 1)
            commands += loads + execs
            tile += 1
        stores = [("STORE", set(), {
            "acc_addr": region + (nj - pn) * pm, "dram_addr": c_base + nj * m + m0,
            "stride": 1, "rows": rows, "elems": min(c, n - nj * c),
            **({} if out_shift is None else {"narrow": 1, "shift": out_shift})})
            for nj in block_cols]
        stores[0][1].add("pop_prev")
        stores[-1][1].add("push_prev")
        commands += stores
    commands, instructions = assemble(config, commands)
    return WsGemmProgram((m, k, n), instructions, a_base, b_base, c_base, words, k_tile,
                         (pm, nt), commands, out_shift)


def _tile_tokens(loads, execs, tile, region_reused, last_tile):
    """Dependency tokens of k-tile ``tile``'s loads and blocks (see the module notes):
    the loads wait for the half freed two k-tiles back and signal operands ready; the
    blocks wait for them and free the half once the last is fed; the first block into
    a reused accumulator region waits for its stores, the last block of a panel
    signals its results written."""
    if tile >= 2:
        loads[0][1].add("pop_next")
    loads[-1][1].add("push_next")
    execs[0][1].add("pop_prev")
    execs[-1][1].add("push_prev")
    if region_reused:
        execs[0][1].add("pop_next")
    if last_tile:
        execs[-1][1].add("push_next")
