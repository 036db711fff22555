"""The tile configuration: the single source of truth for hardware, compiler and roofline.

Everything that elaborates, compiles for or predicts the tile reads one frozen
:class:`TileConfig`. Its :attr:`~TileConfig.digest` keys the build cache, so two equal
configurations share one simulator build.
"""

import dataclasses
import hashlib
import json
from fractions import Fraction

from .errors import InputError, InputTypeError, integer, positive_float

__all__ = ["TileConfig", "AttentionUnit", "DATAFLOWS", "DATA_WIDTHS",
           "ATTENTION_UNIT_PRESETS", "MAX_RATE_DENOMINATOR", "MAX_DRAM_LATENCY", "operand_range",
           "rational"]

#: Dataflows the RTL implements: which operand stays in the PEs while the other streams
#: (:data:`~rooftile.hdl.matrix_unit.MATRIX_UNITS`). Output-stationary keeps an
#: ``rows x cols`` block of C and streams the reduction; weight-stationary keeps a
#: ``rows x cols`` block of B (K by N) and streams rows of A.
DATAFLOWS = ("output_stationary", "weight_stationary")
DATA_WIDTHS = (8, 16)


#: Published PIM attention design points: (DRAM bandwidth multiple, ops per byte of it).
#: Logic-die (base-die) PIM: AttAcc (Park et al., ASPLOS 2024) and NeuPIMs (Heo et al.,
#: ASPLOS 2024) quote about 4x the external HBM bandwidth inside the stack, with
#: attention compute sized to it; 8 ops/byte is the issue's design point for that class.
#: Bank-level PIM: Samsung Aquabolt-XL HBM-PIM (Kwon et al., ISSCC 2021) runs
#: 1.2 TFLOP/s on 4 x 307 GB/s of internal bandwidth, about 1 FLOP per byte; SK hynix AiM
#: (Lee et al., ISSCC 2022) is of the same order. 16x is the bank-parallel bandwidth of
#: all banks of a stack against its pins.
ATTENTION_UNIT_PRESETS = {"logic-die": (Fraction(4), Fraction(8)),
                          "bank-level": (Fraction(16), Fraction(1))}


#: Largest denominator of a DRAM rate: the token bucket counts bytes in steps of
#: 1/MAX_RATE_DENOMINATOR.
MAX_RATE_DENOMINATOR = 1 << 12
#: Longest DRAM latency in cycles. Rate and latency are run-time settings of a build
#: (:func:`~rooftile.hdl.dram.DramSetting`), so its delay ring has this many slots (a
#: power of two); 256 ns at 1 GHz is above HBM's loaded read latency.
MAX_DRAM_LATENCY = 256


def rational(field, value):
    """``value`` (a Fraction, an int, a float or a string such as ``"7/4"``) as an exact
    Fraction whose denominator the DRAM model can count in.

    Raises
    ------
    InputTypeError
        Not a number.
    InputError
        Not finite, a zero denominator, or a denominator above
        :data:`MAX_RATE_DENOMINATOR` (the nearest allowed value is named; nothing is
        rounded silently).
    """
    try:
        # A float's decimal text is what the user wrote (0.3 -> 3/10), not its binary value.
        exact = Fraction(repr(value) if isinstance(value, float) else value)
    except ZeroDivisionError:
        raise InputError(f"{field} must not divide by zero, got {value!r}") from None
    except (TypeError, ValueError):
        raise InputTypeError(f"{field} must be a number such as 2, 1.75 or 7/4, "
                             f"got {value!r}") from None
    if exact.denominator > MAX_RATE_DENOMINATOR:
        nearest = exact.limit_denominator(MAX_RATE_DENOMINATOR)
        raise InputError(f"{field}={value} needs a denominator above {MAX_RATE_DENOMINATOR}; "
                         f"allowed are rationals with a denominator up to "
                         f"{MAX_RATE_DENOMINATOR}; the nearest is "
                         f"{nearest}")
    return exact


