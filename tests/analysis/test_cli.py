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


def test_claims_json_is_flat_numbers(tmp_path, capsys):
    import json

    from rooftile.analysis.cli import claims_main
    path = tmp_path / "claims.json"
    assert claims_main(["--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "b_moe.deepseek-r1.b200" in out and "rooftile.analysis.roofline.b_moe" in out
    claims = json.loads(path.read_text())
    assert claims["ridge.h100.bf16"] == pytest.approx(989.4 / 3.35)
    assert all(isinstance(value, float) for value in claims.values())


def test_claims_writes_tables_and_plots(tmp_path, capsys):
    from rooftile.analysis.cli import claims_main
    assert claims_main(["--machine", "h200", "--devices", "16", "--out", str(tmp_path)]) == 0
    assert "b_moe.deepseek-r1.h200" in capsys.readouterr().out
    for name in ("claims.csv", "balance.csv", "tpot.csv", "balance.png", "tpot_vs_batch.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("argv, message", [
    (["--machine", "tpu"], "unknown hardware 'tpu'; known: h100, h200, b200, hbm-pim"),
    (["--interconnect", "pcie"], "unknown interconnect 'pcie'; known: nvlink4, nvlink5, ib-ndr, ib-xdr"),
    (["--devices", "12"], "devices must be a multiple of gpt-3-175b's TP degree 8, got 12"),
    (["--context", "0"], "context must be >= 1, got 0"),
])
def test_claims_bad_input_exits_2(argv, message, tmp_path, capsys):
    from rooftile.analysis.cli import claims_main
    assert claims_main([*argv, "--json", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "c.json").exists()
