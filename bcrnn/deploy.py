"""The Brevitas model in deployment mode: its own layers (Brevitas' binary weights, the fixed-point LSTM) on
integer accumulators, with batch norm folded into the integer thresholds of bcrnn.packing.

A second, independent implementation of the integer network (torch convolutions and matrix products in float64,
where bcrnn.reference uses XNOR-popcount on packed words): the two must agree bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bcrnn.models.crnn import CRNN


def _sign(layer) -> torch.Tensor:
    qw = layer.quant_weight()
    return (qw.value / qw.scale).double()  # exactly +-1


def _threshold(acc: torch.Tensor, t, direction, channel_dim: int) -> torch.Tensor:
    shape = [1] * acc.ndim
    shape[channel_dim] = -1
    t = torch.as_tensor(t, dtype=torch.float64).view(shape)
    d = torch.as_tensor(direction).view(shape)
    return torch.where(d > 0, acc >= t, acc <= t).double() * 2 - 1  # +-1


class DeployedBCRNN:
    def __init__(self, model: CRNN, packed: dict):
        self.model, self.p = model.eval(), packed

    @torch.no_grad()
    def forward(self, normalized: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(B, 3, frames, mels) z-scored features -> int64 logits (B, classes) and +-1 streams per boundary."""
        m, p, cfg = self.model, self.p, self.model.cfg
        streams = {}
        codes = torch.round(m.input_quant(normalized.float()) / 2.0**-5).double()
        streams["input"] = codes
        x = codes
        for i, block in enumerate(m.convs):
            kt, kf, pt, pf = cfg.conv[i][1:]
            if i == 0:
                acc = F.conv2d(x, _sign(block.conv), padding=(kt // 2, kf // 2))
            else:
                acc = F.conv2d(F.pad(x, (kf // 2, kf // 2, kt // 2, kt // 2), value=-1.0), _sign(block.conv))
            x = F.max_pool2d(_threshold(acc, p[f"conv{i}_threshold"], p[f"conv{i}_direction"], 1), (pt, pf))
            streams[f"conv{i}"] = x
        b, c, t, f = x.shape
        frames = x.permute(0, 2, 3, 1).reshape(b, t, f * c)
        dense = _threshold(frames @ _sign(m.dense.fc).T, p["dense_threshold"], p["dense_direction"], 2)
        streams["dense"] = dense
        lstm = m.lstm(dense.float()).double()
        streams["lstm"] = lstm
        pooled = lstm.sum(dim=1)
        streams["pool"] = pooled
        fc = _threshold(pooled @ _sign(m.fc).T, p["fc_threshold"], p["fc_direction"], 1)
        streams["fc"] = fc
        dot = (fc @ _sign(m.out).T).long()
        logits = torch.as_tensor(p["out_mult"]) * dot + torch.as_tensor(p["out_offset"])
        streams["logits"] = logits
        return logits, streams
