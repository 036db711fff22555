import pytest

from rooftile.analysis.interconnect import (
    INTERCONNECTS, a2a_bytes, a2a_time, allreduce_time, get_interconnect,
)
from rooftile.hdl.errors import InputError


def test_presets_are_per_direction_and_sourced():
    assert get_interconnect("nvlink5").bandwidth_bytes_per_s == 1.8e12 / 2
    assert get_interconnect("nvlink4").bandwidth_bytes_per_s == 0.9e12 / 2
    assert get_interconnect("ib-ndr").bandwidth_bytes_per_s == 50e9  # 400 Gb/s
    assert get_interconnect("ib-xdr").bandwidth_bytes_per_s == 100e9  # 800 Gb/s
    assert all("estimate" in link.source for link in INTERCONNECTS.values())


def test_dispatch_of_128_deepseek_tokens_by_hand():
    # 128 tokens x top-8 x 7168 x 2 bytes, 31 of 32 copies leave the device.
    sent = 128 * 8 * 7168 * 2 * 31 / 32
    assert a2a_bytes(128, 7168, 8, 32) == sent
    assert a2a_time(128, 7168, 8, 32, "ib-ndr") == pytest.approx(2e-6 + sent / 50e9)  # ~286 us
    assert a2a_time(128, 7168, 8, 1, "nvlink5") == 0  # nothing leaves a single device


def test_ring_allreduce_by_hand():
    # 8 devices: 14 steps of bytes/8 each.
    assert allreduce_time(8e6, 8, "nvlink5") == pytest.approx(14 * (0.5e-6 + 1e6 / 900e9))
    assert allreduce_time(8e6, 1, "nvlink5") == 0


def test_unknown_interconnect_lists_the_known_ones():
    with pytest.raises(InputError, match="unknown interconnect 'pcie'; known: nvlink4, nvlink5, ib-ndr, ib-xdr"):
        get_interconnect("pcie")