def operand_range(data_width):
    """``(lowest, highest)`` value of a signed ``data_width``-bit operand, inclusive."""
    return -(1 << (data_width - 1)), (1 << (data_width - 1)) - 1


@dataclasses.dataclass(frozen=True)
class AttentionUnit:
    """A near-memory attention unit beside the tile: a GEMV engine with its own memory.

    It holds the KV cache in its own DRAM (as in AttAcc and NeuPIMs, the cache lives in
    the PIM stacks), reads it at ``bandwidth_multiple`` times the tile's DRAM rate and
    computes ``ops_per_byte`` operations per byte of that rate: one query vector at a
    time (an ``lanes x 1`` array) with its own softmax unit. It runs the fused attention
    programs of :mod:`rooftile.sim.attention` while the tile runs projections and FFNs;
    it shares no hardware with the tile, so it is built and simulated as a tile of its
    own (:meth:`TileConfig.attention_unit_tile`).

    Parameters
    ----------
    kind : str
        A key of :data:`ATTENTION_UNIT_PRESETS` (also selects the area model).
    bandwidth_multiple, ops_per_byte : Fraction or None
        None takes the preset's value.
    sp_depth, acc_depth, dram_depth, program_depth : int
        The engine's memories. The buffers are small, as a PIM unit's are (they are
        charged by the area model): 512-token K/V slots, and a few query blocks of
        absorbed MLA per pass over the cache. DRAM and program memory hold two
        instances of the study's absorbed MLA (128 queries over 512 keys).
    """
    kind: str = "logic-die"
    bandwidth_multiple: Fraction = None
    ops_per_byte: Fraction = None
    sp_depth: int = 4096
    acc_depth: int = 4096
    dram_depth: int = 1 << 17
    program_depth: int = 1 << 17

    def __post_init__(self):
        if self.kind not in ATTENTION_UNIT_PRESETS:
            raise InputError(f"attention unit kind must be one of "
                             f"{sorted(ATTENTION_UNIT_PRESETS)}, got {self.kind!r}")
        multiple, ops = ATTENTION_UNIT_PRESETS[self.kind]
        for name, default in (("bandwidth_multiple", multiple), ("ops_per_byte", ops)):
            value = getattr(self, name)
            value = default if value is None else Fraction(value)
            if value <= 0:
                raise InputError(f"{name} must be > 0, got {value}")
            object.__setattr__(self, name, value)
        for name in ("sp_depth", "acc_depth", "dram_depth", "program_depth"):
            integer(name, getattr(self, name), 2)

    def to_json(self):
        d = dataclasses.asdict(self)
        d["bandwidth_multiple"] = str(self.bandwidth_multiple)
        d["ops_per_byte"] = str(self.ops_per_byte)
        return d


