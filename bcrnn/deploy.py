"""The Brevitas model in deployment mode: its own layers (Brevitas' binary weights, the fixed-point LSTM) on exact
integer accumulators, with each batch norm evaluated in float64 on the accumulator instead of float32 on rounded
activations, so that no float rounding can flip a bit.

It shares nothing with bcrnn.packing / bcrnn.reference but the model: thresholds are not read from the packed
file, so a wrong fold shows up as a mismatch. Torch convolutions in float64 here, XNOR-popcount on packed words
there: the two must agree bit for bit, and on logits to within the 2^-16 fixed-point step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bcrnn.models.crnn import CRNN
from bcrnn.packing import INPUT_SCALE


def _codes(layer) -> torch.Tensor:
    qw = layer.quant_weight()
    return torch.round(qw.value / qw.scale).double()  # +-1, or a multi-bit first conv's integer codes


def _alpha(layer) -> torch.Tensor:
    return layer.quant_weight().scale.detach().double().reshape(-1)


def _bn64(bn, y: torch.Tensor, channel_dim: int) -> torch.Tensor:
    shape = [1] * y.ndim
    shape[channel_dim] = -1
    k = (bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)).view(shape)
    return (y - bn.running_mean.double().view(shape)) * k + bn.bias.double().view(shape)


def _sign_of(z: torch.Tensor) -> torch.Tensor:
    return torch.where(z >= 0, 1.0, -1.0).double()


class DeployedBCRNN:
    def __init__(self, model: CRNN):
        self.model = model.eval()

    @torch.no_grad()
    def forward(self, normalized: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(B, 3, frames, mels) z-scored features -> float64 logits (B, classes) and the stream per boundary
        (+-1 for bit streams, integers for the input codes and the time pool)."""
        m, cfg = self.model, self.model.cfg
        streams = {}
        codes = torch.round(m.input_quant(normalized.float()) / INPUT_SCALE).double()
        streams["input"] = codes
        x, in_scale = codes, INPUT_SCALE
        for i, block in enumerate(m.convs):
            kt, kf, pt, pf = cfg.conv[i][1:]
            if i == 0:
                acc = F.conv2d(x, _codes(block.conv), padding=(kt // 2, kf // 2))
            else:
                acc = F.conv2d(F.pad(x, (kf // 2, kf // 2, kt // 2, kt // 2), value=-1.0), _codes(block.conv))
            z = _bn64(block.bn, acc * (in_scale * _alpha(block.conv)).view(1, -1, 1, 1), 1)
            x, in_scale = F.max_pool2d(_sign_of(z), (pt, pf)), 1.0
            streams[f"conv{i}"] = x
        b, c, t, f = x.shape
        frames = x.permute(0, 2, 3, 1).reshape(b, t, f * c)
        dense = _sign_of(_bn64(m.dense.bn, (frames @ _codes(m.dense.fc).T) * _alpha(m.dense.fc), 2))
        streams["dense"] = dense
        lstm = m.lstm(dense.float()).double()  # the trained fixed-point LSTM: exact in float32
        streams["lstm"] = lstm
        pooled = lstm.sum(dim=1)
        streams["pool"] = pooled
        fc = _sign_of(_bn64(m.fc_bn, (pooled @ _codes(m.fc).T) * _alpha(m.fc) / t, 1))
        streams["fc"] = fc
        logits = _bn64(m.out_bn, (fc @ _codes(m.out).T) * _alpha(m.out), 1)
        streams["logits"] = logits
        return logits, streams
