"""`bcrnn_top`: the whole trained BCRNN as one SystemVerilog module, generated from a packed model and a folding.

    python -m bcrnn.rtl.top runs/<run>/model.packed.npz --folding hw/rtl/folding/zu3eg.yaml --out build/rtl/<run>

writes the ROM files of every block (bcrnn.rtl.*_files) and `bcrnn_top.sv`, which chains

    int8 pixels -> frontend_chain (conv_window -> mvu_int8 -> maxpool_bits -> xnor_mvu: dense frames)
                -> binary_lstm -> time_sum -> int_mvu (FC) -> output_argmax -> label + logits

with a register slice (axis_skid) at both ports and between the blocks (but between time_sum and the FC), and
with every block's parameters (sizes, folding, ROM paths) written into the instances, so the module has only the
stream ports: s_* takes one pixel (C int8 codes, time-major, then frequency) per beat, 300 x 40 beats per 3-s
segment; m_* gives one beat per segment: the label in the low bits, then the logits (see output_argmax.sv).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bcrnn.rtl.memfile import write_if_changed
from bcrnn.rtl.head_files import label_width, time_sum_params, write_fc_files, write_output_files
from bcrnn.yaml_files import load_named_yaml

FOLDING_DIR = Path(__file__).resolve().parents[2] / "hw" / "rtl" / "folding"
RTL_DIR = Path(__file__).resolve().parents[2] / "hw" / "rtl"
FILELIST = RTL_DIR / "bcrnn_top.f"


@dataclass
class Folding:
    """Parallelism of every block (PE: output rows or channels per cycle; SIMD: inputs per cycle)."""

    conv_pe: int = 16
    dense_pe: int = 8
    dense_simd: int = 64
    lstm_pe: int = 16
    lstm_simd: int = 64
    fc_pe: int = 4
    fc_simd: int = 16
    out_pe: int = 1

    @classmethod
    def load(cls, name_or_path) -> "Folding":
        _, data = load_named_yaml(name_or_path, FOLDING_DIR, "RTL folding", cls.__dataclass_fields__)
        return cls(**data)


# the ZU3EG folding written for each preset architecture (>= 1,000 segments/s at 200 MHz)
ZU3EG_FOLDINGS = {"small": "zu3eg", "wide": "zu3eg-wide"}


def zu3eg_folding(packed) -> str:
    """The name of the ZU3EG folding made for the packed model's architecture (the small preset's for any other)."""
    from bcrnn.models import PRESETS

    cfg = json.loads(str(packed["meta"]))["model_config"]
    for preset, folding in ZU3EG_FOLDINGS.items():
        ref = PRESETS[preset]
        if (cfg["dense"], cfg["lstm_hidden"], [list(c) for c in cfg["conv"]]) == \
                (ref.dense, ref.lstm_hidden, [list(c) for c in ref.conv]):
            return folding
    return "zu3eg"


def sources() -> list[Path]:
    """The sources bcrnn_top instantiates (hw/rtl/bcrnn_top.f), without the generated module itself."""
    from bcrnn.rtl.filelist import read_filelist

    return read_filelist(FILELIST)


def _value(v, base: Path | None = None) -> str:
    if isinstance(v, str):
        text = v.strip('"')
        if base is not None and Path(text).is_absolute():  # synthesis reads ROMs relative to its working folder
            text = Path(text).relative_to(base).as_posix()
        return f'"{text}"'
    return str(int(v))


def _instance(module: str, name: str, params: dict, ports: dict, base: Path | None = None) -> str:
    p = ",\n".join(f"        .{k}({_value(v, base)})" for k, v in params.items())
    c = ",\n".join(f"        .{k}({v})" for k, v in ports.items())
    return f"    {module} #(\n{p}\n    ) {name} (\n{c}\n    );\n"


def _stream(prefix: str, s: str, m: str) -> dict:
    return {"clk": "clk", "rst_n": "rst_n", "s_tdata": f"{s}_tdata", "s_tvalid": f"{s}_tvalid",
            "s_tready": f"{s}_tready", "m_tdata": f"{m}_tdata", "m_tvalid": f"{m}_tvalid", "m_tready": f"{m}_tready"}


def generate(packed, folding: Folding, out_dir, path_base=None) -> dict:
    """ROM files and `bcrnn_top.sv` in `out_dir`; returns a description (widths, parameters per block). With
    `path_base`, the ROM paths in the module are relative to it (Yosys reads files below its working folder)."""
    from bcrnn.rtl.frontend_files import frontend_chain_params
    from bcrnn.rtl.lstm_files import write_lstm_files_from_packed

    if isinstance(packed, (str, Path)):
        from bcrnn.reference.packed_file import load_packed

        packed = load_packed(packed)
    meta = json.loads(str(packed["meta"]))
    wide = [k for k in ("fc", "out") if f"{k}_weight_codes" in packed]
    if wide:
        raise ValueError(f"bcrnn_top's head blocks take +-1 weights; this model has integer weight codes in "
                         f"{', '.join(wide)} (trained with head_weight_bits > 1), which the open RTL does not "
                         "implement")
    if len(meta["model_config"]["conv"]) != 1:
        raise ValueError("bcrnn_top chains one conv block (the paper, small, tiny and hw presets); this model has "
                         f"{len(meta['model_config']['conv'])}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    fe = frontend_chain_params(packed, meta, out_dir, conv_pe=folding.conv_pe, dense_pe=folding.dense_pe,
                               dense_simd=folding.dense_simd)
    lstm = write_lstm_files_from_packed(packed, folding.lstm_pe, folding.lstm_simd, out_dir)
    tsum = time_sum_params(packed)
    fc = write_fc_files(packed, folding.fc_pe, folding.fc_simd, out_dir, in_width=tsum["SW"])
    out = write_output_files(packed, out_dir, pe=folding.out_pe)
    c, dense, h2 = fe["C"], fe["DENSE"], 2 * lstm["H"]
    label_bits = label_width(out["C"])
    out_bits = label_bits + out["C"] * out["LW"]
    wires = [("frames", dense), ("lstm", h2), ("sums", h2 * tsum["SW"]), ("fc", fc["MH"])]
    # a register slice (axis_skid) on the streams between blocks and at the ports: no handshake or data path
    # crosses two blocks in one cycle; not on `sums` (time_sum's output is registered, its ready reads registers)
    sliced = [("pixels", c * 8), ("frames_r", dense), ("lstm_r", h2), ("fc_r", fc["MH"]), ("out", out_bits)]
    body = [f"module bcrnn_top (\n    input  logic clk,\n    input  logic rst_n,\n"
            f"    input  logic [{c * 8 - 1}:0] s_tdata,    // one pixel: {c} int8 feature codes\n"
            f"    input  logic s_tvalid,\n    output logic s_tready,\n"
            f"    output logic [{out_bits - 1}:0] m_tdata,   // label [{label_bits - 1}:0], then {out['C']} logits "
            f"of {out['LW']} bits\n    output logic m_tvalid,\n    input  logic m_tready,\n"
            f"    // the pooled conv pixels (monitor only: the stream between the max-pool and the dense layer)\n"
            f"    output logic [{fe['CH'] - 1}:0] pool_tdata,\n    output logic pool_tvalid,\n"
            f"    output logic pool_tready\n);\n"
            f"    // generated by bcrnn.rtl.top from a packed model ({meta.get('preset', 'model')}); folding "
            f"{json.dumps(asdict(folding))}\n"]
    # the layer boundaries are kept through synthesis, so a gate-level simulation of the netlist can check them
    for name, width in wires:
        body.append(f"    (* keep *) logic [{width - 1}:0] {name}_tdata;\n"
                    f"    (* keep *) logic {name}_tvalid, {name}_tready;\n")
    for name, width in sliced:
        body.append(f"    logic [{width - 1}:0] {name}_tdata;\n    logic {name}_tvalid, {name}_tready;\n")
    fe_ports = _stream("fe", "pixels", "frames") | {"pool_tdata": "pool_tdata", "pool_tvalid": "pool_tvalid",
                                                    "pool_tready": "pool_tready"}
    base = Path(path_base).resolve() if path_base is not None else None
    for name, s, m, width in [("in", "s", "pixels", c * 8), ("frames", "frames", "frames_r", dense),
                              ("lstm", "lstm", "lstm_r", h2), ("fc", "fc", "fc_r", fc["MH"]),
                              ("out", "out", "m", out_bits)]:
        body.append(_instance("axis_skid", f"u_{name}_slice", {"W": width}, _stream(name, s, m)))
    body.append(_instance("frontend_chain", "u_front", fe, fe_ports, base))
    body.append(_instance("binary_lstm", "u_lstm", lstm, _stream("lstm", "frames_r", "lstm"), base))
    body.append(_instance("time_sum", "u_sum", tsum, _stream("sum", "lstm_r", "sums"), base))
    body.append(_instance("int_mvu", "u_fc", fc, _stream("fc", "sums", "fc"), base))
    body.append(_instance("output_argmax", "u_out", out, _stream("out", "fc_r", "out"), base))
    body.append("endmodule\n")
    top = write_if_changed(out_dir / "bcrnn_top.sv", "\n".join(body))
    description = {"top": str(top), "sources": [str(s) for s in sources()] + [str(top)], "folding": asdict(folding),
                   "pixel_channels": c, "frames": meta["time_steps"], "classes": out["C"], "label_bits": label_bits,
                   "logit_bits": out["LW"], "sum_bits": tsum["SW"],
                   "blocks": {"frontend_chain": fe, "binary_lstm": lstm, "time_sum": tsum, "int_mvu": fc,
                              "output_argmax": out}}
    (out_dir / "bcrnn_top.json").write_text(json.dumps(description, indent=1, default=str))
    return description


def finn_folding_config(description: dict) -> dict:
    """FINN's folding JSON (step_apply_folding_config) with the parallelism of a generated bcrnn_top, so FINN's
    estimates of the same folding can be set beside the simulated cycles. Layer names are those of FINN's HW graph
    of a one-conv BCRNN (bcrnn.dataflow): FMPadding, window generator (whole windows per cycle when the RTL's conv
    takes the whole window), conv MVAU, pool window + Pool, dense MVAU, BinaryLSTM, FC MVAU, output MVAU."""
    b = description["blocks"]
    fe, lstm, fc, out = b["frontend_chain"], b["binary_lstm"], b["int_mvu"], b["output_argmax"]
    window = fe["C"] * fe["KT"] * fe["KF"]
    return {
        "Defaults": {},
        "FMPadding_rtl_0": {"SIMD": fe["C"]},
        "ConvolutionInputGenerator_rtl_0": {"SIMD": fe["C"], "parallel_window": int(fe["CONV_SIMD"] == window)},
        "MVAU_hls_0": {"PE": fe["CONV_PE"], "SIMD": fe["CONV_SIMD"]},
        "ConvolutionInputGenerator_rtl_1": {"SIMD": fe["CH"]},
        "Pool_hls_0": {"PE": fe["CH"]},
        "MVAU_hls_1": {"PE": fe["DENSE_PE"], "SIMD": fe["DENSE_SIMD"]},
        "BinaryLSTM_hls_0": {"PE": lstm["PE"], "SIMD": lstm["SIMD"]},
        "MVAU_hls_2": {"PE": fc["PE"], "SIMD": fc["SIMD"]},
        "MVAU_hls_3": {"PE": out["PE"], "SIMD": out["NI"]},
    }


def synth_writer(packed, folding: str = "zu3eg", out_dir=None) -> dict:
    """For hw/synth/synth.py: generate bcrnn_top into `out_dir` (the block's rom/ folder) with ROM paths relative
    to the synthesis folder (its parent); the generated module is an extra source, it has no parameters."""
    out_dir = Path(out_dir)
    d = generate(packed, Folding.load(folding), out_dir, path_base=out_dir.parent)
    return {"__extra_sources__": [d["top"]]}


def write_harness(description: dict, out_dir, segments: int, pixels_per_segment: int) -> Path:
    """`bcrnn_top_harness.sv` (simulation only): streams the int8 pixels of `pixels.memh` (segments back to back)
    into bcrnn_top at full rate and writes every beat of every layer boundary, with its clock cycle, to a text file
    (`<boundary>.hex`), so that a cocotb bench checks them all without waking Python every cycle. `done_count`
    counts output beats; `starts.hex` has the cycle at which each segment's first pixel entered."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    c = description["pixel_channels"]
    n = segments * pixels_per_segment
    out_bits = description["label_bits"] + description["classes"] * description["logit_bits"]
    taps = {"conv0": "pool", "dense": "u_top.frames", "lstm": "u_top.lstm", "pool": "u_top.sums", "fc": "u_top.fc",
            "out": "m"}
    lines = ["module bcrnn_top_harness (input logic clk, input logic rst_n, input logic start,",
             "                          output logic [31:0] done_count);",
             f"    localparam int N = {n}, P = {pixels_per_segment};",
             "    logic [31:0] idx, cycle;",
             f"    logic [{c * 8 - 1}:0] s_tdata;",
             "    // pixels are read from the file one beat at a time (a 300k-entry memory made Verilator abort at exit)",
             "    integer fd_pixels, scanned;",
             f'    initial begin fd_pixels = $fopen("{out_dir / "pixels.memh"}", "r"); '
             'scanned = $fscanf(fd_pixels, "%h\\n", s_tdata); end',
             f"    logic [{out_bits - 1}:0] m_tdata;",
             f"    logic [{description['blocks']['frontend_chain']['CH'] - 1}:0] pool_tdata;",
             "    logic s_tvalid, s_tready, m_tvalid, m_tready, pool_tvalid, pool_tready;",
             "    bcrnn_top u_top (.clk(clk), .rst_n(rst_n), .s_tdata(s_tdata), .s_tvalid(s_tvalid),",
             "        .s_tready(s_tready), .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready),",
             "        .pool_tdata(pool_tdata), .pool_tvalid(pool_tvalid), .pool_tready(pool_tready));",
             "    assign m_tready = 1'b1;",
             "    assign s_tvalid = start && idx < N;",
             f"    logic [{c * 8 - 1}:0] next_pixel;  // read blocking, handed to s_tdata non-blocking: no race",
             "    always @(posedge clk) if (rst_n && s_tvalid && s_tready) begin",
             "        scanned = $fscanf(fd_pixels, \"%h\\n\", next_pixel);",
             "        s_tdata <= next_pixel;",
             "    end",
             "    always_ff @(posedge clk) begin",
             "        if (!rst_n) begin idx <= 0; done_count <= 0; cycle <= 0; end",
             "        else begin",
             "            cycle <= cycle + 1;",
             "            if (s_tvalid && s_tready) idx <= idx + 1;",
             "            if (m_tvalid && m_tready) done_count <= done_count + 1;",
             "        end",
             "    end"]
    for name, sig in {**taps, "starts": None}.items():
        fire = "s_tvalid && s_tready && idx % P == 0" if sig is None else f"{sig}_tvalid && {sig}_tready"
        value = '"%0d\\n", cycle' if sig is None else f'"%h %0d\\n", {sig}_tdata, cycle'
        lines += [f"    integer fd_{name};",
                  f'    initial fd_{name} = $fopen("{out_dir / (name + ".hex")}", "w");',
                  f"    always @(posedge clk) if (rst_n && {fire}) begin $fwrite(fd_{name}, {value}); "
                  f"$fflush(fd_{name}); end"]
    # close the logs once the last segment's output is out (Verilator aborts at exit on files left open)
    lines += ["    logic closed;",
              "    always @(posedge clk) begin",
              "        if (!rst_n) closed <= 1'b0;",
              f"        else if (!closed && done_count == {segments}) begin",
              *[f"            $fclose(fd_{name});" for name in (*taps, "starts", "pixels")],
              "            closed <= 1'b1;",
              "        end",
              "    end",
              "endmodule", ""]
    return write_if_changed(out_dir / "bcrnn_top_harness.sv", "\n".join(lines))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("packed", type=Path, help="model.packed.npz of a BCRNN run")
    p.add_argument("--folding", default="zu3eg", help="a YAML in hw/rtl/folding or a path (default zu3eg)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        d = generate(args.packed, Folding.load(args.folding), args.out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {d['top']} and the ROM files of {len(d['blocks'])} blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
