"""Interconnects as bandwidth and latency, and the collectives a decode step sends over them.

The time of a message follows the alpha-beta model: ``latency + bytes / bandwidth``. The
expert-parallel all-to-all (dispatch of each token's hidden state to its experts' devices,
and combine of their outputs back) and the tensor-parallel all-reduce are costed here.
"""

from dataclasses import dataclass

from ..hdl.errors import integer, lookup, name_registry, positive_float, positive_int
from .dtypes import element_bytes

__all__ = [
    "InterconnectSpec",
    "INTERCONNECTS",
    "get_interconnect",
    "a2a_bytes",
    "a2a_time",
    "allreduce_time",
]


@dataclass(frozen=True)
class InterconnectSpec:
    """One device's link into the fabric.

    Members
    -------
    name : str
    bandwidth_bytes_per_s : float
        Per device, per direction (vendors quote NVLink as the sum of both directions).
    latency_s : float
        Fixed cost of one collective step (an estimate for every preset: vendors quote
        switch and wire latencies, not a collective's).
    source : str
    """

    name: str
    bandwidth_bytes_per_s: float
    latency_s: float
    source: str

    def __post_init__(self):
        positive_float("bandwidth_bytes_per_s", self.bandwidth_bytes_per_s)
        positive_float("latency_s", self.latency_s)

    def message_time(self, bytes_: float) -> float:
        """``latency + bytes / bandwidth`` for one message of ``bytes_`` (0 bytes: no message)."""
        if bytes_ < 0:
            raise ValueError(f"bytes_ must be >= 0, got {bytes_!r}")
        return self.latency_s + bytes_ / self.bandwidth_bytes_per_s if bytes_ else 0.0


# Latencies are estimates: 0.5 us for an NVLink collective step (a switch hop of a few
# hundred ns plus the kernel's signalling), 2 us over InfiniBand (NIC-switch-NIC 100-300 ns
# and switch < 150 ns, per the fact sheet's S64/S65, plus two more switch tiers and the
# RDMA work-request posting). The DeepEP measurements of the fact sheet (S66: 77-194 us per
# low-latency dispatch of 128 tokens) include kernel and software costs not modelled here.
INTERCONNECTS = name_registry(
    (
        InterconnectSpec(
            name="nvlink4", bandwidth_bytes_per_s=450e9, latency_s=0.5e-6,
            source="NVLink 4 (H100/H200): 900 GB/s per GPU over both directions, 18 links x "
            "50 GB/s (NVIDIA H100 datasheet; fact sheet S3, S60); latency an estimate",
        ),
        InterconnectSpec(
            name="nvlink5", bandwidth_bytes_per_s=900e9, latency_s=0.5e-6,
            source="NVLink 5 (B200): 1.8 TB/s per GPU over both directions, 18 links x 100 GB/s "
            "(NVIDIA HGX B200 datasheet; fact sheet S7, S60); latency an estimate",
        ),
        InterconnectSpec(
            name="ib-ndr", bandwidth_bytes_per_s=400e9 / 8, latency_s=2e-6,
            source="InfiniBand NDR: 400 Gb/s per port and direction, one ConnectX-7 port per GPU "
            "(NVIDIA Quantum-2; fact sheet S62); latency an estimate",
        ),
        InterconnectSpec(
            name="ib-xdr", bandwidth_bytes_per_s=800e9 / 8, latency_s=2e-6,
            source="InfiniBand XDR: 800 Gb/s per port and direction, one port per GPU (NVIDIA "
            "Quantum-X800; fact sheet S63); latency an estimate",
        ),
    ),
    "interconnect",
)


def get_interconnect(link: "str | InterconnectSpec") -> InterconnectSpec:
    """Return the preset called ``link``; an InterconnectSpec passes through unchanged.

    Raises
    ------
    InputError
        If no preset has that name; the message lists the known names.
    """
    if isinstance(link, InterconnectSpec):
        return link
    return lookup(INTERCONNECTS, link, "interconnect")


def a2a_bytes(tokens_per_device: float, hidden: int, top_k: int, ep_devices: int, dtype: str = "bf16") -> float:
    """Bytes one device sends in one all-to-all dispatch (and again in the combine).

    Each of the device's tokens goes to ``top_k`` experts; under uniform routing a copy
    stays on the device with probability ``1 / ep_devices``, so::

        bytes = tokens_per_device * top_k * hidden * elt * (ep_devices - 1) / ep_devices

    NB: one copy per (token, expert) pair, as a plain all-to-all sends it (DeepEP sends one
    copy per destination device, fewer when two of a token's experts share a device); no
    routing metadata or scaling factors; the combine returns the same number of bytes.
    """
    if tokens_per_device < 0:
        raise ValueError(f"tokens_per_device must be >= 0, got {tokens_per_device!r}")
    positive_int("hidden", hidden)
    positive_int("top_k", top_k)
    positive_int("ep_devices", ep_devices)
    return tokens_per_device * top_k * hidden * element_bytes(dtype) * (ep_devices - 1) / ep_devices


def a2a_time(
    tokens_per_device: float, hidden: int, top_k: int, ep_devices: int,
    link: "str | InterconnectSpec", dtype: str = "bf16",
) -> float:
    """Seconds of one all-to-all dispatch (or combine): one message of :func:`a2a_bytes`.

    NB: the device's link is the bottleneck (a non-blocking switch, all devices sending at
    once); one latency per all-to-all.
    """
    return get_interconnect(link).message_time(a2a_bytes(tokens_per_device, hidden, top_k, ep_devices, dtype))


def allreduce_time(bytes_: float, devices: int, link: "str | InterconnectSpec") -> float:
    """Seconds of a ring all-reduce of ``bytes_`` over ``devices``: ``2 (D - 1)`` steps, each
    moving ``bytes_ / D`` and paying one latency. Zero on one device."""
    integer("devices", devices, 1)
    if devices == 1:
        return 0.0
    link = get_interconnect(link)
    steps = 2 * (devices - 1)
    return steps * link.message_time(bytes_ / devices)
