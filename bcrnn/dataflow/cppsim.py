"""FINN's cppsim of the HW graph's HLS layers (C++ compiled against finn-hlslib), where finn-hlslib exists.

finn-hlslib is not on any package registry and third-party source is never copied into this project, so this
runs in the Docker image (`finn deps` clones it at FINN's pinned commit) and fails loudly elsewhere. RTL layers
(sliding windows, padding, reshape) have no C++ model: FINN executes them in python in this mode.
"""

from __future__ import annotations

import os
from pathlib import Path


class CppSimUnavailable(RuntimeError):
    """finn-hlslib or the Vitis HLS headers are missing."""


def finn_hlslib_dir() -> Path:
    from finn.util.settings import get_settings

    deps = os.environ.get("FINN_DEPS") or str(get_settings().finn_deps)
    return Path(deps) / "finn-hlslib"


def prepare_cppsim(model):
    """Generate and compile every HLS layer's cppsim program and set exec_mode=cppsim on the HLS layers."""
    hlslib = finn_hlslib_dir()
    if not (hlslib / "bnn-library.h").is_file():
        raise CppSimUnavailable(f"finn-hlslib not found at {hlslib}: cppsim needs FINN's dependencies "
                                "(`finn deps update` in the Docker image), so it cannot run here")
    if not os.environ.get("XILINX_HLS"):
        raise CppSimUnavailable("XILINX_HLS is not set: FINN's cppsim compiles against the Vitis HLS headers")
    from finn.transformation.fpgadataflow.compile_cppsim import CompileCppSim
    from finn.transformation.fpgadataflow.prepare_cppsim import PrepareCppSim
    from finn.util.fpgadataflow import is_hls_node
    from qonnx.custom_op.registry import getCustomOp

    model = model.transform(PrepareCppSim()).transform(CompileCppSim())
    for node in model.graph.node:
        if is_hls_node(node):
            getCustomOp(node).set_nodeattr("exec_mode", "cppsim")
    return model
