"""`bcrnn.custom_op::BinaryLSTM`: the bidirectional binary LSTM as one QONNX node.

qonnx 1.0 cannot process Brevitas' QuantLSTMCell, and FINN has no LSTM, so the export writes this node instead:

    inputs : x (B, T, D) bipolar (+-1), then per direction (fwd, bwd): weight bits (4H, D + H) in {0, 1},
             multipliers M (4H,), offsets B (4H,)                       (integers, see docs/numeric_spec.md)
    output : (B, T, 2H) bipolar, forward then backward hidden bits
    attrs  : hidden, and the fixed-point format (pre_frac, pre_bits, scale_frac, gate_bits, cell_bits, cell_frac)

Its python execution is the integer reference (bcrnn.reference.lstm): one definition of the arithmetic.
"""

from __future__ import annotations

import numpy as np
import onnx.helper as helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from bcrnn.fixed_point import LSTMFormat
from bcrnn.reference.lstm import run_bilstm

FORMAT_FIELDS = ("pre_frac", "pre_bits", "scale_frac", "gate_bits", "cell_bits", "cell_frac")


class BinaryLSTM(CustomOp):
    def get_nodeattr_types(self):
        return {"hidden": ("i", True, 0)} | {f: ("i", True, 0) for f in FORMAT_FIELDS}

    def fmt(self) -> LSTMFormat:
        return LSTMFormat(**{f: self.get_nodeattr(f) for f in FORMAT_FIELDS})

    def make_shape_compatible_op(self, model):
        """A node with the output's shape, for ONNX shape inference: (B, T, 2H)."""
        node = self.onnx_node
        b, t, _ = model.get_tensor_shape(node.input[0])
        return self.make_const_shape_op([b, t, 2 * self.get_nodeattr("hidden")])

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType["BIPOLAR"])

    def execute_node(self, context, graph):
        node = self.onnx_node
        x, fwd, bwd = (context[node.input[0]], [context[n] for n in node.input[1:4]],
                       [context[n] for n in node.input[4:7]])
        out = run_bilstm(fwd, bwd, self.fmt(), np.asarray(x) > 0)
        context[node.output[0]] = (2.0 * out - 1.0).astype(np.float32)

    def verify_node(self):
        node = self.onnx_node
        msgs = []
        if len(node.input) != 7:
            msgs.append(f"{node.name}: BinaryLSTM needs 7 inputs (x, then weight bits, M, B per direction)")
        for f in ("hidden",) + FORMAT_FIELDS:
            try:
                self.get_nodeattr(f)
            except (AttributeError, Exception) as err:  # qonnx raises a plain Exception for missing attributes
                msgs.append(f"{node.name}: attribute {f} missing ({err})")
        return msgs


def make_node(inputs, output, hidden: int, fmt: LSTMFormat, name: str = "BinaryLSTM_0"):
    return helper.make_node("BinaryLSTM", inputs, [output], name=name, domain="bcrnn.custom_op", hidden=hidden,
                            **{f: getattr(fmt, f) for f in FORMAT_FIELDS})