@dataclasses.dataclass(frozen=True)
class TileConfig:
    """Parameters of one systolic tile.

    Parameters
    ----------
    rows, cols : int
        Systolic array size. Output-stationary: an ``rows x cols`` output block is
        computed per pass, ``rows`` from the A operand, ``cols`` from the B operand.
        Weight-stationary: ``rows`` reduction steps by ``cols`` columns of B stay in
        the array while rows of A stream through.
    data_width : int
        Signed operand width in bits (8 or 16).
    acc_width : int
        Signed accumulator width in bits.
    max_reduction : int
        The longest reduction (K) the tile promises to accumulate without overflow,
        even with every product at its extreme ``(-2**(w-1))**2``.
    dataflow : str
        One of :data:`DATAFLOWS`.
    sp_depth : int
        Entries in each operand scratchpad (an entry is one ``rows``- or ``cols``-wide
        operand vector, one step of the reduction).
    acc_depth : int
        Entries in the accumulator memory (an entry is one ``cols``-wide int row).
    dram_bytes_per_cycle : Fraction
        DRAM bandwidth, a rational so that a small tile can match a real machine's ridge
        point (an H100 needs about 295 FLOP/byte, i.e. under 2 bytes/cycle for 16x16).
    dram_latency : int
        Cycles from a DRAM read request to its data.
    dram_depth : int
        DRAM capacity in words (a word is one row of the widest on-chip memory).
    program_depth : int
        Instruction memory entries.
    attention_unit : AttentionUnit or None
        The variant under study; None for the baseline tile.
    clock_Hz : float
        Clock frequency; turns cycles into seconds and bytes/cycle into GB/s for the
        roofline and the area model (1 GHz, the order of a real accelerator's clock).

    Raises
    ------
    TypeError, ValueError
        On construction, naming the field, the bad value and what is allowed.
    """

    rows: int = 8
    cols: int = 8
    data_width: int = 8
    acc_width: int = 32
    max_reduction: int = 4096
    dataflow: str = "output_stationary"
    sp_depth: int = 1024
    acc_depth: int = 256
    dram_bytes_per_cycle: Fraction = Fraction(4)
    dram_latency: int = 32
    dram_depth: int = 1 << 14
    program_depth: int = 1024
    attention_unit: AttentionUnit = None
    clock_Hz: float = 1e9

    def __post_init__(self):
        for name, minimum in (("rows", 1), ("cols", 1), ("acc_width", 1),
                              ("max_reduction", 1), ("sp_depth", 2), ("acc_depth", 1),
                              ("dram_latency", 1), ("dram_depth", 1),
                              ("program_depth", 2)):
            integer(name, getattr(self, name), minimum)
        if self.dram_latency > MAX_DRAM_LATENCY:
            raise InputError(f"dram_latency must be <= {MAX_DRAM_LATENCY} cycles, got "
                             f"{self.dram_latency}")
        object.__setattr__(self, "clock_Hz", positive_float("clock_Hz", self.clock_Hz))
        if self.data_width not in DATA_WIDTHS:
            raise InputError(f"data_width must be one of {DATA_WIDTHS}, "
                             f"got {self.data_width!r}")
        if self.dataflow not in DATAFLOWS:
            raise InputError(f"dataflow must be one of {DATAFLOWS}, got {self.dataflow!r}")
        worst = self.max_reduction * self.max_product
        if worst > 2 ** (self.acc_width - 1) - 1:
            raise InputError(
                f"acc_width={self.acc_width} cannot hold max_reduction={self.max_reduction} "
                f"products of {self.data_width}-bit operands (worst sum {worst}); "
                f"allowed: acc_width >= {self.min_acc_width} or max_reduction <= "
                f"{(2 ** (self.acc_width - 1) - 1) // self.max_product}")
        bandwidth = rational("dram_bytes_per_cycle", self.dram_bytes_per_cycle)
        if bandwidth <= 0 or bandwidth > self.dram_word_bytes:
            raise InputError(f"dram_bytes_per_cycle must be > 0 and <= one DRAM word "
                             f"({self.dram_word_bytes} bytes), got {self.dram_bytes_per_cycle!r}")
        object.__setattr__(self, "dram_bytes_per_cycle", bandwidth)
        if self.attention_unit is not None:
            if not isinstance(self.attention_unit, AttentionUnit):
                raise InputTypeError(f"attention_unit must be an AttentionUnit or None, "
                                f"got {self.attention_unit!r}")
            self.attention_unit_tile()   # its engine must be buildable too

    @property
    def operand_range(self):
        """``(lowest, highest)`` operand value, inclusive."""
        return operand_range(self.data_width)

    @property
    def max_product(self):
        """Largest magnitude of one signed product: ``(-2**(w-1))**2``."""
        return 2 ** (2 * self.data_width - 2)

    @property
    def min_acc_width(self):
        """Narrowest accumulator that holds ``max_reduction`` extreme products."""
        return (self.max_reduction * self.max_product).bit_length() + 1

    @property
    def peak_macs_per_cycle(self):
        return self.rows * self.cols

    @property
    def data_bytes(self):
        return self.data_width // 8

    @property
    def acc_bytes(self):
        return -(-self.acc_width // 8)

    @property
    def dram_word_bits(self):
        """A DRAM word holds one row of the widest on-chip memory (an accumulator row)."""
        return max(self.rows * self.data_width, self.cols * self.data_width,
                   self.cols * self.acc_width)

    @property
    def dram_word_bytes(self):
        return -(-self.dram_word_bits // 8)

    def entries_per_word(self, lanes):
        """Scratchpad entries of ``lanes`` operands one DRAM word carries to a LOAD: the
        largest power of two that fits (so that an entry's place in the packed
        scratchpad, :class:`~rooftile.hdl.scratchpad.Scratchpad`, is a bit field of its
        address). The A scratchpad has ``rows`` lanes, the B scratchpad ``cols``."""
        return 1 << ((self.dram_word_bits // (lanes * self.data_width)).bit_length() - 1)

    @property
    def drain_interval(self):
        """Minimum cycles between the last reduction steps of consecutive output blocks.

        Results leave the array up its columns, one row every two cycles, against the
        skew of the operands; a shorter interval would collide two blocks in a column.
        """
        return max(2 * self.rows - 1, 2)

    @property
    def queue_depth(self):
        """Entries in each unit's instruction queue: a whole accumulator half of output
        blocks (the compiler's panel) plus slack, so that a panel's executes or stores
        never stall fetch and starve the other units of their next instructions."""
        return 2 * max(1, self.acc_depth // (2 * self.rows)) + 8

    def attention_unit_tile(self):
        """The attention unit's engine as a tile of its own: ``lanes x 1`` MACs (the
        ops its bandwidth and ops/byte allow, at least one lane), the unit's bandwidth,
        the tile's widths and DRAM latency.

        Raises
        ------
        ValueError
            No attention unit, or one whose bandwidth exceeds what one DRAM word per
            cycle of its engine can carry.
        """
        unit = self.attention_unit
        if unit is None:
            raise InputError("this TileConfig has no attention unit")
        bandwidth = self.dram_bytes_per_cycle * unit.bandwidth_multiple
        lanes = max(1, round(unit.ops_per_byte * bandwidth / 2))
        try:
            return TileConfig(rows=lanes, cols=1, data_width=self.data_width,
                              acc_width=self.acc_width, max_reduction=self.max_reduction,
                              sp_depth=unit.sp_depth, acc_depth=unit.acc_depth,
                              dram_bytes_per_cycle=bandwidth, dram_latency=self.dram_latency,
                              dram_depth=unit.dram_depth, program_depth=unit.program_depth,
                              clock_Hz=self.clock_Hz)
        except InputError as error:
            raise InputError(f"attention unit {unit.kind} ({unit.bandwidth_multiple}x "
                             f"bandwidth, {unit.ops_per_byte} ops/byte): {error}") from None

    def to_json(self):
        """Plain JSON-able dict, units in key names where a unit applies."""
        d = dataclasses.asdict(self)
        d["dram_bytes_per_cycle"] = str(self.dram_bytes_per_cycle)
        if self.attention_unit is not None:
            d["attention_unit"] = self.attention_unit.to_json()
        return d

    @classmethod
    def from_json(cls, d):
        d = dict(d)
        if "dram_bytes_per_cycle" in d:
            d["dram_bytes_per_cycle"] = Fraction(d["dram_bytes_per_cycle"])
        if d.get("attention_unit") is not None:
            d["attention_unit"] = AttentionUnit(**{
                k: (Fraction(v) if k in ("bandwidth_multiple", "ops_per_byte") else v)
                for k, v in d["attention_unit"].items()})
        return cls(**d)

    @property
    def digest(self):
        """Stable short hash of every field the RTL depends on: the build-cache key.

        Left out: the clock (it turns cycles into seconds), the DRAM's rate and latency
        (run-time settings the testbench writes, :func:`~rooftile.hdl.dram.DramSetting`)
        and the attention unit (its engine is a TileConfig of its own). So one build
        serves every clock, bandwidth and latency of an array shape."""
        fields = self.to_json()
        for name in ("clock_Hz", "dram_bytes_per_cycle", "dram_latency", "attention_unit"):
            del fields[name]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)
