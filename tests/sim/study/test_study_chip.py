"""``rooftile study --chip``: each layer co-simulated on the tile and an attention unit,
against the sums and the verdict's composition."""

import json

import pytest

from rooftile.sim.study.run import run_study
from rooftile.sim.study.spec import StudyError, Workload, default_spec

CHIP = default_spec(workloads=(Workload("llama-3-8b", 2),), max_context=64, max_width=64,
                    machines=("h100",), chip_units=("logic-die",))


def test_chip_layers_are_measured_beside_the_compositions(tmp_path):
    paths = run_study(CHIP, tmp_path / "out", progress=lambda message: None, verdict=False)
    chips = json.loads(paths["json"].read_text())["chip_layers"]
    assert [(c["unit"], c["subbatches"]) for c in chips] == [("logic-die", 1), ("logic-die", 2)]
    for chip in chips:
        assert chip["exact"] is True
        assert abs(chip["model_error"]) <= 0.05
        assert chip["layer_cycles_measured"] == max(chip["tile_cycles"], chip["unit_cycles"])
        assert chip["unit_wait_peer"] > 0    # the queries come from the tile
    one, two = chips
    assert one["tile_wait_peer"] > 0         # the output projection waits for the unit
    # One batch: the verdict adds the engines' ops, as the isolated sum does.
    assert one["layer_cycles_analytic"] == one["layer_cycles_isolated_sum"]
    # Two sub-batches: it takes the slower engine's, below the sum.
    assert two["layer_cycles_analytic"] < two["layer_cycles_isolated_sum"]
    report = paths["report"].read_text()
    assert "## Layers on the chip" in report and "chip_timeline_logic-die.png" in report
    assert paths["chip_timeline_logic-die"].stat().st_size > 10_000


def test_unknown_chip_unit_is_refused():
    with pytest.raises(StudyError, match="chip unit must be one of .*'duplex'"):
        default_spec(chip_units=("duplex",))
