"""The FINN flow on a BCRNN of the `hw` preset's architecture (the wide one; batch norm calibrated on real
Emo-DB features): QONNX -> FINN HW graph with our BinaryLSTM layer -> folding -> estimates -> HLS/RTL code; the HW graph
executed by FINN equals the integer reference at every layer boundary on real Emo-DB segments."""

from __future__ import annotations

import json
from dataclasses import replace
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import EMODB_DIR, ROOT, trained_like


@pytest.fixture(scope="module")
def finn_env(tmp_path_factory):
    from bcrnn.dataflow.no_vivado import prepare_finn

    prepare_finn(tmp_path_factory.mktemp("finn"))


def make_run_dir(path, fs, norm, x, overrides=None, preset="small"):
    """A run folder as training/train.py leaves it, for a model with calibrated (not trained) weights."""
    from bcrnn.export import export_qonnx_model
    from bcrnn.packing import pack_model
    from bcrnn.reference.packed_file import save_packed

    model = trained_like(overrides or {}, x, preset=preset)
    path.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "kind": "bcrnn", "model_config": model.cfg.to_dict(), "n_classes": 7,
                "classes": list(fs.classes), "normalizer": norm.to_dict(), "feature_config": fs.config.__dict__,
                "fold": {"index": 0, "test": "03", "validation": "08", "train": []}}, path / "model.pt")
    save_packed(path / "model.packed.npz", pack_model(model, norm.to_dict(), fs.classes, fs.config.__dict__))
    export_qonnx_model(model, path / "model.qonnx.onnx", fs.classes)
    (path / "config.json").write_text(json.dumps({"experiment": {"dataset": "emodb", "data_dir": str(EMODB_DIR)}}))
    return path


@pytest.fixture(scope="module")
def hw_run(emodb_segments, tmp_path_factory):
    fs, norm, x = emodb_segments
    return make_run_dir(tmp_path_factory.mktemp("run") / "bcrnn-hw", fs, norm, x, preset="hw")


@pytest.fixture(scope="module")
def fast_build(finn_env, hw_run, tmp_path_factory):
    from bcrnn.dataflow.flow import BuildTarget, run_build

    target = BuildTarget.load("zu3eg-fast")
    return target, run_build(hw_run, target, tmp_path_factory.mktemp("build") / "zu3eg-fast")


def test_hw_graph_is_all_hardware_with_our_lstm_layer(fast_build):
    from qonnx.core.modelwrapper import ModelWrapper

    from bcrnn.dataflow.flow import step_model_path

    _, out = fast_build
    parent = ModelWrapper(str(out / "intermediate_models" / "dataflow_parent.onnx"))
    assert [n.op_type for n in parent.graph.node] == ["Transpose", "StreamingDataflowPartition"]
    hw = ModelWrapper(str(step_model_path(out, "step_hw_codegen")))
    kinds = [n.op_type for n in hw.graph.node]
    assert kinds[0] == "FMPadding_rtl" and kinds[-1] == "LabelSelect_hls"
    assert kinds.count("MVAU_hls") == 4 and "BinaryLSTM_hls" in kinds and "GlobalAccPool_hls" in kinds
    lstm = next(n for n in hw.graph.node if n.op_type == "BinaryLSTM_hls")
    assert lstm.domain == "finn.custom_op.fpgadataflow.hls"
    xnor = [n for n in hw.graph.node if n.op_type == "MVAU_hls" and
            any(a.name == "binaryXnorMode" and a.i == 1 for a in n.attribute)]
    assert len(xnor) == 2  # the dense layer and the output layer; the conv (int8) and FC (int) are not XNOR


