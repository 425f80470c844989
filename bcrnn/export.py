"""QONNX export of a trained BCRNN, checked numerically: `model.qonnx.onnx` plus a sidecar JSON.

Brevitas' `export_qonnx(..., dynamo=False)` (torch 2.13's default dynamo exporter silently exported an LSTM as
constant zeros, docs/toolchain.md); the BiLSTM stands in the graph as one `bcrnn.custom_op::BinaryLSTM` node that
qonnx executes through the integer reference. Every export is executed by qonnx and compared with the reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


class ExportCheckError(RuntimeError):
    """The exported graph does not compute what the model computes."""


def export_qonnx_model(model, path: str | Path, classes, frames: int = 300, mels: int = 40) -> Path:
    """Write `path` (QONNX) and `path.json` (input datatype and shape, scale, label map)."""
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    path = Path(path)
    model = model.eval()
    model.lstm.freeze_for_export()
    export_qonnx(model, torch.zeros(1, 3, frames, mels), str(path), dynamo=False)
    cleanup_model(ModelWrapper(str(path))).save(str(path))
    sidecar = {"input": {"name": ModelWrapper(str(path)).graph.input[0].name, "shape": [1, 3, frames, mels],
                         "datatype": "float32 z-scored features; quantized to INT8 (scale 2^-5) by the first node"},
               "output": "logits (1, classes)", "classes": list(classes),
               "custom_ops": {"bcrnn.custom_op::BinaryLSTM": "docs/numeric_spec.md"}}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1))
    return path


def check_qonnx_against_reference(onnx_path: str | Path, reference, segments: np.ndarray) -> dict:
    """Execute the QONNX file with qonnx on z-scored segments and compare with the integer reference: the same
    bits entering and leaving the BinaryLSTM node and the same decisions. Raises ExportCheckError on any
    difference, and on outputs that do not depend on the input (a silently broken export)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from bcrnn.reference.model import quantize_features

    model = ModelWrapper(str(onnx_path))
    lstm = [n for n in model.graph.node if n.op_type == "BinaryLSTM"]
    if len(lstm) != 1 or lstm[0].domain != "bcrnn.custom_op":
        raise ExportCheckError(f"{onnx_path}: expected one bcrnn.custom_op::BinaryLSTM node, found {len(lstm)}")
    in_name, out_name = model.graph.input[0].name, model.graph.output[0].name
    outputs, ref_logits, n_bits = [], [], 0
    for s, x in enumerate(segments):
        ctx = execute_onnx(model, {in_name: x[None].astype(np.float32)}, return_full_exec_context=True)
        logits_ref, streams = reference.forward(quantize_features(x), trace=True)
        ref_logits.append(logits_ref)
        for tensor, ref_bits, what in ((lstm[0].input[0], streams["dense"], "input"),
                                       (lstm[0].output[0], streams["lstm"], "output")):
            got = (ctx[tensor][0] > 0).astype(np.uint8)
            bad = np.argwhere(got != ref_bits)
            if len(bad):
                i = tuple(bad[0])
                raise ExportCheckError(f"segment {s}: BinaryLSTM {what} bit {i} is {got[i]} in qonnx execution "
                                       f"but {ref_bits[i]} in the reference")
            n_bits += got.size
        logits = ctx[out_name][0]
        if int(np.argmax(logits)) != int(np.argmax(streams["logits"])):
            raise ExportCheckError(f"segment {s}: qonnx predicts class {int(np.argmax(logits))}, the reference "
                                   f"{int(np.argmax(streams['logits']))}")
        outputs.append(logits)
    outputs, ref_logits = np.asarray(outputs), np.asarray(ref_logits)
    if len(outputs) > 1 and np.allclose(outputs, outputs[0]) and not np.all(ref_logits == ref_logits[0]):
        raise ExportCheckError("the exported graph gives the same output for every input, the reference does not: "
                               "a broken export")
    if not np.any(outputs):
        raise ExportCheckError("the exported graph outputs only zeros: a broken export")
    return {"segments": len(segments), "lstm_bits_compared": n_bits, "predictions_equal": len(segments)}
