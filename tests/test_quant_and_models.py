"""Quantizers follow the poster's Eqs. 1, 2 and 5; models keep +-1 values at every binary layer boundary."""

import numpy as np
import pytest
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear

from bcrnn.models import PRESETS, build_model
from bcrnn.models.binary_lstm import BinaryLSTMLayer, _binarize
from bcrnn.quant import BinaryAct, BinaryWeightMeanAbs, FeatureQuant8
from bcrnn.size import model_size


def test_sign_of_zero_is_plus_one_and_ste_clips_at_one():
    act = QuantIdentity(act_quant=BinaryAct, return_quant_tensor=False)
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], requires_grad=True)
    y = act(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]
    y.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]  # g_r = g_q 1{|r| <= 1}


def test_binary_weights_are_sign_times_per_channel_mean_abs():
    torch.manual_seed(0)
    conv = QuantConv2d(3, 5, (5, 3), bias=False, weight_quant=BinaryWeightMeanAbs)
    qw = conv.quant_weight()
    alpha = conv.weight.abs().mean(dim=(1, 2, 3))
    assert torch.allclose(qw.scale.flatten(), alpha)
    expected = torch.where(conv.weight >= 0, 1.0, -1.0) * alpha.view(-1, 1, 1, 1)
    assert torch.allclose(qw.value, expected)


def test_feature_quantizer_is_signed_8bit_with_scale_2_pow_minus_5():
    q = QuantIdentity(act_quant=FeatureQuant8, return_quant_tensor=True)
    out = q(torch.tensor([0.1, 3.99, -5.0, 10.0]))
    assert float(out.scale) == 2 ** -5
    assert out.int().tolist() == [3, 127, -128, 127]


def test_inlined_lstm_binarization_matches_the_brevitas_quantizer():
    layer = BinaryLSTMLayer(6, 4)
    with torch.no_grad():
        layer.input_act.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value.fill_(0.7)
    h = torch.randn(50, 4, requires_grad=True)
    h2 = h.detach().clone().requires_grad_(True)
    beta = layer.input_act.act_quant.scale()
    a, b = _binarize(h, beta), layer.input_act(h2)
    assert torch.equal(a, b)
    a.sum().backward()
    b.sum().backward()
    assert torch.equal(h.grad, h2.grad)


@pytest.mark.parametrize("kind", ["crnn", "bcrnn"])
def test_model_shapes_and_gradients(kind):
    torch.manual_seed(0)
    model = build_model(kind, "tiny", n_classes=7)
    x = torch.randn(3, 3, 300, 40)
    logits = model(x)
    assert logits.shape == (3, 7)
    logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"


def test_binary_model_is_binary_at_layer_boundaries():
    torch.manual_seed(0)
    model = build_model("bcrnn", "tiny", n_classes=4).eval()
    seen = {}
    for name in ("convs", "dense", "lstm", "fc_act"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o))
    model(torch.randn(2, 3, 300, 40))
    for name, out in seen.items():
        assert set(out.unique().tolist()) <= {-1.0, 1.0}, name
    assert seen["lstm"].shape == (2, 150, 2 * PRESETS["tiny"].lstm_hidden)
    # every weight of a binary layer is +-alpha
    for m in model.modules():
        if isinstance(m, (QuantConv2d, QuantLinear)):
            qw = m.quant_weight()
            assert set((qw.value / qw.scale).unique().tolist()) <= {-1.0, 1.0}


def test_clip_weights_keeps_latent_weights_in_unit_interval():
    model = build_model("bcrnn", "tiny", n_classes=4)
    with torch.no_grad():
        model.dense.fc.weight.mul_(100)
    model.clip_weights()
    assert float(model.dense.fc.weight.detach().abs().max()) <= 1.0


def test_bad_model_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown preset"):
        build_model("bcrnn", "huge", 4)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("bnn", "small", 4)
    with pytest.raises(ValueError, match="pool='mean'"):
        build_model("bcrnn", "small", 4, pool="attention")


def test_paper_preset_has_the_acrnn_size():
    n = build_model("crnn", "paper", 4).n_parameters()
    assert 1.85e6 < n < 2.0e6  # the 3-D ACRNN's 1-conv sizes: ~1.9 M parameters


def test_packed_size_is_at_least_24x_smaller_for_the_small_bcrnn():
    size = model_size(build_model("bcrnn", "small", 7))
    assert size["compression"] >= 24.0
    # every tensor kept above 1 bit is counted at 32 bits
    above = sum(t["numel"] * t["bits"] for t in size["tensors"].values() if t["bits"] > 1)
    assert size["above_1_bit_parameters"] > 0
    assert np.isclose(size["packed_mb"], (size["binary_parameters"] + above) / 8e6)
    assert model_size(build_model("crnn", "small", 7))["binary_parameters"] == 0


