import pytest

from rooftile.analysis.mapping import Mapping, check_mapping, kv_shards, paper_mapping
from rooftile.hdl.errors import InputError


def test_paper_table_iv_on_32_devices():
    assert paper_mapping("gpt-3-175b") == Mapping(tp=8, dp=4, ep=1)
    assert paper_mapping("llama-4-maverick") == Mapping(tp=8, dp=4, ep=32)
    assert paper_mapping("deepseek-r1") == Mapping(tp=1, dp=32, ep=32)
    assert str(paper_mapping("llama-4-maverick")) == "TP8 x DP4 with EP32"


def test_paper_mapping_scales_dp_and_ep():
    assert paper_mapping("deepseek-r1", 64) == Mapping(1, 64, 64)
    assert paper_mapping("gpt-3-175b", 16) == Mapping(8, 2)


def test_kv_shards():
    assert kv_shards("gpt-3-175b", 8) == 8
    assert kv_shards("llama-3-8b", 16) == 8  # only 8 K/V heads to split
    assert kv_shards("deepseek-r1", 8) == 1  # the latent is shared by all heads


@pytest.mark.parametrize("model, mapping, devices, message", [
    ("gpt-3-175b", Mapping(8, 4), 64, "TP x DP = 32 devices, but the device count is 64"),
    ("gpt-3-175b", Mapping(8, 4, 4), 32, "has no experts: ep must be 1, got 4"),
    ("deepseek-r1", Mapping(1, 32, 64), 32, "ep must divide the device count 32"),
    ("llama-4-maverick", Mapping(16, 2, 32), 32, "tp must divide the 40 attention heads"),
])
def test_bad_mappings(model, mapping, devices, message):
    with pytest.raises(InputError, match=message):
        check_mapping(model, mapping, devices)


def test_paper_mapping_needs_a_multiple_of_tp():
    with pytest.raises(InputError, match="devices must be a multiple of llama-4-maverick's TP degree 8, got 12"):
        paper_mapping("llama-4-maverick", 12)
