"""Bit packing shared by the compilers and the testbenches, so neither can disagree with
the RTL about bit positions; and the compilers' checks of sizes and operands."""

import numpy as np

from ...hdl.errors import InputError, InputTypeError

__all__ = ["pack_lanes", "unpack_lanes", "pack_struct", "block_columns", "operand", "sizes"]


def sizes(**named):
    """Check that every named problem size is an integer >= 1 (numpy integers too).

    Raises
    ------
    InputError
        Naming the first size that is not, e.g. ``N must be an integer >= 1, got 0``.
    """
    for name, value in named.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be an integer >= 1, got {value!r}")


def operand(config, name, values, shape):
    """``values`` as an int64 array of ``shape`` whose every value the tile's signed
    operands hold; checked before anything is packed or simulated.

    Raises
    ------
    InputTypeError
        Not integers (floats would be truncated, NaN would read as zero).
    InputError
        Another shape, or a value outside the operand range (the RTL would wrap it).
    """
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise InputTypeError(f"operand {name} must hold integers, got dtype {array.dtype}")
    if array.shape != tuple(shape):
        raise InputError(f"operand {name} must have shape {tuple(shape)} for this program, "
                         f"got {array.shape}")
    low, high = config.operand_range
    if array.size and (array.min() < low or array.max() > high):
        raise InputError(f"operand {name} has values outside the signed "
                         f"{config.data_width}-bit range [{low}, {high}]: min {array.min()}, "
                         f"max {array.max()}")
    return array.astype(np.int64)


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
