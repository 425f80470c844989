"""Model size as the poster's Table 2 counts it: float32 storage versus 1-bit packed storage.

Packed size counts every binary weight at 1 bit and, honestly, *every other stored number* (batch-norm
parameters and running statistics, biases, learned scales) at 32 bits, although deployment folds most of them
into fewer integer thresholds. MB = 10^6 bytes.
"""

from __future__ import annotations

from brevitas.nn import QuantConv2d, QuantLinear
from torch import nn


def _binary_weight_names(model: nn.Module) -> set[str]:
    if not getattr(getattr(model, "cfg", None), "binary", False):
        return set()
    return {f"{name}.weight" for name, m in model.named_modules() if isinstance(m, (QuantConv2d, QuantLinear))}


def model_size(model: nn.Module) -> dict:
    """Bits per tensor and the totals: float32 MB, packed MB and their ratio."""
    binary = _binary_weight_names(model)
    tensors = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if name.endswith("num_batches_tracked"):
            continue  # a training counter, not part of the model
        tensors[name] = (t.numel(), 1 if name in binary else 32)
    float_bits = sum(n * 32 for n, _ in tensors.values())
    packed_bits = sum(n * b for n, b in tensors.values())
    n_binary = sum(n for n, b in tensors.values() if b == 1)
    return {
        "parameters": sum(n for n, _ in tensors.values()),
        "binary_parameters": n_binary,
        "above_1_bit_parameters": sum(n for n, b in tensors.values() if b > 1),
        "float32_mb": float_bits / 8e6,
        "packed_mb": packed_bits / 8e6,
        "compression": float_bits / packed_bits,
        "tensors": {k: {"numel": n, "bits": b} for k, (n, b) in tensors.items()},
    }
