"""The binary BiLSTM as a FINN dataflow layer: `BinaryLSTM` (HWCustomOp) and its HLS back end `BinaryLSTM_hls`.

FINN has no recurrent layer, so this project brings its own, registered into FINN's own op domains
(`finn.custom_op.fpgadataflow` and `.hls`) so that FINN's passes (partitioning, specialization, folding,
estimates, code generation, IP generation) treat it like any FINN layer.

Stream contract (one 3-s segment):
    in : T frames of D bits (the dense layer's thresholded outputs; bit 1 = +1), one frame per beat
    out: T frames of 2H bits (forward h_t | backward h_t), bit 1 = +1, declared BINARY (0/1) so that the
         time pooling after it (FINN's GlobalAccPool) sums bits; the graph rewrite that creates this layer
         restores the +-1 meaning with a scalar Mul/Add that streamlining absorbs into the next thresholds.
Folding: PE gate rows of the 4H in parallel, SIMD bits of the D + H inputs per cycle (hw/hls/binary_lstm.hpp).
Arithmetic: docs/numeric_spec.md; python execution is the integer reference (bcrnn.reference.lstm).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.hlsbackend import HLSBackend
from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp

from bcrnn.fixed_point import LSTMFormat
from bcrnn.reference.lstm import run_bilstm

FORMAT_FIELDS = ("pre_frac", "pre_bits", "scale_frac", "gate_bits", "cell_bits", "cell_frac")
HLS_DIR = Path(__file__).resolve().parents[2] / "hw" / "hls"


class BinaryLSTM(HWCustomOp):
    """Bidirectional binary LSTM over one sequence; inputs: x, then (weight bits, M, B) forward, then backward."""

    def get_nodeattr_types(self):
        attrs = super().get_nodeattr_types()
        attrs.update({
            "Frames": ("i", True, 0),  # T
            "InputBits": ("i", True, 0),  # D
            "Hidden": ("i", True, 0),  # H per direction
            "PE": ("i", False, 1),  # gate rows computed in parallel (divides 4H)
            "SIMD": ("i", False, 1),  # input bits per cycle and row (divides D + H)
            "inputDataType": ("s", False, "BIPOLAR"),
            "outputDataType": ("s", False, "BINARY"),
            "ram_style": ("s", False, "auto", {"auto", "block", "distributed"}),  # the weight memories
            # the T-deep sequence buffers (input frames, forward and backward hidden bits): block RAM or LUTRAM
            "buffer_ram_style": ("s", False, "block", {"block", "distributed"}),
        })
        attrs.update({f: ("i", True, 0) for f in FORMAT_FIELDS})
        return attrs

    # ---- shapes and types ------------------------------------------------------------------------------
    def fmt(self) -> LSTMFormat:
        return LSTMFormat(**{f: self.get_nodeattr(f) for f in FORMAT_FIELDS})

    def _dims(self):
        return self.get_nodeattr("Frames"), self.get_nodeattr("InputBits"), self.get_nodeattr("Hidden")

    def get_normal_input_shape(self, ind=0):
        t, d, _ = self._dims()
        return (1, t, 1, d)

    def get_normal_output_shape(self, ind=0):
        t, _, h = self._dims()
        return (1, t, 1, 2 * h)

    def get_folded_input_shape(self, ind=0):
        t, d, _ = self._dims()
        return (1, t, 1, d)

    def get_folded_output_shape(self, ind=0):
        t, _, h = self._dims()
        return (1, t, 1, 1, 2 * h)

    def get_instream_width(self, ind=0):
        return self.get_nodeattr("InputBits")

    def get_outstream_width(self, ind=0):
        return 2 * self.get_nodeattr("Hidden")

    def get_number_output_values(self):
        t, _, _ = self._dims()
        return t

    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("inputDataType")] if ind == 0 else DataType["BINARY"]

    def get_output_datatype(self, ind=0):
        return DataType[self.get_nodeattr("outputDataType")]

    def make_shape_compatible_op(self, model):
        return super().make_const_shape_op(self.get_normal_output_shape())

    def infer_node_datatype(self, model):
        self.set_nodeattr("inputDataType", model.get_tensor_datatype(self.onnx_node.input[0]).name)
        model.set_tensor_datatype(self.onnx_node.output[0], self.get_output_datatype())

    def verify_node(self):
        msgs = []
        t, d, h = self._dims()
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        if (4 * h) % pe:
            msgs.append(f"{self.onnx_node.name}: PE={pe} must divide the 4H={4 * h} gate rows")
        if (d + h) % simd:
            msgs.append(f"{self.onnx_node.name}: SIMD={simd} must divide the D+H={d + h} input bits")
        return msgs

    # ---- execution -------------------------------------------------------------------------------------
    def directions(self, model):
        """((weight bits, M, B) forward, (...) backward) from the node's initializers."""
        ins = [model.get_initializer(n) for n in self.onnx_node.input[1:7]]
        return (ins[0], ins[1], ins[2]), (ins[3], ins[4], ins[5])

    def execute_node(self, context, graph):
        node = self.onnx_node
        fwd = [context[n] for n in node.input[1:4]]
        bwd = [context[n] for n in node.input[4:7]]
        t, d, _ = self._dims()
        x = np.asarray(context[node.input[0]]).reshape(t, d)
        bits = run_bilstm(fwd, bwd, self.fmt(), x > 0)
        context[node.output[0]] = bits.reshape(self.get_normal_output_shape()).astype(np.float32)

    # ---- cost model ------------------------------------------------------------------------------------
    def folds(self):
        t, d, h = self._dims()
        return (4 * h) // self.get_nodeattr("PE"), (d + h) // self.get_nodeattr("SIMD")

    def get_exp_cycles(self):
        """Cycles per sequence in a stream (what FINN's folding and rate use): the compute stage, since the kernel
        overlaps reading, computing and writing (bcrnn.hls_lstm.lstm_interval)."""
        from bcrnn.hls_lstm import lstm_interval

        t, d, h = self._dims()
        return int(lstm_interval(d, h, t, self.get_nodeattr("PE"), self.get_nodeattr("SIMD")))

    def weight_bits(self) -> int:
        t, d, h = self._dims()
        return 2 * 4 * h * (d + h)

    def bram_estimation(self, fpgapart=None):
        """RAMB18 (18 kbit, up to 36 bits wide): weights as PE memories of SIMD-bit words for each direction
        (unless ram_style is distributed), plus the sequence buffers (T x D input bits, T x 2H output bits, each a
        ping-pong pair; unless buffer_ram_style is distributed). Small memories go to LUTRAM."""
        return self._weight_brams() + self._buffer_brams()

    @staticmethod
    def _ramb18(depth: int, width: int) -> int:
        if depth * width <= 4096:  # LUTRAM is cheaper than a block for tiny memories
            return 0
        return math.ceil(width / 36) * math.ceil(depth / 512) if width > 18 else \
            math.ceil(width / 18) * math.ceil(depth / 1024)

    def _weight_brams(self) -> int:
        if self.get_nodeattr("ram_style") == "distributed":
            return 0
        rows, cols = self.folds()
        return 2 * self.get_nodeattr("PE") * self._ramb18(rows * cols, self.get_nodeattr("SIMD"))

    def _buffer_brams(self) -> int:
        if self.get_nodeattr("buffer_ram_style") == "distributed":
            return 0
        t, d, h = self._dims()
        return 2 * (self._ramb18(t, d) + self._ramb18(t, 2 * h))  # ping-pong: two of each

    def _buffer_luts(self) -> int:
        """LUTs of the sequence buffers held in LUTRAM: a buffer is written and read in the same cycle, so as
        RAM64M primitives (4 LUTs: 3 bits x 64 rows, one write and one read address), not FINN's 64 bits per LUT of
        a read-only weight memory. The forward and backward hidden buffers are H bits wide each; every buffer is a
        ping-pong pair (the kernel's DATAFLOW stages)."""
        t, d, h = self._dims()

        def ram64m(width: int) -> int:
            return 2 * 4 * math.ceil(width / 3) * math.ceil(t / 64)

        if self.get_nodeattr("buffer_ram_style") == "distributed":
            return ram64m(d) + 2 * ram64m(h)
        return (ram64m(d) if self._ramb18(t, d) == 0 else 0) + (2 * ram64m(h) if self._ramb18(t, 2 * h) == 0 else 0)

    def lut_estimation(self, fpgapart=None):
        """LUTs in FINN's MVAU style for the XNOR-popcount lanes (1-bit weights and inputs: ~2 LUT per bit lane
        for XNOR + compressor, an adder tree and accumulator per PE), plus per PE the rounding/saturation of the
        pre-activation and a copy of the 2^Q-entry gate table, plus the cell updates: the kernel's gate rows are
        unit-major, so PE/4 hidden units (at least one) finish and update their cell together."""
        t, d, h = self._dims()
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        fmt = self.fmt()
        acc_bits = math.ceil(math.log2(d + h + 1)) + 1
        xnor = pe * (2 * simd + 2 * (2 * simd - 1) + acc_bits)
        table_luts = fmt.gate_bits * max(1, 2 ** fmt.pre_bits // 64) * 5 // 4  # ROM in LUT6 + muxes
        per_row = 2 * 24 + fmt.pre_bits * 2 + table_luts  # affine add, round and clamp, one table lookup
        cell = self.cell_lanes() * (4 * fmt.cell_bits + 3 * fmt.gate_bits + 40)  # shifts, saturating add, sign
        wmem = 0
        if self._weight_brams() == 0:  # weights in LUTRAM: 64 bits per LUT
            rows, cols = self.folds()
            wmem = 2 * pe * simd * math.ceil(rows * cols / 64)
        control = 200
        return int(xnor + pe * per_row + cell + wmem + self._buffer_luts() + control)

    def cell_lanes(self) -> int:
        pe = self.get_nodeattr("PE")
        return pe // 4 if pe % 4 == 0 else 1

    def dsp_estimation(self, fpgapart=None):
        """One DSP per PE for M_r * dot_r, and two per cell-update lane (f*c and i*g)."""
        return self.get_nodeattr("PE") + 2 * self.cell_lanes()

    def get_op_and_param_counts(self):
        t, d, h = self._dims()
        return {"op_xnor_popcount": 2 * t * 4 * h * (d + h), "param_weight_bits": self.weight_bits()}


class BinaryLSTM_hls(BinaryLSTM, HLSBackend):
    """HLS back end: instantiates `BinaryBiLSTM` of hw/hls/binary_lstm.hpp with this node's parameters."""

    def get_nodeattr_types(self):
        return BinaryLSTM.get_nodeattr_types(self) | HLSBackend.get_nodeattr_types(self)

    def execute_node(self, context, graph):
        mode = self.get_nodeattr("exec_mode")
        if mode in ("", "python"):
            return BinaryLSTM.execute_node(self, context, graph)
        return HLSBackend.execute_node(self, context, graph)

    def generate_params(self, model, path):
        """params.h (weight ROMs, multipliers, offsets, gate tables, sizes) and the kernel header, into `path`."""
        from bcrnn.hls_lstm import write_params_header

        fwd, bwd = self.directions(model)
        t, d, h = self._dims()
        write_params_header(fwd, bwd, self.fmt(), d, h, t, self.get_nodeattr("PE"), self.get_nodeattr("SIMD"),
                            Path(path) / "params.h")
        shutil.copy(HLS_DIR / "binary_lstm.hpp", Path(path) / "binary_lstm.hpp")

    def global_includes(self):
        lutram = self.get_nodeattr("buffer_ram_style") == "distributed"
        self.code_gen_dict["$GLOBALS$"] = (["#define BCRNN_LSTM_BUFFERS_LUTRAM"] if lutram else []) + [
            '#include "binary_lstm.hpp"', '#include "params.h"']

    def defines(self, var):
        self.code_gen_dict["$DEFINES$"] = []  # the sizes and the format are in params.h

    def docompute(self):
        from bcrnn.hls_lstm import kernel_call

        self.code_gen_dict["$DOCOMPUTE$"] = [kernel_call("in0_V", "out0_V")]

    def blackboxfunction(self):
        t, d, h = self._dims()
        self.code_gen_dict["$BLACKBOXFUNCTION$"] = [
            f"void {self.onnx_node.name}(hls::stream<ap_uint<{d}>> &in0_V, hls::stream<ap_uint<{2 * h}>> &out0_V)"]

    def pragmas(self):
        self.code_gen_dict["$PRAGMAS$"] = ["#pragma HLS INTERFACE axis port=in0_V",
                                           "#pragma HLS INTERFACE axis port=out0_V",
                                           "#pragma HLS INTERFACE ap_ctrl_none port=return"]


def register() -> None:
    """Make FINN see the layer: in the op domains it looks up, and in the HLS variants SpecializeLayers picks."""
    from qonnx.custom_op.registry import add_op_to_domain

    import finn.custom_op.fpgadataflow as hw_domain
    import finn.custom_op.fpgadataflow.hls as hls_domain

    hw_domain.custom_op["BinaryLSTM"] = BinaryLSTM
    hls_domain.custom_op["BinaryLSTM_hls"] = BinaryLSTM_hls
    add_op_to_domain("finn.custom_op.fpgadataflow", BinaryLSTM)
    add_op_to_domain("finn.custom_op.fpgadataflow.hls", BinaryLSTM_hls)
