"""The rooftile command line, run in-process on the real RTL."""

import pytest

from rooftile.sim.cli import main

TILE = ["--rows", "2", "--cols", "3", "--sp-depth", "32", "--acc-depth", "8"]


def test_matmul_prints_the_check_and_cycles(capsys):
    assert main(["matmul", "--m", "3", "--k", "7", "--n", "4", *TILE]) == 0
    out = capsys.readouterr().out
    assert "bit-exact vs numpy" in out
    measured, predicted = out.split("cycles:")[1].split(" measured, ")
    assert int(measured) == int(predicted.split()[0])


def test_gemm_prints_counters_and_model(capsys):
    assert main(["gemm", "--m", "5", "--k", "20", "--n", "7", *TILE,
                 "--dram-bytes-per-cycle", "3/2", "--dram-latency", "9"]) == 0
    out = capsys.readouterr().out
    assert "bit-exact vs numpy" in out
    assert "predicted by the tile model" in out
    assert "useful_macs      700" in out  # 5 * 20 * 7


@pytest.mark.parametrize("argv, message", [
    (["gemm", "--m", "0"], "argument --m: must be >= 1, got 0"),
    (["matmul", "--data-width", "12"], "data_width must be one of (8, 16), got 12"),
    (["gemm", *TILE, "--dram-bytes-per-cycle", "100"],
     "dram_bytes_per_cycle must be > 0 and <= one DRAM word (12 bytes), got '100'"),
    (["gemm", *TILE, "--dram-bytes-per-cycle", "1/0"],
     "dram_bytes_per_cycle must not divide by zero, got '1/0'"),
    (["gemm", *TILE, "--dram-bytes-per-cycle", "1/5000"],
     "denominator up to 4096; the nearest is 1/4096"),
    (["matmul", "--data-width", "16"], "allowed: acc_width >= 44 or max_reduction <= 1"),
    (["gemm", "--m", "99999999999"], "DRAM words, dram_depth is"),
    (["gemm", "--dataflow", "row"], "argument --dataflow: invalid choice: 'row'"),
    # The weight-stationary compiler's own check, before any build.
    (["gemm", *TILE, "--dataflow", "weight_stationary", "--acc-depth", "6", "--m", "9"],
     "weight_stationary needs acc_depth // 2 >= 4 rows"),
])
def test_bad_input_is_a_clear_error_without_traceback(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_study_and_gemm_options_choose_the_dataflow():
    from rooftile.sim.cli import build_parser, study_spec, tile_config
    parser = build_parser()
    args = parser.parse_args(["gemm", *TILE, "--dataflow", "weight_stationary"])
    assert tile_config(args).dataflow == "weight_stationary"
    spec = study_spec(parser.parse_args(["study", "--dataflow", "weight_stationary"]))
    assert spec.config.dataflow == "weight_stationary"
    spec = study_spec(parser.parse_args(["study", "--rows", "4", "--dataflow",
                                         "weight_stationary"]))
    assert (spec.config.rows, spec.config.dataflow) == (4, "weight_stationary")
    assert study_spec(parser.parse_args(["study"])).config.dataflow == "output_stationary"
