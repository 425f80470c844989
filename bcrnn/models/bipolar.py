"""x @ w.T for x and w in {-1, +1}: an exact int8 matrix product in the forward pass, float32 in the backward.

Why: the per-frame dense layer and the binary LSTM's input part multiply +-1 activations by +-1 weights, two of
the largest products of a BCRNN training step. Their entries are integers, so torch's int8 kernel (int32
accumulation) gives the float32 product's values exactly, about 4x faster on this CPU (benchmarks/train_speed.py).
The gradients are the float product's: grad_x = grad @ w, grad_w = grad.T @ x.
"""

from __future__ import annotations

import torch


class _BipolarLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        rows = x.reshape(-1, x.shape[-1])
        out = torch._int_mm(rows.to(torch.int8), w.t().to(torch.int8))
        return out.to(x.dtype).reshape(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w = ctx.saved_tensors
        grad_x = grad @ w if ctx.needs_input_grad[0] else None
        grad_w = grad.reshape(-1, w.shape[0]).t() @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w


def bipolar_linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (..., K) and w (N, K), every entry -1 or +1 -> (..., N): the integers of x @ w.T as float32, with float
    gradients. Falls back to the float product off the CPU. Other values raise: int8 would truncate them."""
    if x.device.type != "cpu" or not hasattr(torch, "_int_mm"):
        return torch.nn.functional.linear(x, w)
    with torch.no_grad():  # one cheap pass each, against a silently wrong product
        if not (bool((x.abs() == 1).all()) and bool((w.abs() == 1).all())):
            raise ValueError("bipolar_linear takes tensors of -1 and +1 only")
    return _BipolarLinear.apply(x, w)
