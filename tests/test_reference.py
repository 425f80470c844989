"""The integer golden model against the Brevitas model in deployment mode, layer by layer, on real Emo-DB
features; and the threshold folding against the float batch-norm it replaces."""

import numpy as np
import pytest
import torch

from bcrnn.deploy import DeployedBCRNN
from bcrnn.models import build_model
from bcrnn.packing import fold_threshold, pack_model
from bcrnn.reference.model import ReferenceBCRNN, quantize_features
from conftest import trained_like

BIT_STREAMS = ("conv0", "conv1", "dense", "lstm", "fc")


def packed_meta(packed):
    import json

    return json.loads(str(packed["meta"]))


@pytest.mark.parametrize("overrides", [{}, {"conv": ((8, 5, 3, 2, 4), (8, 3, 3, 1, 1))},
                                       {"first_conv_weight_bits": 8}, {"first_conv_weight_bits": 3},
                                       {"head_weight_bits": 8}],
                         ids=["one-conv", "two-conv", "int8-first-conv", "int3-first-conv", "int8-head"])
def test_reference_equals_deployed_brevitas_model_on_emodb(emodb_segments, overrides):
    fs, norm, x = emodb_segments
    model = trained_like(overrides, x)
    packed = pack_model(model, norm.to_dict(), fs.classes, fs.config.__dict__)
    ref = ReferenceBCRNN.from_arrays(packed)
    logits, streams = DeployedBCRNN(model).forward(torch.from_numpy(x))
    compared = 0
    for s in range(len(x)):
        ref_logits, ref_streams = ref.forward(quantize_features(x[s]), trace=True)
        for name, ref_value in ref_streams.items():
            dep = streams[name][s].numpy()
            if name == "logits":
                continue
            if name in BIT_STREAMS:
                dep = (dep > 0).astype(np.uint8)
            assert np.array_equal(np.asarray(ref_value, np.int64), dep.astype(np.int64)), (s, name)
            compared += np.asarray(ref_value).size
        step = 2.0 ** -packed_meta(packed)["logit_frac"]
        assert np.allclose(ref_logits * step, logits[s].numpy(), atol=ref.logit_tolerance, rtol=0)
        assert np.argmax(ref_logits) == np.argmax(logits[s].numpy())
    assert compared > len(x) * 1000
    for layer, bits in (("conv0", model.cfg.first_conv_weight_bits), ("fc", model.cfg.head_weight_bits),
                        ("out", model.cfg.head_weight_bits)):
        if bits > 1:  # integer codes within the narrow signed range, not +-1
            codes = packed[f"{layer}_weight_codes"]
            assert f"{layer}_weight_bits" not in packed and np.abs(codes).max() == 2 ** (bits - 1) - 1
            assert len(np.unique(codes)) > 2
        else:
            assert f"{layer}_weight_codes" not in packed
    # and the integer network decides as the float Brevitas model in eval mode on these segments
    with torch.no_grad():
        assert torch.equal(model(torch.from_numpy(x)).argmax(1), logits.argmax(1))


def test_folded_thresholds_reproduce_sign_of_batch_norm():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(8).eval()  # the last two: bounds far outside the accumulator range
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, -0.5, 0.0, 2.0, -3.0, 0.0, 1.0, -1.0]))
        bn.bias.copy_(torch.tensor([0.3, 0.2, 0.1, -0.7, -0.1, -0.2, 100.0, 100.0]))
        bn.running_mean.uniform_(-2, 2)
        bn.running_var.uniform_(0.5, 2)
    scale = np.array([0.05, 0.1, 0.2, 0.01, 0.3, 0.1, 0.05, 0.05])
    t, d = fold_threshold(bn, scale, -60, 60)
    assert t[6] == -61 and t[7] == 61  # clipped to the range +-1: always on
    acc = np.arange(-60, 61)
    for ch in range(8):
        z = (scale[ch] * acc - bn.running_mean[ch].item()) / np.sqrt(bn.running_var[ch].item() + bn.eps) \
            * bn.weight[ch].item() + bn.bias[ch].item()
        expected = z >= 0
        got = acc >= t[ch] if d[ch] > 0 else acc <= t[ch]
        assert np.array_equal(expected, got), ch


