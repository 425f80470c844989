"""The BCRNN's FINN build flow: FINN's own build steps plus four of ours, usable by `build_dataflow_cfg` and by
`finn build` (steps named `bcrnn.dataflow.steps.<name>` are imported by FINN's builder).

    step_bcrnn_qonnx_to_finn   cleanup, ConvertQONNXtoFINN, then the exact rewrites of bcrnn.dataflow.transforms
    step_streamline            FINN's (moves and absorbs every scale and batch norm into integer thresholds)
    step_bcrnn_finish_streamline  int8 input, fixed-point output affine + TopK, thresholds rounded
    step_bcrnn_convert_to_hw   FINN's conversions (SWG, MVAU, pool, reshape, elementwise, label select)
    step_create_dataflow_partition, step_specialize_layers   FINN's
    step_bcrnn_target_fps      FINN's SetFolding for FINN's layers, our folding for the BinaryLSTM
    step_apply_folding_config, step_minimize_bit_width, step_generate_estimate_reports, step_hw_codegen   FINN's
    ... then the steps that need Vivado/Vitis (VIVADO_STEPS).
"""

from __future__ import annotations

import json
import math
import numpy as np

from bcrnn.dataflow.lstm_layer import register

register()

import bcrnn.custom_op  # noqa: E402,F401  (the exported graph's own op domain)

PREFIX = "bcrnn.dataflow.steps."

NO_VIVADO_STEPS = [
    PREFIX + "step_bcrnn_qonnx_to_finn",
    "step_streamline",
    PREFIX + "step_bcrnn_finish_streamline",
    PREFIX + "step_bcrnn_convert_to_hw",
    "step_create_dataflow_partition",
    "step_specialize_layers",
    PREFIX + "step_bcrnn_target_fps",
    "step_apply_folding_config",
    "step_minimize_bit_width",
    "step_generate_estimate_reports",
    "step_hw_codegen",
]
# Behind the one switch (`--vivado`): Vitis HLS synthesis of every HLS layer, FIFO sizing in simulation,
# stitched IP, the bitfile for the board and its PYNQ driver.
VIVADO_STEPS = [
    "step_hw_ipgen",
    "step_set_fifo_depths",
    "step_create_stitched_ip",
    "step_synthesize_bitfile",
    "step_make_driver",
    "step_deployment_package",
]


OUTPUT_AFFINE_KEY = "bcrnn_output_affine"


def attach_output_affine(model, packed: dict):
    """Store the packed model's integer output affine (M_c, B_c, fraction bits) in the graph's metadata, so that
    the build needs one file (`finn build` gets only the model)."""
    meta = json.loads(str(packed["meta"]))
    model.set_metadata_prop(OUTPUT_AFFINE_KEY, json.dumps({
        "mult": np.asarray(packed["out_mult"]).astype(int).tolist(),
        "offset": np.asarray(packed["out_offset"]).astype(int).tolist(), "frac": int(meta["logit_frac"])}))
    return model


def step_bcrnn_qonnx_to_finn(model, cfg):
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from qonnx.transformation.batchnorm_to_affine import BatchNormToAffine
    from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames
    from qonnx.util.cleanup import cleanup_model

    from bcrnn.dataflow import transforms as t

    model = cleanup_model(model).transform(ConvertQONNXtoFINN()).transform(BatchNormToAffine())
    for rewrite in (t.SwapMaxPoolAndSign(), t.FoldBipolarPadIntoConv(), t.CollapseTransposedChannelwise(),
                    t.LSTMToHWLayer(), t.FramesAsNHWC()):
        model = model.transform(rewrite)
    return model.transform(GiveUniqueNodeNames()).transform(GiveReadableTensorNames())


