"""The instruction set: every layout round-trips through encode and decode, and the
encoder refuses what the hardware would get wrong."""

import pytest

from rooftile.hdl.errors import InputError
from rooftile.hdl.isa import (Instruction, KeyAxis, Opcode, Target, assemble, decode, encode,
                              softmax_command)
from rooftile.hdl.params import TileConfig

CONFIG = TileConfig(rows=4, cols=4, sp_depth=64, acc_depth=16, dram_depth=1024)


@pytest.mark.parametrize("opcode, deps, args", [
    ("LOAD", ("pop_next", "push_next"),
     {"target": Target.B, "dram_addr": 1023, "stride": 7, "sp_addr": 63, "rows": 64,
      "elems": 4}),
    ("EXEC", ("pop_prev", "push_prev", "push_next"),
     {"a_addr": 5, "b_addr": 32, "steps": 64, "acc_addr": 12, "accumulate": 1,
      "rows_used": 1, "cols_used": 4}),
    ("STORE", ("pop_prev", "push_prev"),
     {"acc_addr": 15, "dram_addr": 0, "stride": 1, "rows": 16, "elems": 3, "narrow": 1,
      "shift": 31}),
    ("SOFTMAX", ("pop_prev", "push_next"),
     {"axis": KeyAxis.ROWS, "src": 2, "row_step": 5, "seg_step": 1, "segments": 5,
      "count": 2, "pad": 3, "dst": 50, "scale": 65535, "shift": 63}),
    ("FINISH", (), {}),
])
def test_encode_decode_round_trip(opcode, deps, args):
    word = encode(CONFIG, opcode, deps, **args)
    assert 0 <= word < (1 << Instruction(CONFIG).size)
    assert decode(CONFIG, word) == (Opcode[opcode], deps, args)


def test_opcode_sits_in_the_low_bits():
    # The HDL decoder reads the opcode from bits [0, 3); pin the layout's order.
    assert encode(CONFIG, "STORE", rows=1) & 0b111 == Opcode.STORE.value
    assert encode(CONFIG, "FINISH") == Opcode.FINISH.value


def test_bad_fields_are_rejected_with_the_allowed_range():
    # sp_depth=64 needs 7 bits to count 64 rows.
    with pytest.raises(ValueError, match=r"LOAD.rows=128 does not fit in 7 bits \(0..127\)"):
        encode(CONFIG, "LOAD", rows=128)
    with pytest.raises(ValueError, match="EXEC has no field 'dram_addr'; fields: a_addr"):
        encode(CONFIG, "EXEC", dram_addr=3)
    with pytest.raises(ValueError, match="unknown dependency flag 'pop_both'"):
        encode(CONFIG, "STORE", ("pop_both",))
    with pytest.raises(ValueError, match="EXEC.steps must be >= 1, got 0"):
        encode(CONFIG, "EXEC", steps=0)
    # SOFTMAX goes through the vector unit's checks: addresses, not only widths.
    with pytest.raises(ValueError, match=r"accumulator rows src=10..19 lie outside"):
        encode(CONFIG, "SOFTMAX", axis="ROWS", src=10, segments=10, count=1, dst=0,
               scale=1, shift=0)
    with pytest.raises(ValueError, match="segments must be in"):
        encode(CONFIG, "SOFTMAX", axis="LANES", src=0, segments=0, count=1, dst=0,
               scale=1, shift=0)
    with pytest.raises(ValueError, match="FINISH takes no arguments"):
        encode(CONFIG, "FINISH", rows=1)


SMALL = TileConfig(rows=4, cols=4, acc_depth=64, sp_depth=64)


@pytest.mark.parametrize("change, message", [
    ({"segments": 0}, r"segments must be in \[1, 64\] for this TileConfig, got 0"),
    ({"count": 0}, r"count must be in \[1, 64\]"),
    ({"pad": 4}, r"pad must be in \[0, 3\] for this TileConfig, got 4"),
    ({"scale": 1 << 16}, r"scale must be in \[0, 65535\]"),
    ({"src": 60}, r"accumulator rows src=60..65 lie outside \[0, acc_depth=64\)"),
    ({"dst": 60}, r"scratchpad entries dst=60..65 lie outside \[0, sp_depth=64\)"),
    ({"seg_step": 40}, r"accumulator rows src=0..83 lie outside"),
])
def test_softmax_command_refuses_what_the_hardware_would_get_wrong(change, message):
    fields = dict(axis="LANES", src=0, segments=3, count=2, dst=0, scale=1000, shift=10)
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        softmax_command(SMALL, **fields)
    with pytest.raises(TypeError, match="count must be an integer, got True"):
        softmax_command(SMALL, **{**fields, "count": True})


def test_assemble_refuses_transfers_past_a_memory():
    # A DRAM word is 2 x 32 bits: it carries 4 entries of 2 int8 operands.
    config = TileConfig(rows=2, cols=2, sp_depth=16, acc_depth=8, dram_depth=100)
    assert config.entries_per_word(2) == 4
    load = {"target": "A", "dram_addr": 96, "stride": 2, "sp_addr": 0, "rows": 12, "elems": 2}
    with pytest.raises(InputError, match=r"instruction 0 \(LOAD\) reaches DRAM entries "
                                         r"96\.\.100 through dram_addr; DRAM has entries 0\.\.99"):
        assemble(config, [("LOAD", (), load)])               # 3 words, 2 apart
    assemble(config, [("LOAD", (), {**load, "stride": 1})])  # words 96..98 fit
    with pytest.raises(InputError, match=r"scratchpad entries 8\.\.19"):
        assemble(config, [("LOAD", (), {**load, "stride": 1, "sp_addr": 8})])
    with pytest.raises(InputError, match=r"sp_addr must be a multiple of 4"):
        assemble(config, [("LOAD", (), {**load, "stride": 1, "sp_addr": 2, "rows": 4})])
    store = {"acc_addr": 6, "dram_addr": 0, "stride": 1, "rows": 3, "elems": 2}
    with pytest.raises(InputError, match=r"instruction 1 \(STORE\) reaches the accumulator "
                                         r"entries 6\.\.8"):
        assemble(config, [("LOAD", (), {**load, "stride": 1}), ("STORE", (), store)])
