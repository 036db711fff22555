"""``rooftile study --chip``: each layer co-simulated on the tile and a near-memory unit
(an attention unit; Duplex's MoE engine on the MoE layers), against the sums and the
verdict's composition."""

import dataclasses
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


def test_duplex_runs_the_routed_experts_of_the_moe_layers_only(tmp_path):
    spec = dataclasses.replace(CHIP, workloads=(Workload("llama-3-8b", 2),
                                                Workload("deepseek-v2-lite", 2)),
                               chip_units=("duplex",))
    paths = run_study(spec, tmp_path / "out", progress=lambda message: None, verdict=False)
    chips = json.loads(paths["json"].read_text())["chip_layers"]
    # The dense layer has no op for the unit: it is not run on the chip.
    assert [(c["workload"], c["subbatches"]) for c in chips] == [
        ("deepseek-v2-lite b=2", 1), ("deepseek-v2-lite b=2", 2)]
    # The unit exchanges nothing over the shared channel (its activations and outputs
    # are the tile's own stores and loads): the chip's model holds within 5%.
    errors = [chip["model_error"] for chip in chips]
    assert max(map(abs, errors)) <= 0.05, f"chip model off the RTL by {errors}"
    for chip in chips:
        assert chip["exact"] is True
        assert chip["unit_ops"] == "expert_up_gate, expert_down"
        assert chip["unit_wait_peer"] > 0 and chip["tile_wait_peer"] == 0
    assert "| duplex | expert_up_gate, expert_down |" in paths["report"].read_text()


def test_bad_chip_units_are_refused(tmp_path):
    with pytest.raises(StudyError, match="chip unit must be one of .*duplex, got 'tpu'"):
        default_spec(chip_units=("tpu",))
    dense = dataclasses.replace(CHIP, chip_units=("duplex",))
    with pytest.raises(StudyError, match=r"--chip duplex: duplex runs a layer's experts "
                       r"and none of the workloads \(llama-3-8b b=2\) has any"):
        run_study(dense, tmp_path / "out", progress=lambda message: None, verdict=False)
