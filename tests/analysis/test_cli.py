import pytest

from rooftile.analysis.cli import main

OUTPUTS = ("ops.csv", "ops.json", "intensity_vs_batch.csv", "headline.json", "routing.json",
           "roofline.png", "intensity_vs_batch.png", "time_breakdown.png")


def test_roofline_writes_table_and_plots(tmp_path, capsys):
    assert main(["--model", "deepseek-v3", "--batch", "64", "--context", "4096", "--hw", "h100",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for op in ("q_absorb", "attn_score", "attn_context", "ffn_up_gate", "router", "expert_up_gate"):
        assert op in out
    assert out.count("TOTAL") == 2  # dense and MoE layer
    assert "model total (3 dense + 58 moe layers" in out
    assert "Experts reach the dense FFN's intensity at batch" in out
    assert "ratio" in out
    for name in OUTPUTS:
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "roofline.png").read_bytes().startswith(b"\x89PNG")


def test_prefill_on_the_rooftile_tile(tmp_path, capsys):
    assert main(["--model", "llama-3-8b", "--phase", "prefill", "--seq", "256", "--batch", "2", "--hw", "tile",
                 "--clock-hz", "5e8", "--dtype", "int8", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llama-3-8b prefill on tile-" in out
    assert "context 256, 256 query token(s)" in out
    assert "qkv_proj" in out
    assert (tmp_path / "ops.csv").stat().st_size > 0


@pytest.mark.parametrize("argv, message", [
    (["--model", "foo"], "unknown model 'foo'; known: llama-2-7b, llama-3-8b"),
    (["--hw", "tpu"], "unknown hardware 'tpu'; known: h100, h200, b200, hbm-pim, tile"),
    (["--batch", "0"], "batch must be >= 1, got 0"),
    (["--context", "-1"], "context must be >= 1, got -1"),
    (["--ep", "0"], "ep_devices must be >= 1, got 0"),
    (["--model", "llama-2-7b", "--layer", "moe"], "layer of model 'llama-2-7b' must be one of dense; got 'moe'"),
])
def test_bad_input_exits_2_with_a_message(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert not list(tmp_path.iterdir())


def test_argparse_choices_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--dtype", "fp4"])
    assert exit_.value.code == 2
    assert "invalid choice: 'fp4'" in capsys.readouterr().err