def test_a_bcrnn_starts_from_a_trained_crnn_of_the_same_sizes():
    """init_from_full_precision: the CRNN's weights become the latent weights (clipped to [-1, 1]); nn.LSTM's
    input and recurrent matrices become the gate matrix over [x_t | h_t-1], its two biases one."""
    from bcrnn.models import init_from_full_precision

    torch.manual_seed(0)
    crnn = build_model("crnn", "tiny", 4)
    with torch.no_grad():
        crnn.convs[0].conv.weight.mul_(20)  # some weights beyond 1: clipped
        crnn.fc_bn.running_mean.uniform_(-1, 1)
    bcrnn = build_model("bcrnn", "tiny", 4)
    init_from_full_precision(bcrnn, crnn)
    assert torch.equal(bcrnn.convs[0].conv.weight, crnn.convs[0].conv.weight.clamp(-1, 1))
    assert bcrnn.convs[0].conv.weight.abs().max() == 1
    assert torch.equal(bcrnn.dense.fc.weight, crnn.dense.fc.weight.clamp(-1, 1))
    assert torch.equal(bcrnn.fc_bn.running_mean, crnn.fc_bn.running_mean)
    for layer, suffix in ((bcrnn.lstm.fwd, ""), (bcrnn.lstm.bwd, "_reverse")):
        w = torch.cat([getattr(crnn.lstm, f"weight_ih_l0{suffix}"), getattr(crnn.lstm, f"weight_hh_l0{suffix}")], 1)
        assert torch.equal(layer.gates.weight, w.clamp(-1, 1))
        b = getattr(crnn.lstm, f"bias_ih_l0{suffix}") + getattr(crnn.lstm, f"bias_hh_l0{suffix}")
        assert torch.equal(layer.gates.bias, b)
    with pytest.raises(ValueError, match="other sizes"):
        init_from_full_precision(build_model("bcrnn", "tiny", 4, dense=32), crnn)
    with pytest.raises(ValueError, match="full-precision CRNN into a binary"):
        init_from_full_precision(bcrnn, build_model("bcrnn", "tiny", 4))


def test_bipolar_linear_is_the_exact_float_product_with_its_gradients():
    from bcrnn.models.bipolar import bipolar_linear

    torch.manual_seed(0)
    x = torch.randn(4, 33, 70).sign().requires_grad_(True)
    w = torch.randn(48, 70).sign().requires_grad_(True)
    g = torch.randn(4, 33, 48)
    y = bipolar_linear(x, w)
    (y * g).sum().backward()
    x_ref, w_ref = x.detach().clone().requires_grad_(True), w.detach().clone().requires_grad_(True)
    y_ref = torch.nn.functional.linear(x_ref, w_ref)
    (y_ref * g).sum().backward()
    assert torch.equal(y, y_ref) and y.dtype == torch.float32
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-5) and torch.allclose(w.grad, w_ref.grad, atol=1e-4)
    with pytest.raises(ValueError, match="-1 and \\+1 only"):
        bipolar_linear(x.detach() * 0.5, w.detach())


def _tiny_bcrnn_training_step():
    """A repeatable training step of a tiny BCRNN on fixed inputs: call it for (loss, {parameter: gradient})."""
    torch.manual_seed(1)
    model = build_model("bcrnn", "tiny", 4)
    model.train()
    x, y = torch.randn(6, 3, 300, 40), torch.tensor([0, 1, 2, 3, 0, 1])

    def step():
        model.zero_grad()
        torch.manual_seed(2)  # dropout
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    return step


def test_bfloat16_gradient_products_keep_the_forward_and_round_only_the_gradients():
    """Inside gradient_precision("bfloat16") a BCRNN step has the same loss and the float32 step's gradients up to
    bfloat16 rounding (8 significant bits) in the dense and LSTM layers, a few % of each gradient's norm; the
    setting is restored afterwards."""
    from bcrnn.models import bipolar

    step = _tiny_bcrnn_training_step()
    loss, grads = step()
    with bipolar.gradient_precision("bfloat16"):
        loss_bf16, grads_bf16 = step()
    assert bipolar._GRADIENT_DTYPE == torch.float32
    assert torch.equal(loss, loss_bf16)  # the forward pass is untouched
    differ = [n for n in grads if not torch.equal(grads[n], grads_bf16[n])]
    assert "dense.fc.weight" in differ and "lstm.fwd.gates.weight" in differ  # the bfloat16 products ran
    for name in grads:
        g, g16 = grads[name], grads_bf16[name]
        assert g16.dtype == torch.float32
        rel = float((g16 - g).norm() / (g.norm() + 1e-12))
        assert rel <= 0.1, (name, rel)  # measured: at most ~4 %, in layers behind both rounded products
    with pytest.raises(ValueError, match="float32 or bfloat16"):
        with bipolar.gradient_precision("float16"):
            pass


def test_binary_dense_layer_and_lstm_train_on_the_int8_product(monkeypatch):
    """A BCRNN training step with the int8 products equals one with float products: same loss, same gradients."""
    import bcrnn.models.binary_lstm as binary_lstm
    import bcrnn.models.crnn as crnn

    step = _tiny_bcrnn_training_step()
    loss, grads = step()
    calls = []

    def float_product(a, w):
        calls.append(a.shape)
        return torch.nn.functional.linear(a, w)

    monkeypatch.setattr(crnn, "bipolar_linear", float_product)
    monkeypatch.setattr(binary_lstm, "bipolar_linear", float_product)
    loss_ref, grads_ref = step()
    assert len(calls) == 3  # the dense layer and both LSTM directions took the int8 path above
    assert torch.allclose(loss, loss_ref, rtol=1e-5)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        assert torch.allclose(grads[name], grads_ref[name], rtol=1e-3, atol=1e-5), name


def test_binary_dense_layer_in_training_equals_its_brevitas_layer():
    """The int8 path of the per-frame dense layer (training) computes what its QuantLinear computes (export), up to
    float rounding: compared before sign(), whose ties at 0 the rounding can break either way."""
    from bcrnn.models.crnn import FrameDense

    torch.manual_seed(1)
    dense = FrameDense(4 * 6, 10, binary=True).train()
    normalized = []
    dense.bn.register_forward_hook(lambda module, inputs, output: normalized.append(output))
    x = torch.randn(3, 6, 20, 4).sign()  # (B, C, T, F) +-1: a conv block's output
    dense(x)
    flat = x.permute(0, 2, 3, 1).reshape(3, 20, 24)
    dense.bn(dense.fc(flat).transpose(1, 2))
    fast, via_brevitas = normalized
    assert torch.allclose(fast, via_brevitas, atol=1e-5) and float(fast.std()) > 0.5
