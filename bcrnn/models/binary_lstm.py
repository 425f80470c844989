"""The binary LSTM of the poster, built from Brevitas quantizers (Eq. 4 with W d_t ~ alpha W^b beta d^b_t).

Why our own cell and not Brevitas' QuantLSTM: QuantLSTM exports a QuantLSTMCell node that qonnx cannot process
and is ~3.7x slower here (TOOLCHAIN.md). The cell below keeps the gate weights in one `QuantLinear`
(binary, per-row alpha), binarizes d_t = [x_t, h_t-1] with a learned scale beta, and leaves the rest of the
LSTM (sigmoid/tanh gates, c_t = f c_t-1 + i g, h_t = o tanh(c_t)) as the poster says.

Its output is sign(h_t): since o_t > 0, sign(h_t) = sign(c_t) (with sign(0) = +1). The hidden state that
feeds the next step is the same binarized h. h_0 = 0 and c_0 = 0, so sign(h_0) = +1.
"""

from __future__ import annotations

import torch
from brevitas.nn import QuantIdentity, QuantLinear
from torch import nn

from brevitas.function.ops_ste import binary_sign_ste

from bcrnn.quant import BinaryAct, BinaryActLearnedScale, BinaryWeightMeanAbs


def _binarize(h: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """beta * sign(clamp(h, -beta, beta)): what `BinaryActLearnedScale` computes (Brevitas' ClampedBinaryQuant),
    inlined because a Brevitas module call per time step triples the cost of the recurrence."""
    return binary_sign_ste(torch.clamp(h, -beta, beta)) * beta


class BinaryLSTMLayer(nn.Module):
    """One direction: (B, T, input) +-1 sequence -> (B, T, hidden) +-1 sequence."""

    def __init__(self, input_size: int, hidden_size: int, reverse: bool = False):
        super().__init__()
        self.input_size, self.hidden_size, self.reverse = input_size, hidden_size, reverse
        # rows: [i | f | g | o] gates x hidden units; columns: [x_t | h_t-1]
        self.gates = QuantLinear(input_size + hidden_size, 4 * hidden_size, bias=True,
                                 weight_quant=BinaryWeightMeanAbs)
        self.input_act = QuantIdentity(act_quant=BinaryActLearnedScale, return_quant_tensor=False)  # beta
        self.output_act = QuantIdentity(act_quant=BinaryAct, return_quant_tensor=False)
        with torch.no_grad():  # forget-gate bias 1: the usual LSTM initialization
            self.gates.bias[hidden_size : 2 * hidden_size].fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        w = self.gates.quant_weight().value  # alpha * sign(W), (4H, D + H)
        w_x, w_h = w[:, : self.input_size], w[:, self.input_size :]
        # the x part of W d_t for all steps at once; the h part step by step
        d_x = self.input_act(x)
        beta = self.input_act.act_quant.scale()
        pre_x = torch.nn.functional.linear(d_x, w_x, self.gates.bias)
        w_h_t = w_h.t()
        hs = self.hidden_size
        h = x.new_zeros(b, self.hidden_size)
        c = x.new_zeros(b, self.hidden_size)
        outputs = [None] * t
        steps = range(t - 1, -1, -1) if self.reverse else range(t)
        for s in steps:
            pre = torch.addmm(pre_x[:, s], _binarize(h, beta), w_h_t)
            sig = torch.sigmoid(pre)
            i, f, o = sig[:, :hs], sig[:, hs : 2 * hs], sig[:, 3 * hs :]
            c = f * c + i * torch.tanh(pre[:, 2 * hs : 3 * hs])
            h = o * torch.tanh(c)
            outputs[s] = h
        return self.output_act(torch.stack(outputs, dim=1))


class BinaryBiLSTM(nn.Module):
    """Forward and backward binary LSTM layers, outputs concatenated: (B, T, 2 * hidden) in {-1, +1}."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.fwd = BinaryLSTMLayer(input_size, hidden_size)
        self.bwd = BinaryLSTMLayer(input_size, hidden_size, reverse=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.fwd(x), self.bwd(x)], dim=-1)
