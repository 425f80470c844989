"""x @ w.T for x and w in {-1, +1}: an exact int8 matrix product in the forward pass, float32 in the backward.

Why: the per-frame dense layer and the binary LSTM's input part multiply +-1 activations by +-1 weights, two of
the largest products of a BCRNN training step. Their entries are integers, so torch's int8 kernel (int32
accumulation) gives the float32 product's values exactly, about 4x faster on this CPU (benchmarks/train_speed.py).
The gradients are the float product's: grad_x = grad @ w, grad_w = grad.T @ x, in float32 or, inside
`gradient_precision("bfloat16")`, as bfloat16 products (the +-1 factors exact, the gradient rounded to 8
significant bits; ~2x faster with AVX512-BF16). The forward product is exact either way.
"""

from __future__ import annotations

import contextlib

import torch

GRADIENT_PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
_GRADIENT_DTYPE = torch.float32


@contextlib.contextmanager
def gradient_precision(name: str):
    """Within the block, the backward products of `bipolar_linear` and of the binary LSTM's recurrent weights run
    in precision `name` ("float32" or "bfloat16"); training arithmetic only, the deployed integers do not change."""
    global _GRADIENT_DTYPE
    if name not in GRADIENT_PRECISIONS:
        raise ValueError(f"gradient precision must be {' or '.join(GRADIENT_PRECISIONS)}, not {name!r}")
    previous, _GRADIENT_DTYPE = _GRADIENT_DTYPE, GRADIENT_PRECISIONS[name]
    try:
        yield
    finally:
        _GRADIENT_DTYPE = previous


def gradient_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b (batched if 3-D) for a backward pass, in the current gradient precision, returned as float32."""
    if _GRADIENT_DTYPE == torch.float32:
        return a @ b
    a, b = a.to(_GRADIENT_DTYPE), b.to(_GRADIENT_DTYPE)
    if a.dim() == 3 and b.dim() == 3:  # one 2-D product per entry: torch's bfloat16 bmm is slower than float32's
        return torch.stack([(a_i @ b_i).float() for a_i, b_i in zip(a, b)])
    return (a @ b).float()


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
        grad_x = gradient_product(grad.reshape(-1, w.shape[0]), w).reshape(*grad.shape[:-1], w.shape[1]) \
            if ctx.needs_input_grad[0] else None
        grad_w = gradient_product(grad.reshape(-1, w.shape[0]).t(), x.reshape(-1, x.shape[-1])) \
            if ctx.needs_input_grad[1] else None
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
