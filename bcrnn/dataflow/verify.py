"""FINN's execution of the HW graph against the integer reference, value by value at every layer boundary.

Boundaries (reference stream <- the FINN layer whose output carries it, NHWC and 0/1 or +-1 encoded):
    conv0  <- the max-pool (Pool) after the first conv        dense  <- the MVAU feeding the BinaryLSTM
    lstm   <- BinaryLSTM                                       pool   <- GlobalAccPool (P bits set; S = 2P - T)
    fc     <- the MVAU after the pool                          logits <- the last ElementwiseAdd
    label  <- LabelSelect (the reference's argmax)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp

from bcrnn.reference.model import quantize_features


class HWGraphMismatch(AssertionError):
    """The HW graph computes something else than the reference."""


@dataclass
class BoundaryReport:
    segments: int = 0
    values: dict = field(default_factory=dict)  # boundary -> values compared
    equal: dict = field(default_factory=dict)  # boundary -> values equal

    @property
    def total(self) -> int:
        return sum(self.values.values())

    @property
    def total_equal(self) -> int:
        return sum(self.equal.values())

    def to_dict(self) -> dict:
        return {"segments": self.segments, "values_compared": self.total, "values_equal": self.total_equal,
                "per_boundary": {k: {"compared": v, "equal": self.equal[k]} for k, v in self.values.items()}}


def dataflow_model(model: ModelWrapper) -> ModelWrapper:
    """The HW part of a graph: the child model of its StreamingDataflowPartition, or the graph itself."""
    parts = model.get_nodes_by_op_type("StreamingDataflowPartition")
    if len(parts) > 1:
        raise ValueError("expected one dataflow partition")
    return ModelWrapper(getCustomOp(parts[0]).get_nodeattr("model")) if parts else model


def boundary_tensors(model: ModelWrapper) -> dict[str, str]:
    """Reference stream name -> tensor name in the HW graph (see the module docstring)."""
    nodes = list(model.graph.node)
    kinds = [n.op_type.split("_")[0] for n in nodes]

    def after(kind, start=0):
        return next(i for i in range(start, len(nodes)) if kinds[i] == kind)

    lstm = after("BinaryLSTM")
    pool = after("GlobalAccPool", lstm)
    fc = after("MVAU", pool)
    return {"conv0": nodes[after("Pool")].output[0], "dense": nodes[lstm].input[0], "lstm": nodes[lstm].output[0],
            "pool": nodes[pool].output[0], "fc": nodes[fc].output[0],
            "logits": nodes[max(i for i, k in enumerate(kinds) if k == "ElementwiseAdd")].output[0],
            "label": nodes[after("LabelSelect")].output[0]}


def hw_input(model: ModelWrapper, codes: np.ndarray) -> np.ndarray:
    """A segment's int8 codes (3, T, F) in the layout of the graph's input (NCHW, or NHWC in the partition)."""
    shape = model.get_tensor_shape(model.graph.input[0].name)
    x = codes[None].astype(np.float32)
    return x if list(shape) == list(x.shape) else x.transpose(0, 2, 3, 1)


def _as_reference(name: str, value: np.ndarray, frames: int) -> np.ndarray:
    v = np.asarray(value)
    if name == "conv0":  # (1, T, F, C) -> (C, T, F) bits
        return (v[0] > 0).astype(np.uint8).transpose(2, 0, 1)
    if name in ("dense", "lstm"):
        return (v.reshape(frames, -1) > 0).astype(np.uint8)
    if name == "pool":
        return 2 * v.reshape(-1).astype(np.int64) - frames
    if name == "fc":
        return (v.reshape(-1) > 0).astype(np.uint8)
    return v.reshape(-1).astype(np.int64)


def compare_with_reference(model: ModelWrapper, reference, segments: np.ndarray, progress: bool = True,
                           stop_at_first: bool = True) -> BoundaryReport:
    """Execute `model` (FINN HW graph, python/cppsim node execution as set on its nodes) on z-scored segments
    (N, 3, T, F) and compare every value at every boundary with `reference` (ReferenceBCRNN)."""
    from tqdm import tqdm

    model = dataflow_model(model)
    tensors = boundary_tensors(model)
    frames = model.get_tensor_shape(tensors["lstm"])[1]
    report = BoundaryReport()
    in_name = model.graph.input[0].name
    for s, seg in enumerate(tqdm(segments, desc="HW graph vs reference", unit="seg", disable=not progress)):
        codes = quantize_features(seg)
        logits, streams = reference.forward(codes, trace=True)
        streams = dict(streams, label=np.array([int(np.argmax(logits))]))
        ctx = execute_onnx(model, {in_name: hw_input(model, codes)}, return_full_exec_context=True)
        for name, tensor in tensors.items():
            got, want = _as_reference(name, ctx[tensor], frames), np.asarray(streams[name]).astype(np.int64)
            if got.shape != want.shape:
                raise HWGraphMismatch(f"segment {s}, {name}: HW graph shape {got.shape}, reference {want.shape}")
            equal = int((got == want).sum())
            report.values[name] = report.values.get(name, 0) + got.size
            report.equal[name] = report.equal.get(name, 0) + equal
            if stop_at_first and equal != got.size:
                i = tuple(np.argwhere(got != want)[0])
                raise HWGraphMismatch(f"segment {s}, {name} (tensor {tensor}) at {i}: HW graph {got[i]}, reference "
                                      f"{want[i]} ({got.size - equal} of {got.size} values differ)")
        report.segments += 1
    return report
