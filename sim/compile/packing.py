"""Bit packing shared by the compilers and the testbenches, so neither can disagree with
the RTL about bit positions."""

import numpy as np

__all__ = ["pack_lanes", "unpack_lanes", "pack_struct", "block_columns"]


def pack_lanes(values, width):
    """Pack signed integers into one word, lane ``i`` at bits ``[i*width, (i+1)*width)``."""
    mask = (1 << width) - 1
    word = 0
    for i, value in enumerate(values):
        word |= (int(value) & mask) << (i * width)
    return word


def unpack_lanes(word, count, width):
    """Inverse of :func:`pack_lanes`, sign-extending each lane."""
    mask = (1 << width) - 1
    half = 1 << (width - 1)
    return [(((word >> (i * width)) & mask) ^ half) - half for i in range(count)]


def pack_struct(layout, fields):
    """Pack a dict into the bits of an Amaranth ``StructLayout`` (missing fields are 0)."""
    return layout.const(fields).as_value().value


def block_columns(matrix, lanes, width, base, pack=1):
    """``(addr, word)`` pairs of ``matrix`` as the tile's loads read an operand: rows in
    blocks of ``lanes`` (the last zero padded); column ``c`` of block ``b`` is one
    scratchpad entry (lane ``i`` its row ``i``), and ``pack`` consecutive entries share
    a DRAM word (``TileConfig.entries_per_word``): entry ``c`` is at bits
    ``[(c % pack) * lanes * width, ...)`` of word ``base + b * ceil(columns / pack) +
    c // pack``."""
    matrix = np.asarray(matrix, dtype=np.int64)
    rows, columns = matrix.shape
    padded = np.zeros((-(-rows // lanes) * lanes, columns), dtype=np.int64)
    padded[:rows] = matrix
    per_block = -(-columns // pack)
    image = []
    for block in range(len(padded) // lanes):
        entries = [pack_lanes(padded[block * lanes:(block + 1) * lanes, column], width)
                   for column in range(columns)]
        for w in range(per_block):
            word = 0
            for i, entry in enumerate(entries[w * pack:(w + 1) * pack]):
                word |= entry << (i * lanes * width)
            image.append((base + block * per_block + w, word))
    return image
