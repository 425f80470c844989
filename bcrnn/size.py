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
    stored = set(model.state_dict())  # skips non-persistent buffers (the LSTM's gate tables, counted below)
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if name.endswith("num_batches_tracked") or name not in stored:
            continue  # a training counter, or a derived table
        tensors[name] = (t.numel(), 1 if name in binary else 32)
    lstm = getattr(model, "lstm", None)
    fmt = getattr(getattr(lstm, "fwd", None), "fmt", None)
    if fmt is not None:  # the fixed-point LSTM's sigmoid and tanh tables, shared by both directions
        tensors["lstm.gate_tables"] = (2 * 2**fmt.pre_bits, fmt.gate_bits)
    float_bits = sum(n * 32 for n, _ in tensors.values())
    packed_bits = sum(n * b for n, b in tensors.values())
    n_binary = sum(n for n, b in tensors.values() if b == 1)
    return {
        "parameters": sum(n for n, _ in tensors.values()),
        "binary_parameters": n_binary,
        "above_1_bit_parameters": sum(n for n, b in tensors.values() if b > 1),
        "binary_mb": n_binary / 8e6,
        "float32_mb": float_bits / 8e6,
        "packed_mb": packed_bits / 8e6,
        "compression": float_bits / packed_bits,
        "tensors": {k: {"numel": n, "bits": b} for k, (n, b) in tensors.items()},
    }
