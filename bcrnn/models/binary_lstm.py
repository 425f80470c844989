"""The binary LSTM of the poster, built from Brevitas quantizers (Eq. 4 with W d_t ~ alpha W^b beta d^b_t).

Why our own cell and not Brevitas' QuantLSTM: QuantLSTM exports a QuantLSTMCell node that qonnx cannot process
and is ~3.7x slower (docs/toolchain.md). The cell below keeps the gate weights in one `QuantLinear`
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

from bcrnn.fixed_point import LSTMFormat, sigmoid_table, tanh_table
from bcrnn.models.bipolar import bipolar_linear, gradient_product
from bcrnn.quant import BinaryAct, BinaryActLearnedScale, BinaryWeightMeanAbs


def _ste(surrogate: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Forward `value`, backward the gradient of `surrogate` (a straight-through estimator)."""
    return surrogate + (value - surrogate).detach()


def _binarize(h: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """beta * sign(clamp(h, -beta, beta)): what `BinaryActLearnedScale` computes (Brevitas' ClampedBinaryQuant),
    inlined because a Brevitas module call per time step triples the cost of the recurrence."""
    return binary_sign_ste(torch.clamp(h, -beta, beta)) * beta


class BinaryLSTMLayer(nn.Module):
    """One direction: (B, T, input) +-1 sequence -> (B, T, hidden) +-1 sequence."""

    real_weights = False  # the first stage of two-stage training: real-valued gate weights, float arithmetic

    def __init__(self, input_size: int, hidden_size: int, reverse: bool = False, fmt: LSTMFormat | None = None):
        super().__init__()
        self.input_size, self.hidden_size, self.reverse, self.fmt = input_size, hidden_size, reverse, fmt
        if fmt is not None:  # the deployed gate tables (bcrnn.fixed_point), as buffers so they follow .to()
            self.register_buffer("sigmoid_lut", torch.tensor(sigmoid_table(fmt), dtype=torch.float32), False)
            self.register_buffer("tanh_lut", torch.tensor(tanh_table(fmt), dtype=torch.float32), False)
        # rows: [i | f | g | o] gates x hidden units; columns: [x_t | h_t-1]
        self.gates = QuantLinear(input_size + hidden_size, 4 * hidden_size, bias=True,
                                 weight_quant=BinaryWeightMeanAbs)
        self.input_act = QuantIdentity(act_quant=BinaryActLearnedScale, return_quant_tensor=False)  # beta
        self.output_act = QuantIdentity(act_quant=BinaryAct, return_quant_tensor=False)
        with torch.no_grad():  # forget-gate bias 1: the usual LSTM initialization
            self.gates.bias[hidden_size : 2 * hidden_size].fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fmt is not None and not self.real_weights:
            return self._forward_fixed_point(x)
        b, t, _ = x.shape
        w = self.gates.weight if self.real_weights else self.gates.quant_weight().value  # alpha sign(W): (4H, D + H)
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
        pre_x_steps = pre_x.unbind(1)  # not pre_x[:, s]: each select's backward would allocate a (B, T, 4H) zero
        steps = range(t - 1, -1, -1) if self.reverse else range(t)
        for s in steps:
            pre = torch.addmm(pre_x_steps[s], _binarize(h, beta), w_h_t)
            sig = torch.sigmoid(pre)
            i, f, o = sig[:, :hs], sig[:, hs : 2 * hs], sig[:, 3 * hs :]
            c = f * c + i * torch.tanh(pre[:, 2 * hs : 3 * hs])
            h = o * torch.tanh(c)
            outputs[s] = h
        return self.output_act(torch.stack(outputs, dim=1))

    def _forward_fixed_point(self, x: torch.Tensor) -> torch.Tensor:
        """The deployed arithmetic of bcrnn.fixed_point, evaluated exactly on integer-valued float32 tensors,
        with straight-through gradients of the float LSTM around every rounding."""
        return _run_fixed_point([self], x)[0]

    def integer_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The x part of every step's dot product (B, T, 4H), the +-1 recurrent matrix (H, 4H), and M_r, B_r (4H,):
        integers in float32, with the straight-through gradients of the float gate pre-activation."""
        fmt, hs = self.fmt, self.hidden_size
        qw = self.gates.quant_weight()
        w_sign = qw.value / qw.scale  # +-1 exactly, gradient through the sign STE
        alpha = qw.scale.view(-1)
        beta = self.input_act.act_quant.scale()
        one = 2.0 ** (fmt.pre_frac + fmt.scale_frac)
        m = alpha * beta * one
        mult = _ste(m, torch.round(m))  # M_r
        bias = self.gates.bias * one
        offset = _ste(bias, torch.round(bias))  # B_r
        if float(mult.detach().max()) * (self.input_size + hs) + float(offset.detach().abs().max()) >= 2 ** 24:
            raise OverflowError("binary LSTM accumulator exceeds 2^24: float32 training would not be exact")
        x_sign = binary_sign_ste(torch.clamp(x, -1.0, 1.0))
        dot_x = bipolar_linear(x_sign, w_sign[:, : self.input_size])  # integers, exact
        return dot_x, w_sign[:, self.input_size :].t(), mult, offset


def _run_fixed_point(layers: list[BinaryLSTMLayer], x: torch.Tensor) -> list[torch.Tensor]:
    """Fixed-point layers of the same sizes and format on the same input, in one loop over the steps (a reverse
    layer runs on time-reversed input); returns each layer's (B, T, H) +-1 output in input time order."""
    terms = [layer.integer_terms(x) for layer in layers]
    dot_x = torch.stack([t[0].flip(1) if layer.reverse else t[0] for t, layer in zip(terms, layers)])
    w_h_t, mult, offset = (torch.stack([t[k] for t in terms]) for k in (1, 2, 3))
    out = _fixed_point_recurrence(dot_x, w_h_t, mult, offset, layers[0].fmt, layers[0].sigmoid_lut,
                                  layers[0].tanh_lut)
    return [o.flip(1) if layer.reverse else o for o, layer in zip(out, layers)]


def _fixed_point_recurrence(dot_x: torch.Tensor, w_h_t: torch.Tensor, mult: torch.Tensor, offset: torch.Tensor,
                            fmt: LSTMFormat, sigmoid_lut: torch.Tensor, tanh_lut: torch.Tensor) -> torch.Tensor:
    """The fixed-point recurrence of L independent LSTM layers run side by side (L = 2: a BiLSTM's two directions,
    the backward one on time-reversed inputs), in one loop over the steps.

    dot_x: (L, B, T, 4H) integer x-part dot products in step order; w_h_t: (L, H, 4H) +-1; mult, offset: (L, 4H).
    Returns (L, B, T, H) in {-1, +1}, in step order. Gradients: `_FixedPointRecurrence`'s straight-through ones."""
    return _FixedPointRecurrence.apply(dot_x, w_h_t, mult, offset, fmt, sigmoid_lut, tanh_lut)


class _FixedPointRecurrence(torch.autograd.Function):
    """The deployed integer LSTM forward, and by hand the backward that autograd would derive for its
    straight-through estimators: the float LSTM's gradient, with every activation and state at its fixed-point
    value (pre-activation codes, table gates, rounded cell state), the sign of h passed straight through.

    Why by hand: autograd through ~40 small ops per step for 150 steps made the recurrence half of a BCRNN training
    step on a CPU; the step loop here has a dozen, and everything that does not depend on the previous step (the
    activation derivatives, the gradients of the multipliers, offsets and recurrent weights) is computed for all
    steps at once. tests/test_binary_lstm.py checks it against the autograd formulation."""

    @staticmethod
    def forward(ctx, dot_x, w_h_t, mult, offset, fmt: LSTMFormat, sigmoid_lut, tanh_lut):
        n_layers, b, t, four_h = dot_x.shape
        hs = four_h // 4
        m, o_ = mult[:, None, :], offset[:, None, :]
        half_k, lo, hi = 2.0 ** (fmt.scale_frac - 1), -(2 ** (fmt.pre_bits - 1)), 2 ** (fmt.pre_bits - 1) - 1
        g_one, g_half, s_one = 2.0 ** fmt.gate_bits, 2.0 ** (fmt.gate_bits - 1), 2.0 ** fmt.product_shift
        c_lo, c_hi = -(fmt.cell_max + 1), fmt.cell_max
        h_sign = dot_x.new_ones(n_layers, b, hs)  # sign(h_0) = sign(0) = +1
        c_int = dot_x.new_zeros(n_layers, b, hs)
        dots, codes, gates, cells, outputs = ([None] * t for _ in range(5))
        for s in range(t):
            dot = torch.baddbmm(dot_x[:, :, s], h_sign, w_h_t)
            code = torch.clamp(torch.floor((m * dot + o_ + half_k) / 2 ** fmt.scale_frac), lo, hi)
            idx = (code - lo).long()
            gate = sigmoid_lut[idx]  # integer i, f, o (the g columns replaced below)
            gate[..., 2 * hs : 3 * hs] = tanh_lut[idx[..., 2 * hs : 3 * hs]]
            i_int, f_int, g_int, o_int = gate.split(hs, dim=-1)
            c_int = torch.clamp(torch.floor((f_int * c_int + g_half) / g_one)
                                + torch.floor((i_int * g_int + s_one / 2) / s_one), c_lo, c_hi)
            h_sign = torch.where((o_int == 0) | (c_int >= 0), 1.0, -1.0)
            dots[s], codes[s], gates[s], cells[s], outputs[s] = dot, code, gate, c_int, h_sign
        ctx.fmt = fmt  # saved step-major: (T, L, B, .), so that the backward loop reads contiguous slices
        ctx.save_for_backward(w_h_t, mult, *(torch.stack(v) for v in (dots, codes, gates, cells, outputs)))
        return torch.stack(outputs, dim=2)

    @staticmethod
    def backward(ctx, grad_out):
        w_h_t, mult, dot, code, gate, cell, out = ctx.saved_tensors
        fmt = ctx.fmt
        t, n_layers, b, hs = out.shape
        one = 2.0 ** (fmt.pre_frac + fmt.scale_frac)
        grad_out = grad_out.permute(2, 0, 1, 3)  # step-major like the saved tensors
        # forward values: gates (i, f, o on 2^-G, g on 2^-(G-1)), cell state, pre-activation
        i, f, g, o = (gate / 2.0 ** fmt.gate_bits).split(hs, dim=-1)
        g = g * 2.0
        c = cell / 2.0 ** fmt.cell_frac
        c_prev = torch.cat([torch.zeros_like(c[:1]), c[:-1]])
        pre = code / 2.0 ** fmt.pre_frac
        # the float activations' derivatives at those values: sigmoid for i, f, o, tanh for g and for c in h
        sig = torch.sigmoid(pre)
        d_act = sig * (1 - sig)
        d_act[..., 2 * hs : 3 * hs] = 1 - torch.tanh(pre[..., 2 * hs : 3 * hs]) ** 2
        tanh_c = torch.tanh(c)
        dh_dc = o * (1 - tanh_c ** 2)
        row = (mult / one)[:, None, :]  # d pre -> d dot: the per-row multiplier M_r / 2^(P+K)
        w_h = w_h_t.transpose(1, 2)
        d_pre = torch.empty_like(dot)
        d_dot = torch.empty_like(dot)
        dh = torch.zeros_like(out[0])
        dc = torch.zeros_like(dh)
        for s in range(t - 1, -1, -1):
            dh = grad_out[s] + dh
            dc = dc + dh * dh_dc[s]
            torch.cat([dc * g[s], dc * c_prev[s], dc * i[s], dh * tanh_c[s]], dim=-1, out=d_pre[s])
            d_pre[s].mul_(d_act[s])
            dc = dc * f[s]
            dh = torch.bmm(torch.mul(d_pre[s], row, out=d_dot[s]), w_h)  # to the previous sign(h), straight through
        d_acc = d_pre / one
        grad_mult = (d_acc * dot).sum(dim=(0, 2))
        grad_offset = d_acc.sum(dim=(0, 2))
        h_prev = torch.cat([torch.ones_like(out[:1]), out[:-1]])  # (T, L, B, H)
        grad_w = gradient_product(h_prev.permute(1, 3, 0, 2).reshape(n_layers, hs, t * b),
                                  d_dot.permute(1, 0, 2, 3).reshape(n_layers, t * b, -1))
        return d_dot.permute(1, 2, 0, 3), grad_w, grad_mult, grad_offset, None, None, None


def fixed_point_recurrence_autograd(dot_x, w_h_t, mult, offset, fmt, sigmoid_lut, tanh_lut):
    """`_fixed_point_recurrence` with its straight-through estimators written as autograd ops, step by step: the
    specification that `_FixedPointRecurrence`'s hand-written backward implements (tests/test_lstm_fixed_point.py
    compares the two; benchmarks/train_speed.py --compare-lstm-backward times them)."""
    n_layers, b, t, _ = dot_x.shape
    hs = w_h_t.shape[1]
    mult, offset = mult[:, None, :], offset[:, None, :]
    one = 2.0 ** (fmt.pre_frac + fmt.scale_frac)
    half_k, lo, hi = 2.0 ** (fmt.scale_frac - 1), -(2 ** (fmt.pre_bits - 1)), 2 ** (fmt.pre_bits - 1) - 1
    g_one, g_half, t_one = 2.0 ** fmt.gate_bits, 2.0 ** (fmt.gate_bits - 1), 2.0 ** (fmt.gate_bits - 1)
    s_one, c_one = 2.0 ** fmt.product_shift, 2.0 ** fmt.cell_frac
    c_lo, c_hi = -(fmt.cell_max + 1), fmt.cell_max
    h_sign = dot_x.new_ones(n_layers, b, hs)
    c = dot_x.new_zeros(n_layers, b, hs)
    c_int = dot_x.new_zeros(n_layers, b, hs)
    outputs = []
    for s in range(t):
        dot = dot_x[:, :, s] + torch.bmm(h_sign, w_h_t)
        acc = mult * dot + offset
        code = torch.clamp(torch.floor((acc.detach() + half_k) / 2 ** fmt.scale_frac), lo, hi)
        pre = _ste(acc / one, code / 2 ** fmt.pre_frac)
        idx = (code - lo).long()
        sig_idx = torch.cat([idx[..., : 2 * hs], idx[..., 3 * hs :]], dim=-1)
        sig_pre = torch.cat([pre[..., : 2 * hs], pre[..., 3 * hs :]], dim=-1)
        gates = _ste(torch.sigmoid(sig_pre), sigmoid_lut[sig_idx] / g_one)
        i, f, o = gates[..., :hs], gates[..., hs : 2 * hs], gates[..., 2 * hs :]
        g = _ste(torch.tanh(pre[..., 2 * hs : 3 * hs]), tanh_lut[idx[..., 2 * hs : 3 * hs]] / t_one)
        i_int, f_int, o_int, g_int = ((v * k).detach() for v, k in ((i, g_one), (f, g_one), (o, g_one), (g, t_one)))
        c_int = torch.clamp(torch.floor((f_int * c_int + g_half) / g_one)
                            + torch.floor((i_int * g_int + s_one / 2) / s_one), c_lo, c_hi)
        c = _ste(f * c + i * g, c_int / c_one)
        h_sign = _ste(o * torch.tanh(c), torch.where((o_int == 0) | (c_int >= 0), 1.0, -1.0))
        outputs.append(h_sign)
    return torch.stack(outputs, dim=2)


class _ExportBinaryLSTM(torch.autograd.Function):
    """Stands for the whole BiLSTM in a TorchScript-based ONNX export: one `bcrnn.custom_op::BinaryLSTM` node."""

    exporting: "BinaryBiLSTM | None" = None  # the module being exported (apply() takes tensors and numbers only)
    traced_shape: tuple = ()

    @staticmethod
    def forward(ctx, x, wf, mf, of, wb, mb, ob, hidden, pre_frac, pre_bits, scale_frac, gate_bits, cell_bits,
                cell_frac):
        # Brevitas quantizers are in export mode here: run the integer reference on the cached parameters
        from bcrnn.reference.lstm import run_bilstm

        module = _ExportBinaryLSTM.exporting
        _ExportBinaryLSTM.traced_shape = tuple(x.shape)  # for symbolic(), where the tracer may not know it
        fwd, bwd = ([t.numpy() for t in module.frozen[d]] for d in ("fwd", "bwd"))
        bits = run_bilstm(fwd, bwd, module.fwd.fmt, x.detach().numpy() > 0)
        return torch.from_numpy(bits).float() * 2 - 1

    @staticmethod
    def symbolic(g, x, wf, mf, of, wb, mb, ob, hidden, pre_frac, pre_bits, scale_frac, gate_bits, cell_bits,
                 cell_frac):
        out = g.op("bcrnn.custom_op::BinaryLSTM", x, wf, mf, of, wb, mb, ob, hidden_i=hidden,
                   pre_frac_i=pre_frac, pre_bits_i=pre_bits, scale_frac_i=scale_frac, gate_bits_i=gate_bits,
                   cell_bits_i=cell_bits, cell_frac_i=cell_frac)
        sizes = x.type().sizes() or _ExportBinaryLSTM.traced_shape
        out.setType(x.type().with_sizes([sizes[0], sizes[1], 2 * hidden]))
        return out


class BinaryBiLSTM(nn.Module):
    """Forward and backward binary LSTM layers, outputs concatenated: (B, T, 2 * hidden) in {-1, +1}."""

    def __init__(self, input_size: int, hidden_size: int, fmt: LSTMFormat | None = None):
        super().__init__()
        self.fwd = BinaryLSTMLayer(input_size, hidden_size, fmt=fmt)
        self.bwd = BinaryLSTMLayer(input_size, hidden_size, reverse=True, fmt=fmt)

    def forward_float32(self, x: torch.Tensor) -> torch.Tensor:
        if self.fwd.fmt is None or self.fwd.real_weights:
            return torch.cat([self.fwd(x), self.bwd(x)], dim=-1)
        return torch.cat(_run_fixed_point([self.fwd, self.bwd], x), dim=-1)  # both directions in one loop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            if self.fwd.fmt is None:
                raise ValueError("only the fixed-point binary LSTM (lstm_arithmetic='fixed') can be exported")
            if self.frozen is None:
                raise RuntimeError("call freeze_for_export() before exporting (bcrnn.export does)")
            _ExportBinaryLSTM.exporting = self
            f = self.fwd.fmt
            return _ExportBinaryLSTM.apply(x, *self.frozen["fwd"], *self.frozen["bwd"],
                                           self.fwd.hidden_size, f.pre_frac, f.pre_bits, f.scale_frac,
                                           f.gate_bits, f.cell_bits, f.cell_frac)
        return self.forward_float32(x)

    frozen: dict | None = None

    def freeze_for_export(self) -> None:
        """Compute the integer parameters while Brevitas is still in its normal mode (not export mode)."""
        self.frozen = {d: self.integer_parameters(d) for d in ("fwd", "bwd")}

    @torch.no_grad()
    def integer_parameters(self, direction: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Weight bits, M_r and B_r of one direction (docs/numeric_spec.md), as float32 constants."""
        layer = self.fwd if direction == "fwd" else self.bwd
        fmt = layer.fmt
        one = 2.0 ** (fmt.pre_frac + fmt.scale_frac)
        qw = layer.gates.quant_weight()
        beta = layer.input_act.act_quant.scale()
        bits = (layer.gates.weight >= 0).float()
        mult = torch.round(qw.scale.view(-1) * beta * one)
        offset = torch.round(layer.gates.bias * one)
        return bits.detach().clone(), mult.detach().clone(), offset.detach().clone()