def test_hw_graph_execution_equals_reference_on_emodb(emodb_segments, fast_build, hw_run):
    from qonnx.core.modelwrapper import ModelWrapper

    from bcrnn.dataflow.flow import step_model_path
    from bcrnn.dataflow.verify import compare_with_reference
    from bcrnn.reference.model import ReferenceBCRNN

    _, out = fast_build
    _, _, x = emodb_segments
    model = ModelWrapper(str(step_model_path(out, "step_create_dataflow_partition")))
    ref = ReferenceBCRNN.load(hw_run / "model.packed.npz")
    report = compare_with_reference(model, ref, x[:4], progress=False)
    per = report.to_dict()["per_boundary"]
    assert set(per) == {"conv0", "dense", "lstm", "pool", "fc", "logits", "label"}
    from bcrnn.models import PRESETS

    hw = PRESETS["hw"]  # conv maps x 150 x 10 bits, dense and LSTM bits per frame, pooled sums, FC, logits, label
    per_segment = hw.conv[0][0] * 150 * 10 + 150 * hw.dense + 150 * 2 * hw.lstm_hidden + 2 * hw.lstm_hidden + \
        hw.fc + 7 + 1
    assert report.total == report.total_equal == 4 * per_segment
    # the comparison can fail: a flipped LSTM weight bit changes the HW graph's LSTM output
    lstm = next(n for n in model.graph.node if n.op_type == "BinaryLSTM")
    w = model.get_initializer(lstm.input[1]).copy()
    w[:, : w.shape[1] // 2] = 1 - w[:, : w.shape[1] // 2]
    model.set_initializer(lstm.input[1], w)
    from bcrnn.dataflow.verify import HWGraphMismatch

    with pytest.raises(HWGraphMismatch, match="lstm"):
        compare_with_reference(model, ref, x[:1], progress=False)


def test_fast_target_estimates_reach_1000_segments_per_second_on_a_zu3eg(fast_build, hw_run):
    """The `hw` preset's promise: conv + dense + LSTM within a ZU3EG at >= 1,000 segments/s by FINN's estimate."""
    from bcrnn.dataflow.flow import summarize
    from bcrnn.models import PRESETS, CRNNConfig

    built = CRNNConfig.from_dict(torch.load(hw_run / "model.pt", weights_only=False)["model_config"])
    assert replace(built, binary=False) == PRESETS["hw"]
    target, out = fast_build
    s = summarize(out, target)
    assert s["clock_mhz"] == 200 and s["fpga_part"] == "xczu3eg-sbva484-1-e"
    assert s["segments_per_second"] >= 1000
    assert all(s["fits"].values()) and s["total"]["LUT"] <= 70560 and s["total"]["BRAM_18K"] <= 216
    lstm = next(layer for layer in s["layers"] if layer["layer"].startswith("BinaryLSTM"))
    assert lstm["cycles"] <= s["bottleneck_cycles"] and lstm["LUT"] > 0 and 0 < s["lstm_share"]["LUT"] < 1
    assert json.loads((out / "bcrnn_estimates.json").read_text())["segments_per_second"] == s["segments_per_second"]


def test_lstm_hls_code_generation_compiles_against_ap_types(fast_build):
    """FINN's code generation of our layer: params.h and a top function that g++ accepts (syntax and templates
    instantiated with the build's folding)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from bcrnn.dataflow.flow import step_model_path
    from bcrnn.hls_lstm import ap_types_dir

    _, out = fast_build
    hw = ModelWrapper(str(step_model_path(out, "step_hw_codegen")))
    node = next(n for n in hw.graph.node if n.op_type == "BinaryLSTM_hls")
    op = getCustomOp(node)
    code_dir = op.get_nodeattr("code_gen_dir_ipgen")
    top = next(p for p in __import__("pathlib").Path(code_dir).glob("top_*.cpp"))
    text = top.read_text()
    assert "bcrnn::BinaryBiLSTM<" in text and f"void {node.name}(" in text
    params = (top.parent / "params.h").read_text()
    assert f"#define LSTM_PE {op.get_nodeattr('PE')}" in params and f"#define LSTM_SIMD {op.get_nodeattr('SIMD')}" \
        in params
    # the zu3eg-fast target puts the sequence buffers in LUTRAM: the kernel header sees the switch first
    assert op.get_nodeattr("buffer_ram_style") == "distributed"
    assert text.index("#define BCRNN_LSTM_BUFFERS_LUTRAM") < text.index('#include "binary_lstm.hpp"')
    # FINN's top template also includes finn-hlslib's headers, which are not here: compile our function alone
    body = text[text.index(f"void {node.name}("):]
    unit = top.parent / "lstm_only.cpp"
    unit.write_text('#define BCRNN_LSTM_BUFFERS_LUTRAM\n#include "binary_lstm.hpp"\n#include "params.h"\n' + body)
    subprocess.run(["g++", "-std=c++14", "-fsyntax-only", "-isystem", str(ap_types_dir()), "-I", str(top.parent),
                    str(unit)], check=True, capture_output=True, timeout=300)


def test_lstm_buffers_in_lutram_trade_their_blocks_for_luts(fast_build):
    """buffer_ram_style moves exactly the sequence buffers (T x D input bits, T x 2H hidden bits, ping-pong pairs)
    between block RAM and LUTRAM (RAM64M: 4 LUTs per 3 bits x 64 rows); the weights stay where ram_style puts them."""
    import math

    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from bcrnn.dataflow.flow import step_model_path

    _, out = fast_build
    hw = ModelWrapper(str(step_model_path(out, "step_hw_codegen")))
    op = getCustomOp(next(n for n in hw.graph.node if n.op_type == "BinaryLSTM_hls"))
    t, d, h = op._dims()
    estimates = {}
    for style in ("block", "distributed"):
        op.set_nodeattr("buffer_ram_style", style)
        estimates[style] = (op.bram_estimation(), op.lut_estimation())
    blocks = 2 * (math.ceil(d / 36) * math.ceil(t / 512) + math.ceil(2 * h / 36) * math.ceil(t / 512))
    assert estimates["block"][0] - estimates["distributed"][0] == blocks > 0
    ram64m = 2 * 4 * (math.ceil(d / 3) + 2 * math.ceil(h / 3)) * math.ceil(t / 64)
    assert estimates["distributed"][1] - estimates["block"][1] == ram64m
    op.set_nodeattr("ram_style", "distributed")  # weights in LUTRAM as well: no block left
    assert op.bram_estimation() == 0
    op.set_nodeattr("buffer_ram_style", "block")
    assert op.bram_estimation() == blocks


def test_ensemble_summary_adds_members_on_one_device():
    from bcrnn.dataflow.flow import BuildTarget, ensemble_summary, format_ensemble_table

    target = BuildTarget.load("zu3eg-fast")

    def member(lut, bram, rate, name="zu3eg-fast"):
        return {"target": name, "total": {"LUT": lut, "BRAM_18K": bram, "URAM": 0, "DSP": 3},
                "segments_per_second": rate, "bottleneck": "ConvolutionInputGenerator_rtl_0"}

    s = ensemble_summary({"a": member(30_000, 100, 1110.0), "b": member(28_000, 96, 1200.0)}, target)
    assert s["total"] == {"LUT": 58_000, "BRAM_18K": 196, "URAM": 0, "DSP": 6}
    assert s["segments_per_second"] == 1110.0 and all(s["fits"].values())
    assert "fits the device" in format_ensemble_table(s)
    s = ensemble_summary({"a": member(30_000, 120, 1110.0), "b": member(28_000, 100, 1200.0)}, target)
    assert s["fits"] == {"LUT": True, "BRAM_18K": False, "DSP": True}
    assert "does NOT fit the device: BRAM_18K" in format_ensemble_table(s)
    with pytest.raises(ValueError, match="not built for target"):
        ensemble_summary({"a": member(1, 1, 1.0, name="zynq7020-small")}, target)


def test_lstm_folding_meets_the_cycle_budget_with_divisors(fast_build):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from bcrnn.dataflow.flow import step_model_path
    from bcrnn.dataflow.steps import fold_lstm

    _, out = fast_build
    hw = ModelWrapper(str(step_model_path(out, "step_hw_codegen")))
    node = next(n for n in hw.graph.node if n.op_type == "BinaryLSTM_hls")
    op = getCustomOp(node)
    t, d, h = op._dims()
    for budget in (2_000_000, 300_000, 160_000):
        pe, simd = fold_lstm(node, budget)
        assert (4 * h) % pe == 0 and (d + h) % simd == 0 and op.get_exp_cycles() <= budget
    pe, simd = fold_lstm(node, 1)  # unreachable: the fastest folding
    assert (pe, simd) == (4 * h, d + h)


def test_packed_model_from_another_run_is_refused(finn_env, hw_run, emodb_segments, tmp_path):
    """The output layer's integer affine comes from the packed file: a packed file of another model is caught."""
    from qonnx.core.modelwrapper import ModelWrapper

    from bcrnn.dataflow.flow import BuildTarget, run_build
    from bcrnn.dataflow.transforms import GraphRewriteError
    from bcrnn.packing import pack_model
    from bcrnn.reference.packed_file import save_packed

    fs, norm, x = emodb_segments
    other = tmp_path / "other"
    shutil.copytree(hw_run, other)
    save_packed(other / "model.packed.npz",
                pack_model(trained_like({}, x, seed=1, preset="small"), norm.to_dict(), fs.classes,
                           fs.config.__dict__))
    with pytest.raises((GraphRewriteError, RuntimeError)):
        run_build(other, BuildTarget.load("zu3eg-fast"), tmp_path / "build")
    assert ModelWrapper(str(other / "model.qonnx.onnx")).graph.node  # the export itself is untouched


def test_two_conv_model_converts_and_matches(finn_env, emodb_segments, tmp_path):
    """A second (binary) conv block: padding with bit 0 (-1) and XNOR convolution through FINN's lowering."""
    from qonnx.core.modelwrapper import ModelWrapper

    from bcrnn.dataflow.flow import BuildTarget, run_build, step_model_path
    from bcrnn.dataflow.verify import compare_with_reference
    from bcrnn.reference.model import ReferenceBCRNN

    fs, norm, x = emodb_segments
    run = make_run_dir(tmp_path / "two-conv", fs, norm, x, {"conv": ((8, 5, 3, 2, 4), (8, 3, 3, 1, 1))}, "tiny")
    out = run_build(run, BuildTarget.load("zynq7020-small"), tmp_path / "build")
    model = ModelWrapper(str(step_model_path(out, "step_create_dataflow_partition")))
    report = compare_with_reference(model, ReferenceBCRNN.load(run / "model.packed.npz"), x[:3], progress=False)
    assert report.total == report.total_equal > 3 * 8 * 150 * 10
    assert np.all([v > 0 for v in report.values.values()])


@pytest.mark.slow
def test_build_script_end_to_end(hw_run, tmp_path):
    """`python finn_build/build.py RUN`: both targets, verification on the run's test speaker (HW graph and the
    LSTM's HLS C simulation with each target's folding), the report."""
    from bcrnn.models import PRESETS

    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "finn_build" / "build.py"), str(hw_run), "--out", str(out),
                           "--max-segments", "1", "--hls-csim"], capture_output=True, text=True, timeout=900,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert [r["target"] for r in report] == ["zynq7020-small", "zu3eg-fast"]
    for r in report:
        assert r["verify"]["values_compared"] == r["verify"]["values_equal"] > 0
        assert r["verify"]["speaker"] == "03" and r["verify"]["exec_mode"] == "python"
        assert r["hls_csim"]["bits_compared"] == r["hls_csim"]["bits_equal"] == 1 * 150 * 2 * PRESETS["hw"].lstm_hidden
        assert all(r["fits"].values())
    assert (out / "report.png").stat().st_size > 10_000 and "segments/s" in (out / "report.md").read_text()
    assert "NOT installed" in proc.stdout  # without Vivado the script says so


