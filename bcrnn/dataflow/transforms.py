"""Graph rewrites that bring the BCRNN's QONNX graph into the shapes FINN's streamlining and HW conversion know.

Each is exact (same integers and bits) and says why it is valid. They run around FINN's own steps
(bcrnn.dataflow.steps):

- SwapMaxPoolAndSign: conv -> BN -> max-pool -> sign becomes conv -> BN -> sign -> max-pool. sign is monotone,
  so sign(max(v)) = max(sign(v)) for any BN slope; after the swap FINN can absorb a negative BN slope into the
  binary weights (FactorOutMulSignMagnitude + Absorb1BitMulIntoConv), which it cannot move past a max-pool.
- FoldBipolarPadIntoConv: a binary conv's -1 padding (an explicit Pad in the export) becomes the Conv's padding,
  which FINN fills with bit 0 (= -1) once activations are XNOR bits.
- CollapseTransposedChannelwise: the dense layer's batch norm is exported between two transposes (BatchNorm1d
  wants channels first); the per-channel Mul/Add are moved into the channels-last layout, transposes dropped.
- FramesAsNHWC: the frame sequence becomes a T x 1 NHWC image, the layout FINN's layers execute.
- LSTMToHWLayer: the exported `bcrnn.custom_op::BinaryLSTM` becomes the FINN layer of bcrnn.dataflow.lstm_layer,
  and the mean over time after it becomes FINN's GlobalAccPool on the LSTM's 0/1 bits followed by the scalar
  affine 2 P / T - 1 (= mean of +-1), which streamlining moves into the next layer's thresholds.
- DropInputQuantizer: the hardware's input is the int8 feature code (the host quantizes, as the reference does).
- OutputAffineToFixedPoint: the output layer's float affine becomes the integer M_c, B_c of the numeric spec
  (logits scaled by 2^16), so FINN can build it from integer channelwise layers, then TopK(1) for a label.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from bcrnn.dataflow.lstm_layer import FORMAT_FIELDS


class GraphRewriteError(RuntimeError):
    """The graph does not have the structure the BCRNN export produces."""


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _is_sign_threshold(model, node) -> bool:
    """A MultiThreshold with one threshold shared by every channel and a bipolar output: a sign."""
    if node is None or node.op_type != "MultiThreshold":
        return False
    thr = model.get_initializer(node.input[1])
    return thr is not None and thr.size == 1 and model.get_tensor_datatype(node.output[0]) == DataType["BIPOLAR"]


class SwapMaxPoolAndSign(Transformation):
    def apply(self, model):
        changed = False
        for pool in list(model.graph.node):
            if pool.op_type != "MaxPool":
                continue
            sign = model.find_consumer(pool.output[0])
            if not _is_sign_threshold(model, sign) or model.is_fork_node(pool):
                continue
            pool_in, sign_out = pool.input[0], sign.output[0]
            mid = model.make_new_valueinfo_name()
            sign.input[0], sign.output[0] = pool_in, mid
            pool.input[0], pool.output[0] = mid, sign_out
            model.set_tensor_shape(mid, model.get_tensor_shape(pool_in))
            # keep topological order: the threshold now comes first
            graph = model.graph
            graph.node.remove(sign)
            graph.node.insert(list(graph.node).index(pool), sign)
            changed = True
        if changed:
            model = model.transform(InferShapes()).transform(InferDataTypes())
        return model, False


class FoldBipolarPadIntoConv(Transformation):
    """A binary conv's input is padded with -1 (bit 0) by an explicit Pad: fold it into the Conv's own padding.
    FINN pads with raw 0, which once the bipolar activations become 0/1 bits for the XNOR-popcount (FINN's
    ConvertBipolarMatMulToXnorPopcount) is exactly bit 0 = -1, as the reference pads. (Between this rewrite and
    that conversion the intermediate FINN graph would pad with 0 instead of -1: only the final HW graph is
    executed, and it is compared with the reference.)"""

    def apply(self, model):
        for pad in list(model.graph.node):
            if pad.op_type != "Pad" or model.get_tensor_datatype(pad.input[0]) != DataType["BIPOLAR"]:
                continue
            conv = model.find_consumer(pad.output[0])
            pads = model.get_initializer(pad.input[1])
            value = model.get_initializer(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else None
            if conv is None or conv.op_type != "Conv" or pads is None or value is None or float(value) != -1.0 \
                    or any(_attr(conv, "pads", [0, 0, 0, 0])) or pads[0] or pads[1] or pads[4] or pads[5]:
                raise GraphRewriteError(f"{pad.name}: expected a -1 padding of H and W before a Conv")
            for a in list(conv.attribute):
                if a.name == "pads":
                    conv.attribute.remove(a)
            conv.attribute.append(helper.make_attribute("pads", [int(pads[2]), int(pads[3]), int(pads[6]),
                                                                 int(pads[7])]))
            conv.input[0] = pad.input[0]
            model.graph.node.remove(pad)
            return model.transform(InferShapes()), True
        return model, False


class CollapseTransposedChannelwise(Transformation):
    """Transpose(perm) -> Mul/Add (initializers) ... -> Transpose(inverse perm): drop both transposes."""

    def apply(self, model):
        for first in list(model.graph.node):
            if first.op_type != "Transpose":
                continue
            perm = list(_attr(first, "perm"))
            chain, node = [], model.find_consumer(first.output[0])
            while node is not None and node.op_type in ("Mul", "Add") and model.get_initializer(node.input[1]) \
                    is not None and not model.is_fork_node(node):
                chain.append(node)
                node = model.find_consumer(node.output[0])
            if not chain or node is None or node.op_type != "Transpose":
                continue
            if list(np.argsort(perm)) != list(_attr(node, "perm")):
                continue
            inverse = list(np.argsort(perm))
            rank = len(perm)
            for op in chain:
                p = model.get_initializer(op.input[1])
                p = p.reshape((1,) * (rank - p.ndim) + p.shape).transpose(inverse)
                if all(n == 1 for n in p.shape[:-1]):  # per channel on the last axis: a vector, which
                    p = p.reshape(-1)  # broadcasts on any rank (and onto weights when absorbed)
                model.set_initializer(op.input[1], np.ascontiguousarray(p))
            chain[0].input[0] = first.input[0]
            last_out = node.output[0]
            for consumer in model.find_consumers(last_out) or []:
                for i, name in enumerate(consumer.input):
                    if name == last_out:
                        consumer.input[i] = chain[-1].output[0]
            if last_out in [o.name for o in model.graph.output]:
                chain[-1].output[0] = last_out
            model.graph.node.remove(first)
            model.graph.node.remove(node)
            model = model.transform(InferShapes()).transform(InferDataTypes())
            return model, True
        return model, False


class FramesAsNHWC(Transformation):
    """The per-frame dense layer's Reshape (1, T, F, C) -> (1, T, F*C) becomes (1, T, 1, F*C): the frame sequence
    is an NHWC image of T x 1 pixels from there on, the layout FINN's layers execute (its MVAU and thresholds
    know 2-D and 4-D tensors only). Thresholds on these tensors are marked NHWC."""

    def apply(self, model):
        for node in list(model.graph.node):
            if node.op_type != "Reshape":
                continue
            shape = model.get_initializer(node.input[1])
            in_shape = model.get_tensor_shape(node.input[0])
            if shape is None or len(shape) != 3 or len(in_shape) != 4:
                continue
            n, t, _, _ = in_shape
            model.set_initializer(node.input[1], np.array([n, t, 1, int(shape[-1])], dtype=np.int64))
            downstream = _downstream_tensors(model, node)
            for vi in [v for v in model.graph.value_info if v.name in downstream]:
                model.graph.value_info.remove(vi)
            model = model.transform(InferShapes())
            for mt in model.graph.node:
                if mt.op_type == "MultiThreshold" and mt.input[0] in downstream and \
                        len(model.get_tensor_shape(mt.input[0])) == 4:
                    mt.attribute.append(helper.make_attribute("data_layout", "NHWC"))
            return model.transform(InferDataTypes()), False
        return model, False


def _downstream_tensors(model, node) -> set:
    names = set(node.output)
    for later in model.graph.node[list(model.graph.node).index(node) + 1:]:
        names.update(later.output)
    return names - {o.name for o in model.graph.output}


class LSTMToHWLayer(Transformation):
    """bcrnn BinaryLSTM -> ReduceMean(time) becomes BinaryLSTM (FINN layer, 0/1 out) -> GlobalAccPool -> 2/T, -1."""

    def apply(self, model):
        for lstm in list(model.graph.node):
            if lstm.op_type != "BinaryLSTM" or lstm.domain != "bcrnn.custom_op":
                continue
            mean = model.find_consumer(lstm.output[0])
            if mean is None or mean.op_type != "ReduceMean":
                raise GraphRewriteError(f"{lstm.name}: expected the mean over time after the BiLSTM, found "
                                        f"{mean.op_type if mean else 'nothing'}")
            axes = model.get_initializer(mean.input[1]) if len(mean.input) > 1 else _attr(mean, "axes")
            if axes is None or list(np.atleast_1d(axes)) != [1] or _attr(mean, "keepdims", 1) != 0:
                raise GraphRewriteError(f"{mean.name}: expected a mean over axis 1 without kept dims")
            in_shape = model.get_tensor_shape(lstm.input[0])
            t, d = in_shape[1], in_shape[-1]
            h = _attr(lstm, "hidden")
            bits, pooled, scaled = (model.make_new_valueinfo_name() for _ in range(3))
            hw = helper.make_node(
                "BinaryLSTM", list(lstm.input), [bits], domain="finn.custom_op.fpgadataflow",
                backend="fpgadataflow", name=lstm.name, Frames=t, InputBits=d, Hidden=h, PE=1, SIMD=1,
                inputDataType="BIPOLAR", outputDataType="BINARY",
                **{f: _attr(lstm, f) for f in FORMAT_FIELDS})
            pool = helper.make_node(
                "GlobalAccPool", [bits], [pooled], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
                name="GlobalAccPool_" + lstm.name, NumChannels=2 * h, PE=1, inputDataType="BINARY",
                numInputVectors=[1, t, 1])
            two_over_t, minus_one = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
            model.set_initializer(two_over_t, np.array(2.0 / t, dtype=np.float32))
            model.set_initializer(minus_one, np.array(-1.0, dtype=np.float32))
            mul = helper.make_node("Mul", [pooled, two_over_t], [scaled])
            add = helper.make_node("Add", [scaled, minus_one], [mean.output[0]])
            at = list(model.graph.node).index(lstm)
            model.graph.node.remove(lstm)
            model.graph.node.remove(mean)
            for i, n in enumerate((hw, pool, mul, add)):
                model.graph.node.insert(at + i, n)
            for name, shape in ((bits, [1, t, 1, 2 * h]), (pooled, [1, 1, 1, 2 * h]), (scaled, [1, 1, 1, 2 * h]),
                                (mean.output[0], [1, 1, 1, 2 * h])):
                model.set_tensor_shape(name, shape)
            model.set_tensor_datatype(bits, DataType["BINARY"])
            _reshape_outputs_4d(model)
            model = model.transform(InferShapes()).transform(InferDataTypes())
            return model, False
        return model, False


def _reshape_outputs_4d(model):
    """After the pooling became 4-D (NHWC, 1 x 1 pixel), the head's tensors (and the graph output) are too:
    forget the recorded shapes after the pooling so that shape inference derives them again."""
    pool = next(n for n in model.graph.node if n.op_type == "GlobalAccPool")
    downstream = _downstream_tensors(model, pool)
    for vi in [v for v in model.graph.value_info if v.name in downstream]:
        model.graph.value_info.remove(vi)
    for out in model.graph.output:
        shape = model.get_tensor_shape(out.name)
        if len(shape) == 2:
            model.set_tensor_shape(out.name, [shape[0], 1, 1, shape[1]])


class DropInputQuantizer(Transformation):
    """Graph input := the int8 codes that the first MultiThreshold produced from float features."""

    def apply(self, model):
        inp = model.graph.input[0].name
        first = model.find_consumer(inp)
        if first is None or first.op_type != "MultiThreshold":
            return model, False
        if model.get_tensor_datatype(first.output[0]) != DataType["INT8"]:
            raise GraphRewriteError(f"{first.name}: expected the int8 input quantizer, got "
                                    f"{model.get_tensor_datatype(first.output[0])}")
        for consumer in model.find_consumers(first.output[0]):
            for i, name in enumerate(consumer.input):
                if name == first.output[0]:
                    consumer.input[i] = inp
        model.graph.node.remove(first)
        model.set_tensor_datatype(inp, DataType["INT8"])
        return model.transform(InferDataTypes()), False


class OutputAffineToFixedPoint(Transformation):
    """The float Mul/Add chain after the last (XNOR-popcount) MatMul -> integer Mul(M')/Add(B') with the packed
    model's M_c, B_c (logits = M_c dot + B_c, dot = 2 P - N for popcount P), checked against the floats; then
    TopK(1) so that FINN builds a label-select layer. `mult`, `offset`: the packed model's out_mult, out_offset;
    `frac`: their fraction bits (16)."""

    def __init__(self, mult, offset, frac: int):
        super().__init__()
        self.mult, self.offset, self.frac = np.asarray(mult, np.int64), np.asarray(offset, np.int64), frac

    def apply(self, model):
        out = model.graph.output[0].name
        chain, node = [], model.find_producer(out)
        while node is not None and node.op_type in ("Mul", "Add"):
            chain.insert(0, node)
            node = model.find_producer(node.input[0])
        if node is None or node.op_type not in ("MatMul", "XnorPopcountMatMul") or not chain:
            raise GraphRewriteError("expected the output layer's MatMul followed by Mul/Add at the graph output")
        matmul = node
        n_in = model.get_initializer(matmul.input[1]).shape[0]
        # the float chain as y = a * x + b on the MatMul's output x
        a = np.ones(len(self.mult))
        b = np.zeros(len(self.mult))
        for op in chain:
            p = model.get_initializer(op.input[1]).astype(np.float64).reshape(-1)
            a, b = (a * p, b * p) if op.op_type == "Mul" else (a, b + p)
        if matmul.op_type == "XnorPopcountMatMul":  # x = P; in terms of dot = 2P - N: y = (a/2) dot + b + a N/2
            a, b = a / 2, b + a * n_in / 2
        scale = 2.0 ** self.frac
        # streamlining may have folded a negative batch-norm slope into the binary weights (the channel's dot
        # changed sign): there the graph's slope is -M_c
        mult = np.where(np.sign(a) == np.sign(self.mult), self.mult, -self.mult)
        if np.any(np.abs(a * scale - mult) > 0.5 + 1e-6 * np.abs(a * scale)) or \
                np.any(np.abs(b * scale - self.offset) > 0.5 + 1e-6 * np.abs(b * scale) + 1):
            raise GraphRewriteError("the packed model's output affine does not match the graph's: export and "
                                    "packed file come from different models")
        if matmul.op_type == "XnorPopcountMatMul":
            m_int, b_int = 2 * mult, self.offset - mult * n_in
        else:
            m_int, b_int = mult, self.offset
        for op in chain[1:]:
            model.graph.node.remove(op)
        mul_out = model.make_new_valueinfo_name()
        chain[0].op_type = "Mul"
        chain[0].output[0] = mul_out
        shape = model.get_tensor_shape(out)
        model.set_initializer(chain[0].input[1], m_int.astype(np.float32).reshape([1] * (len(shape) - 1) + [-1]))
        b_name, logits = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
        model.set_initializer(b_name, b_int.astype(np.float32).reshape([1] * (len(shape) - 1) + [-1]))
        for name, values in ((chain[0].input[1], m_int), (b_name, b_int)):  # integer-typed: FINN builds int layers
            model.set_tensor_datatype(name, DataType.get_smallest_possible(-np.abs(values).max() - 1))
        add = helper.make_node("Add", [mul_out, b_name], [logits], name="OutputOffset")
        k_name = model.make_new_valueinfo_name()
        model.set_initializer(k_name, np.array([1], dtype=np.int64))
        topk = helper.make_node("TopK", [logits, k_name], [out, model.make_new_valueinfo_name()], axis=-1,
                                name="TopK_label")
        at = list(model.graph.node).index(chain[0]) + 1
        model.graph.node.insert(at, add)
        model.graph.node.insert(at + 1, topk)
        # the graph's output is now the label (index of the largest logit); TopK's indices output
        topk.output[0], topk.output[1] = model.make_new_valueinfo_name(), out
        model.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64
        model.set_tensor_shape(out, shape[:-1] + [1])
        model = model.transform(InferShapes()).transform(InferDataTypes())
        return model, False
