"""Machines as roofline parameters: peak FLOP/s per element format and DRAM bandwidth.

Presets quote vendor or paper figures, dense (no 2:4 sparsity), with the source in
``source``. Kept apart from the workload description (``ops.py``), as LLMCompass keeps
``hardware_model/`` apart from ``software_model/``.
"""

from dataclasses import dataclass

from ..hdl.errors import lookup, name_registry, positive_float, positive_int
from .dtypes import DTYPE_BYTES, element_bytes

__all__ = ["HardwareSpec", "HARDWARE", "get_hardware", "tile_hardware"]


@dataclass(frozen=True)
class HardwareSpec:
    """A machine's roofline: peak compute per element format and memory bandwidth.

    Members
    -------
    name : str
    peak_bf16_flop_per_s, peak_fp8_flop_per_s, peak_int8_flop_per_s : float
        Dense peak of the matrix units for operands of that format (int8 in OP/s).
    bandwidth_bytes_per_s : float
        DRAM (HBM) bandwidth.
    source : str
        Where the figures come from, and any figure that is not stated there.
    memory_bytes : float or None
        DRAM (HBM) capacity usable by the application, in bytes (vendor GB = 1e9 bytes);
        None when unknown (a rooftile tile). Capacity analyses refuse None.
    """

    name: str
    peak_bf16_flop_per_s: float
    peak_fp8_flop_per_s: float
    peak_int8_flop_per_s: float
    bandwidth_bytes_per_s: float
    source: str
    memory_bytes: float | None = None

    def __post_init__(self):
        for dtype in DTYPE_BYTES:
            positive_float(f"peak_{dtype}_flop_per_s", self.peak_flop_per_s(dtype))
        positive_float("bandwidth_bytes_per_s", self.bandwidth_bytes_per_s)
        if self.memory_bytes is not None:
            positive_float("memory_bytes", self.memory_bytes)

    def peak_flop_per_s(self, dtype: str) -> float:
        """Dense peak for operands of ``dtype``."""
        element_bytes(dtype)  # rejects an unknown format with the known ones listed
        return getattr(self, f"peak_{dtype}_flop_per_s")

    def ridge_flop_per_byte(self, dtype: str) -> float:
        """Arithmetic intensity at which the machine turns from memory- to compute-bound."""
        return self.peak_flop_per_s(dtype) / self.bandwidth_bytes_per_s


HARDWARE = name_registry(
    (
        HardwareSpec(
            name="h100",
            # Dense tensor-core figures (half the "with sparsity" datasheet numbers).
            peak_bf16_flop_per_s=989.4e12,
            peak_fp8_flop_per_s=1978.9e12,
            peak_int8_flop_per_s=1978.9e12,
            bandwidth_bytes_per_s=3.35e12,
            source="NVIDIA H100 SXM5: H100 Tensor Core GPU datasheet and Hopper architecture "
            "whitepaper (989.4 TFLOP/s bf16, 1978.9 fp8 and int8, dense; HBM3 80 GB, 3.35 TB/s)",
            memory_bytes=80e9,
        ),
        HardwareSpec(
            name="h200",
            peak_bf16_flop_per_s=989.4e12,
            peak_fp8_flop_per_s=1978.9e12,
            peak_int8_flop_per_s=1978.9e12,
            bandwidth_bytes_per_s=4.8e12,
            source="NVIDIA H200 SXM datasheet: H100 compute (1979 TFLOP/s bf16 with sparsity, "
            "so 989.4 dense) with 141 GB of HBM3e at 4.8 TB/s",
            memory_bytes=141e9,
        ),
        HardwareSpec(
            name="b200",
            peak_bf16_flop_per_s=2.25e15,
            peak_fp8_flop_per_s=4.5e15,
            peak_int8_flop_per_s=4.5e15,
            bandwidth_bytes_per_s=8e12,
            source="NVIDIA HGX B200 datasheet, per GPU at 1000 W: 2.25 PFLOP/s bf16, 4.5 fp8, "
            "4.5 POP/s int8, dense (half the sparsity figures); HBM3e 8 TB/s; 1.44 TB of GPU "
            "memory per 8 GPUs (DGX/HGX B200), i.e. 180 GB usable of the 8 x 24 GB = 192 GB "
            "stacked (rooftile cost-energy fact sheet, S7/S10)",
            memory_bytes=180e9,
        ),
        HardwareSpec(
            name="hbm-pim",
            # The PCU computes in FP16 only: the same peak serves every format (8-bit operands
            # would halve the bytes but not raise the FLOP rate).
            peak_bf16_flop_per_s=1.2e12,
            peak_fp8_flop_per_s=1.2e12,
            peak_int8_flop_per_s=1.2e12,
            bandwidth_bytes_per_s=4 * 307.2e9,
            source="Samsung Aquabolt-XL HBM-PIM, one 6 GB HBM2 stack (Kwon et al., ISSCC 2021, "
            "paper 25.4: 1.2 TFLOP/s FP16 from 300 MHz in-bank units). Bandwidth: Samsung "
            "states bank-level parallelism gives 4x the off-chip bandwidth, and off-chip is "
            "HBM2 Aquabolt's 2.4 Gb/s x 1024 pins = 307.2 GB/s. Capacity 6 GB (the PIM stack "
            "gives up 2 GB of the 8 GB Aquabolt to the compute units)",
            memory_bytes=6e9,
        ),
    ),
    "hardware",
)


def get_hardware(hw: "str | HardwareSpec") -> HardwareSpec:
    """Return the preset called ``hw``; a HardwareSpec passes through unchanged.

    Raises
    ------
    ValueError
        If no preset has that name; the message lists the known names.
    """
    if isinstance(hw, HardwareSpec):
        return hw
    return lookup(HARDWARE, hw, "hardware")


def tile_hardware(config, clock_Hz: float | None = None, name: str | None = None) -> HardwareSpec:
    """The roofline of a rooftile tile, from the same configuration the RTL is built from.

    Reads only ``config.peak_macs_per_cycle`` and ``config.dram_bytes_per_cycle`` (a
    ``rooftile.hdl.params.TileConfig`` or anything with those two attributes), so the peak
    and bandwidth can never drift from the hardware's.

    Parameters
    ----------
    config
        Has ``peak_macs_per_cycle`` (int, rows x cols) and ``dram_bytes_per_cycle`` (number).
    clock_Hz : float or None
        Clock the tile runs at; None reads ``config.clock_Hz``. ``1.0`` gives a roofline
        in cycles (its "seconds" are cycles).
    name : str or None
        Defaults to a name built from the two rates and the clock.

    NB: the array computes at one MAC per PE per cycle whatever the element format, so one
    peak serves bf16, fp8 and int8 alike.
    """
    macs = positive_int("peak_macs_per_cycle", config.peak_macs_per_cycle)
    bytes_per_cycle = positive_float("dram_bytes_per_cycle", float(config.dram_bytes_per_cycle))
    clock_Hz = positive_float("clock_Hz", config.clock_Hz if clock_Hz is None else clock_Hz)
    peak = 2 * macs * clock_Hz
    return HardwareSpec(
        name=name or f"tile-{macs}mac-{bytes_per_cycle:g}Bpc-{clock_Hz / 1e6:g}MHz",
        peak_bf16_flop_per_s=peak,
        peak_fp8_flop_per_s=peak,
        peak_int8_flop_per_s=peak,
        bandwidth_bytes_per_s=bytes_per_cycle * clock_Hz,
        source=f"rooftile tile: 2 x {macs} MAC/cycle, {bytes_per_cycle:g} DRAM B/cycle, "
        f"at an assumed {clock_Hz:g} Hz",
    )