@pytest.mark.slow
def test_build_script_places_an_ensemble_on_one_device(hw_run, tmp_path):
    """`python finn_build/build.py RUN_A RUN_B`: each member built and verified in its own folder, then the two
    dataflows side by side against the ZU3EG (they fit), with the check that one input stream feeds both."""
    second = tmp_path / "bcrnn-hw-b"
    shutil.copytree(hw_run, second)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "finn_build" / "build.py"), str(hw_run), str(second), "--out",
                           str(out), "--folding", "zu3eg-fast", "--max-segments", "1"], capture_output=True,
                          text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    members = {}
    for name in (hw_run.name, second.name):
        (member,) = json.loads((out / name / "report.json").read_text())
        assert member["verify"]["values_compared"] == member["verify"]["values_equal"] > 0
        members[name] = member
    (ensemble,) = json.loads((out / "ensemble.json").read_text())
    assert set(ensemble["members"]) == set(members) and ensemble["shared_input_stream"] is True
    for k in ("LUT", "BRAM_18K", "DSP"):
        assert ensemble["total"][k] == sum(m["total"][k] for m in members.values())
    assert ensemble["segments_per_second"] == min(m["segments_per_second"] for m in members.values())
    assert ensemble["fits"] == {k: ensemble["total"][k] <= v for k, v in ensemble["limits"].items()}
    # the reported BCRNN is a pair of hw members: two hw dataflows fit one ZU3EG at >= 1,000 segments/s
    assert all(ensemble["fits"].values()) and ensemble["segments_per_second"] >= 1000
    assert "side by side" in (out / "ensemble.md").read_text() and (out / "ensemble.png").stat().st_size > 5_000