def step_bcrnn_finish_streamline(model, cfg):
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.transformation.infer_datatypes import InferDataTypes

    from bcrnn.dataflow import transforms as t

    affine = model.get_metadata_prop(OUTPUT_AFFINE_KEY)
    if affine is None:
        raise ValueError(f"the model has no '{OUTPUT_AFFINE_KEY}' metadata: prepare it with "
                         "bcrnn.dataflow.flow.prepare_model (bcrnn finn does)")
    affine = json.loads(affine)
    model = model.transform(t.DropInputQuantizer())
    model = model.transform(t.OutputAffineToFixedPoint(affine["mult"], affine["offset"], affine["frac"]))
    # after streamlining (docs/toolchain.md), thresholds can be fractional or below the accumulator's range
    model = model.transform(InferDataTypes()).transform(RoundAndClipThresholds())
    leftover = [n.op_type for n in model.graph.node if n.op_type in ("Mul", "Add", "BatchNormalization")
                and n.name != "OutputOffset" and not n.output[0].startswith("OutputOffset")]
    if len(leftover) > 1:  # the output layer's integer Mul is the only one expected
        raise RuntimeError(f"streamlining left float operations in the graph: {leftover}")
    return model


def step_bcrnn_convert_to_hw(model, cfg):
    from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
        InferBinaryMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
        InferElementwiseBinaryOperation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.label_select import InferLabelSelectLayer
    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.reshape import InferReshape
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
    from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames

    for conversion in (InferBinaryMatrixVectorActivation(), InferQuantizedMatrixVectorActivation(),
                       InferThresholdingLayer(), InferPool(), InferConvInpGen(), InferReshape(),
                       InferElementwiseBinaryOperation(), InferLabelSelectLayer()):
        model = model.transform(conversion)
    model = model.transform(GiveUniqueNodeNames()).transform(GiveReadableTensorNames())
    from finn.util.fpgadataflow import is_fpgadataflow_node

    software = [n.op_type for n in model.graph.node if not is_fpgadataflow_node(n)]
    if software != ["Transpose"]:  # only the NCHW -> NHWC input transpose stays on the host
        raise RuntimeError(f"layers left without a hardware implementation: {software}")
    return model


def fold_lstm(node, target_cycles: int) -> tuple[int, int]:
    """Smallest PE x SIMD (PE | 4H, SIMD | D + H) whose cycles meet `target_cycles`, else the fastest."""
    from qonnx.custom_op.registry import getCustomOp

    op = getCustomOp(node)
    t, d, h = op._dims()
    options = sorted(((pe * simd, pe, simd) for pe in _divisors(4 * h) for simd in _divisors(d + h)))
    best = options[-1]
    for _, pe, simd in options:
        op.set_nodeattr("PE", pe)
        op.set_nodeattr("SIMD", simd)
        if op.get_exp_cycles() <= target_cycles:
            best = (pe * simd, pe, simd)
            break
    op.set_nodeattr("PE", best[1])
    op.set_nodeattr("SIMD", best[2])
    return best[1], best[2]


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def step_bcrnn_target_fps(model, cfg):
    """The BinaryLSTM folded to the target's cycle budget first (FINN's SetFolding does not know it, and its
    second pass would otherwise relax every layer to an unfolded LSTM), then FINN's SetFolding for its layers."""
    from finn.builder.build_dataflow_steps import step_target_fps_parallelization

    target = cfg._resolve_cycles_per_frame()
    if target is None:
        return model
    folded = {}
    for node in model.graph.node:  # after partitioning, the model is the HW graph
        if node.op_type.startswith("BinaryLSTM"):
            folded[node.name] = dict(zip(("PE", "SIMD"), fold_lstm(node, target)))
    model = step_target_fps_parallelization(model, cfg)
    report = cfg.get_report_directory() / "auto_folding_config.json"
    if report.is_file():
        data = json.loads(report.read_text())
        data.update(folded)
        report.write_text(json.dumps(data, indent=2))
    return model


def cycles_to_rate(cycles: int, clock_ns: float) -> float:
    """Segments per second of a pipeline whose slowest layer takes `cycles` per segment."""
    return 1e9 / (clock_ns * cycles) if cycles else math.inf

