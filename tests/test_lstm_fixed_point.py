"""The training-time fixed-point binary LSTM equals the numpy integer reference bit for bit."""

import numpy as np
import pytest
import torch

from bcrnn.fixed_point import LSTMFormat, sigmoid_table, tanh_table
from bcrnn.models.binary_lstm import BinaryLSTMLayer
from bcrnn.reference.bits import pack_bits, xnor_popcount_dot
from bcrnn.reference.lstm import LSTMDirection, run_direction


def test_xnor_popcount_equals_bipolar_dot():
    rng = np.random.default_rng(0)
    for n in (1, 63, 64, 65, 200):
        a, w = rng.integers(0, 2, (5, n)), rng.integers(0, 2, (7, n))
        expected = (2 * a - 1) @ (2 * w - 1).T
        assert np.array_equal(xnor_popcount_dot(pack_bits(a), pack_bits(w), n), expected)


def test_gate_tables_are_monotone_and_in_range():
    fmt = LSTMFormat()
    sig, tanh = sigmoid_table(fmt), tanh_table(fmt)
    assert len(sig) == len(tanh) == 256
    assert np.all(np.diff(sig) >= 0) and np.all(np.diff(tanh) >= 0)
    assert sig.min() >= 0 and sig.max() == 255 and sig[128] == 128  # sigmoid(0) = 1/2
    assert tanh.min() == -127 and tanh.max() == 127 and tanh[128] == 0
    with pytest.raises(ValueError):
        LSTMFormat(cell_frac=15)


def _layer(d, h, reverse, seed, bias_scale=1.0, beta=1.3):
    torch.manual_seed(seed)
    layer = BinaryLSTMLayer(d, h, reverse=reverse, fmt=LSTMFormat())
    with torch.no_grad():
        layer.gates.weight.uniform_(-1, 1)
        layer.gates.bias.uniform_(-bias_scale, bias_scale)
        layer.input_act.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value.fill_(beta)
    return layer


def _integer_params(layer) -> LSTMDirection:
    """What the packed model will store, computed exactly as the training model computes it (float32)."""
    fmt = layer.fmt
    one = 2.0 ** (fmt.pre_frac + fmt.scale_frac)
    with torch.no_grad():
        qw = layer.gates.quant_weight()
        beta = layer.input_act.act_quant.scale()
        mult = torch.round(qw.scale.view(-1) * beta * one)
        offset = torch.round(layer.gates.bias * one)
    return LSTMDirection((layer.gates.weight >= 0).numpy().astype(np.uint8), mult.numpy().astype(np.int64),
                         offset.numpy().astype(np.int64), layer.reverse, fmt)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("inputs", ["random", "ones", "zeros"])
def test_torch_fixed_point_lstm_equals_integer_reference(reverse, inputs):
    d, h, t = 24, 8, 40
    layer = _layer(d, h, reverse, seed=1)
    rng = np.random.default_rng(2)
    bits = {"random": rng.integers(0, 2, (3, t, d)), "ones": np.ones((3, t, d)), "zeros": np.zeros((3, t, d))}
    x_bits = bits[inputs].astype(np.uint8)
    with torch.no_grad():
        out = layer(torch.tensor(2.0 * x_bits - 1, dtype=torch.float32)).numpy()
    params = _integer_params(layer)
    for b in range(3):
        ref = run_direction(params, x_bits[b])
        assert np.array_equal((out[b] > 0).astype(np.uint8), ref), f"sequence {b}"


def test_cell_state_saturating_both_ways_matches():
    """Input and forget gates held open, g driven to +1 by the input, then to -1: c climbs by ~1 per step into
    the positive 16-bit saturation, then falls into the negative one. A wrong clamp in either model shifts the
    step where the hidden bits flip."""
    d, h, t = 8, 4, 160
    layer = _layer(d, h, False, seed=3)
    with torch.no_grad():
        layer.gates.weight.fill_(0.01)
        layer.gates.weight[2 * h : 3 * h, :d] = 1.0  # g rows follow the input
        layer.gates.bias.fill_(7.9)
        layer.gates.bias[2 * h : 3 * h] = 0.0
    x_bits = np.ones((t, d), np.uint8)
    x_bits[t // 2 :] = 0
    with torch.no_grad():
        out = layer(torch.tensor(2.0 * x_bits[None] - 1, dtype=torch.float32)).numpy()
    ref, steps = run_direction(_integer_params(layer), x_bits, trace=True)
    assert np.array_equal((out[0] > 0).astype(np.uint8), ref)
    cells = np.stack([s["c"] for s in steps])
    assert cells.max() == LSTMFormat().cell_max and cells.min() == -LSTMFormat().cell_max - 1
    assert ref[: t // 2].all() and not ref[-1].any()  # the bits follow the sign of c


def test_gradients_flow_through_the_fixed_point_cell():
    layer = _layer(16, 8, False, seed=4)
    x = torch.randn(2, 10, 16)
    layer(x).sum().backward()
    assert float(layer.gates.weight.grad.abs().sum()) > 0
    assert float(layer.gates.bias.grad.abs().sum()) > 0


def test_hand_written_backward_equals_autograd_of_the_straight_through_estimators(monkeypatch):
    """The whole BiLSTM (both directions in one loop, Brevitas quantizers around it): same outputs, and the same
    gradients for the input, the latent weights, the biases and the learned input scale as autograd derives."""
    import bcrnn.models.binary_lstm as bl

    torch.manual_seed(0)
    lstm = bl.BinaryBiLSTM(24, 16, fmt=LSTMFormat())
    with torch.no_grad():  # a wider pre-activation range than the initialization's, so that codes saturate too
        lstm.fwd.gates.bias.mul_(20.0)
        lstm.bwd.gates.bias.mul_(20.0)
    x = torch.randn(3, 40, 24)
    weights = torch.randn(3, 40, 32)

    def run():
        lstm.zero_grad()
        xi = x.clone().requires_grad_(True)
        out = lstm(xi)
        (out * weights).sum().backward()
        grads = {n: p.grad.clone() for n, p in lstm.named_parameters() if p.grad is not None}
        return out.detach(), xi.grad.clone(), grads

    out, grad_x, grads = run()
    monkeypatch.setattr(bl, "_fixed_point_recurrence", bl.fixed_point_recurrence_autograd)
    out_ref, grad_x_ref, grads_ref = run()
    assert torch.equal(out, out_ref)
    assert grads.keys() == grads_ref.keys() and len(grads) >= 6  # weights, biases, input scales of both directions
    for name in grads:
        assert torch.allclose(grads[name], grads_ref[name], rtol=1e-4, atol=1e-6), name
        assert float(grads_ref[name].abs().max()) > 0, name
    assert torch.allclose(grad_x, grad_x_ref, rtol=1e-4, atol=1e-6)
    assert float(grad_x_ref.abs().max()) > 0