def test_build_script_refuses_ambiguous_members(hw_run, tmp_path):
    script = str(ROOT / "finn_build" / "build.py")
    for extra, message in (([str(hw_run)], "names must differ"), ([str(tmp_path), "--seed", "1"], "single RUN")):
        proc = subprocess.run([sys.executable, script, str(hw_run), *extra, "--out", str(tmp_path / "o"),
                               "--no-verify"], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode != 0 and message in proc.stderr


def test_vivado_switch_fails_loudly_without_vivado(hw_run, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "finn_build" / "build.py"), str(hw_run), "--out",
                           str(tmp_path), "--folding", "zu3eg-fast", "--vivado", "--no-verify"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode != 0
    assert "Vivado" in proc.stdout + proc.stderr


def test_finn_estimate_at_the_rtl_folding(finn_env, hw_run, tmp_path):
    """sim/top.py sets FINN's estimate of the same folding beside the simulated cycles: the RTL's ZU3EG folding of
    the hw preset (the wide architecture: zu3eg-wide), translated by bcrnn.rtl.top.finn_folding_config, is what
    FINN's layers get (a folding-config build, no target_fps), and FINN's conv and dense cycles equal the RTL
    blocks' formulas (12,000 windows x 64/16 channel folds; 150 frames x 768/12 x 640/128 folds)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from bcrnn.dataflow.flow import BuildTarget, run_build, step_model_path, summarize
    from bcrnn.reference.packed_file import load_packed
    from bcrnn.rtl.top import Folding, finn_folding_config, generate, zu3eg_folding

    assert zu3eg_folding(load_packed(hw_run / "model.packed.npz")) == "zu3eg-wide"
    description = generate(hw_run / "model.packed.npz", Folding.load("zu3eg-wide"), tmp_path / "rtl")
    config = tmp_path / "folding.json"
    config.write_text(json.dumps(finn_folding_config(description)))
    target = BuildTarget(name="rtl-zu3eg", board="Ultra96", folding_config=str(config))
    out = run_build(hw_run, target, tmp_path / "build")
    hw = ModelWrapper(str(step_model_path(out, "step_hw_codegen")))
    folded = {n.name: (getCustomOp(n).get_nodeattr("PE"), getCustomOp(n).get_nodeattr("SIMD"))
              for n in hw.graph.node if n.op_type in ("MVAU_hls", "BinaryLSTM_hls")}
    assert folded == {"MVAU_hls_0": (16, 45), "MVAU_hls_1": (12, 128), "BinaryLSTM_hls_0": (16, 224),
                      "MVAU_hls_2": (4, 16), "MVAU_hls_3": (1, 64)}
    cycles = {x["layer"]: x["cycles"] for x in summarize(out, target)["layers"]}
    assert cycles["MVAU_hls_0"] == 12_000 * 64 // 16 and cycles["MVAU_hls_1"] == 150 * (768 // 12) * (640 // 128)