def test_feature_codes_round_half_to_even_and_saturate():
    codes = quantize_features(np.array([0.5 / 32, 1.5 / 32, -0.5 / 32, 5.0, -5.0], np.float32))
    assert codes.tolist() == [0, 2, 0, 127, -128]


def test_packing_rejects_a_float_lstm():
    model = build_model("bcrnn", "tiny", 4, lstm_arithmetic="float")
    with pytest.raises(ValueError, match="fixed"):
        pack_model(model, {"mean": 0, "std": 1}, ["a", "b", "c", "d"], {})


def test_packed_file_round_trip_and_size(tmp_path):
    from bcrnn.reference.packed_file import load_packed, save_packed

    torch.manual_seed(0)
    model = build_model("bcrnn", "small", 7).eval()
    arrays = pack_model(model, {"mean": np.zeros((3, 1, 40)), "std": np.ones((3, 1, 40))}, list("abcdefg"), {})
    n_bytes = save_packed(tmp_path / "m.npz", arrays)
    back = load_packed(tmp_path / "m.npz")
    assert set(back) == set(arrays)
    for k in arrays:
        assert np.array_equal(np.asarray(back[k]), np.asarray(arrays[k])), k
    n_bits = sum(a.size for k, a in arrays.items() if k.endswith("_weight_bits"))
    assert n_bits / 8 < n_bytes < n_bits / 8 * 1.3  # the bits dominate: ~1 bit per weight on disk
    float32_bytes = 4 * sum(p.numel() for p in model.parameters())
    assert float32_bytes / n_bytes >= 25


@pytest.mark.parametrize("overrides", [{}, {"first_conv_weight_bits": 8, "head_weight_bits": 8}],
                         ids=["binary", "int8-first-conv-and-head"])
def test_qonnx_export_executes_like_the_reference(emodb_segments, tmp_path, overrides):
    import onnx

    from bcrnn.export import ExportCheckError, check_qonnx_against_reference, export_qonnx_model

    fs, norm, x = emodb_segments
    model = trained_like(overrides, x)
    path = export_qonnx_model(model, tmp_path / "m.qonnx.onnx", fs.classes)
    graph = onnx.load(str(path)).graph
    assert any(n.domain == "bcrnn.custom_op" and n.op_type == "BinaryLSTM" for n in graph.node)
    assert len(graph.node) > 10 and path.with_suffix(".json").is_file()
    ref = ReferenceBCRNN.from_arrays(pack_model(model, norm.to_dict(), fs.classes, fs.config.__dict__))
    report = check_qonnx_against_reference(path, ref, x[:4])
    assert report["predictions_equal"] == 4 and report["lstm_bits_compared"] > 4 * 150 * 16
    # an export whose batch norms went wrong is caught at the LSTM's input bits
    from onnx import numpy_helper

    broken = onnx.load(str(path))
    bn_bias = {n.input[2] for n in broken.graph.node if n.op_type == "BatchNormalization"}
    for init in broken.graph.initializer:
        if init.name in bn_bias:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 3.0, init.name))
    onnx.save(broken, str(tmp_path / "broken.onnx"))
    with pytest.raises(ExportCheckError, match="BinaryLSTM input bit"):
        check_qonnx_against_reference(tmp_path / "broken.onnx", ref, x[:4])


@pytest.mark.parametrize("wide_bits", [1, 8])
def test_packed_engine_equals_the_reference(emodb_segments, wide_bits):
    from bcrnn.engine import PackedEngine

    fs, norm, x = emodb_segments
    # two convolutions and 80 hidden units: two 64-bit words per hidden state in the engine's LSTM kernel
    model = trained_like({"conv": ((8, 5, 3, 2, 4), (8, 3, 3, 1, 1)), "lstm_hidden": 80,
                          "first_conv_weight_bits": wide_bits, "head_weight_bits": wide_bits}, x, seed=2)
    ref = ReferenceBCRNN.from_arrays(pack_model(model, norm.to_dict(), fs.classes, fs.config.__dict__))
    logits = PackedEngine(ref).logits(x)
    for s in range(len(x)):
        assert np.array_equal(logits[s], ref.forward(quantize_features(x[s]))), s
    utt = fs.features[0]
    assert np.allclose(PackedEngine(ref).predict_features(utt), ref.predict_features(utt))
