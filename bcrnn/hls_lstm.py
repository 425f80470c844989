"""The HLS binary BiLSTM kernel (hw/hls/binary_lstm.hpp): its parameter header, its cycle count, and its C
simulation (g++ with the open ap_types headers that hls4ml ships), checked bit for bit against
bcrnn.reference.lstm in tests/test_hls_lstm.py.

    write_params_header(fwd, bwd, fmt, d=256, h=64, t=150, pe=4, simd=16, path="params.h")  # for FINN's codegen
    kernel_call("in0_V", "out0_V")   # the C++ statement that runs BinaryBiLSTM with those parameters
    run_csim(fwd, bwd, fmt, x_bits, pe=4, simd=16, build_dir="build/hls")  # (T, D) or (B, T, D) -> (..., T, 2H)

`fwd` and `bwd` are `LSTMDirection`s or (weight bits (4H, D+H), M (4H,), B (4H,)) as `run_bilstm` takes them.

params.h layout (FINN-style folding, see binary_lstm.hpp):
  * hardware gate rows are unit-major, r = 4 j + gate (gate 0..3 = i, f, g, o of hidden unit j), while the
    reference stores the gate blocks [i | f | g | o] x H: hardware row r is reference row (r % 4) H + r // 4;
  * PE p handles rows nf PE + p (nf < NF = 4H / PE); `<prefix>_fwd_weights[p][nf SF + sf]` is an
    ap_uint<SIMD> whose bit k is the weight of input sf SIMD + k (SF = (D + H) / SIMD, TILES = NF SF);
  * `<prefix>_fwd_mult[p][nf]`, `<prefix>_fwd_offset[p][nf]` (ap_int<MULT_BITS>, ap_int<OFFSET_BITS>): M_r, B_r;
  * `<prefix>_sigmoid[2^Q]` (ap_uint<G>) and `<prefix>_tanh[2^Q]` (ap_int<G>): the gate tables, indexed p + 2^(Q-1).

Only numpy is imported at module level; the C simulation needs g++ and `pip install --no-deps hls4ml==1.3.0`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from bcrnn.fixed_point import LSTMFormat, sigmoid_table, tanh_table

HLS_DIR = Path(__file__).resolve().parents[1] / "hw" / "hls"
KERNEL = HLS_DIR / "binary_lstm.hpp"
TESTBENCH = HLS_DIR / "tb" / "binary_lstm_tb.cpp"
HLS4ML_REQUIREMENT = "hls4ml==1.3.0"
CXXFLAGS = ("-std=c++14", "-O2")

# Pipeline depth of the fold loop, paid once per LSTM step (the next step needs every bit of h_t): XNOR +
# popcount tree (2), accumulation (1), M dot + B on a DSP (3), rounding, clamp and table ROM (2), f c and i g
# on DSPs (2), saturation and h bit (1), loop entry and the h register swap (1). An estimate for a 200 MHz clock,
# not a Vitis HLS report (Vitis was not run here).
STEP_LATENCY = 12


class HLSToolchainError(RuntimeError):
    """The C simulation cannot run: no C++ compiler, no ap_types headers, or the test bench failed."""


# ----------------------------------------------------------------------------------------------- folding


def check_folding(d: int, h: int, pe: int, simd: int) -> None:
    """ValueError unless PE divides the 4H gate rows and SIMD divides the D + H input bits."""
    if d < 1 or h < 1:
        raise ValueError(f"D (input bits) and H (hidden units) must be positive, got D={d}, H={h}")
    if pe < 1 or (4 * h) % pe:
        raise ValueError(f"PE={pe} must divide 4*H={4 * h} (the gate rows of one direction)")
    if simd < 1 or (d + h) % simd:
        raise ValueError(f"SIMD={simd} must divide D+H={d + h} (the bits of [x_t, h_t-1])")


def folding(d: int, h: int, pe: int, simd: int) -> dict:
    """The fold counts of the gate matrix: NF = 4H / PE, SF = (D + H) / SIMD, TILES = NF SF words per PE."""
    check_folding(d, h, pe, simd)
    nf, sf = 4 * h // pe, (d + h) // simd
    return {"N": d + h, "ROWS": 4 * h, "NF": nf, "SF": sf, "TILES": nf * sf}


def lstm_cycles(d: int, h: int, t: int, pe: int, simd: int, step_latency: int = STEP_LATENCY) -> int:
    """Clock cycles of one sequence through BinaryBiLSTM, as its loops imply:

        T                                  read the T input words into the sequence buffer (II = 1)
      + 2 T (TILES + step_latency)         forward, then backward: per step the II = 1 fold loop of
                                           TILES = (4H / PE) ((D + H) / SIMD) cycles, then the pipeline drains
                                           (step_latency, STEP_LATENCY = 12 estimated) before h_t is complete
      + T                                  write the T output words (II = 1)

    Loop-entry cycles of the read and write loops (a few per sequence) are not counted. This is one sequence's
    latency; the kernel's stages overlap across sequences (DATAFLOW), see `lstm_interval`."""
    return t + lstm_interval(d, h, t, pe, simd, step_latency) + t


def lstm_interval(d: int, h: int, t: int, pe: int, simd: int, step_latency: int = STEP_LATENCY) -> int:
    """Clock cycles between sequences in a stream: BinaryBiLSTM's read, compute and write stages overlap
    (DATAFLOW with ping-pong buffers), so the compute stage, 2 T (TILES + step_latency), sets the rate."""
    fold = folding(d, h, pe, simd)
    if t < 1:
        raise ValueError(f"T must be positive, got {t}")
    return 2 * t * (fold["TILES"] + step_latency)


def _direction_arrays(p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An LSTMDirection or (weight bits, M, B) -> (bits (4H, D+H) uint8, M (4H,) int64, B (4H,) int64)."""
    if hasattr(p, "weight_bits"):
        w, m, b = p.weight_bits, p.mult, p.offset
    else:
        w, m, b = p
    w = np.asarray(w)
    m, b = np.asarray(m).reshape(-1), np.asarray(b).reshape(-1)
    if w.ndim != 2 or w.shape[0] % 4 or w.shape[1] <= w.shape[0] // 4:
        raise ValueError(f"weight bits must be (4H, D+H), got {w.shape}")
    if not np.all((w == 0) | (w == 1)):
        raise ValueError("weight bits must be 0 or 1")
    if m.shape != (w.shape[0],) or b.shape != (w.shape[0],):
        raise ValueError(f"M and B must have one entry per gate row ({w.shape[0]}), got {m.shape}, {b.shape}")
    for name, v in (("M", m), ("B", b)):
        if not np.array_equal(v, np.round(v)):
            raise ValueError(f"{name} must be integers")
    return w.astype(np.uint8), m.astype(np.int64), b.astype(np.int64)


def hardware_row_order(h: int) -> np.ndarray:
    """Reference gate row of each hardware row: r = 4 j + gate -> gate H + j."""
    r = np.arange(4 * h)
    return (r % 4) * h + r // 4


def fold_direction(p, pe: int, simd: int) -> dict[str, np.ndarray]:
    """One direction's parameters in the kernel's layout: `weight_bits` (PE, TILES, SIMD) uint8 (bit k of the
    ap_uint<SIMD> word [p][tile]), `mult` and `offset` (PE, NF) int64."""
    w, m, b = _direction_arrays(p)
    h = w.shape[0] // 4
    d = w.shape[1] - h
    f = folding(d, h, pe, simd)
    order = hardware_row_order(h)
    w, m, b = w[order], m[order], b[order]  # hardware row r = nf PE + p
    bits = w.reshape(f["NF"], pe, f["SF"], simd).transpose(1, 0, 2, 3).reshape(pe, f["TILES"], simd)
    return {"weight_bits": np.ascontiguousarray(bits), "mult": m.reshape(f["NF"], pe).T.copy(),
            "offset": b.reshape(f["NF"], pe).T.copy()}


def signed_bits(values) -> int:
    """The fewest two's-complement bits that hold every value (at least 2)."""
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if v.size == 0:
        return 2
    lo, hi = int(v.min()), int(v.max())
    return max(2, hi.bit_length() + 1, (-lo - 1).bit_length() + 1)


# ----------------------------------------------------------------------------------------------- params.h


def lstm_defines(d: int, h: int, t: int, pe: int, simd: int, fmt: LSTMFormat, mult_bits: int, offset_bits: int,
                 prefix: str = "lstm") -> dict[str, int]:
    """The compile-time constants of params.h (`#define <PREFIX>_<name> value`), keyed by macro name."""
    f = folding(d, h, pe, simd)
    p = prefix.upper()
    values = {"D": d, "H": h, "T": t, "PE": pe, "SIMD": simd, "NF": f["NF"], "SF": f["SF"], "TILES": f["TILES"],
              "MULT_BITS": mult_bits, "OFFSET_BITS": offset_bits, "P": fmt.pre_frac, "Q": fmt.pre_bits,
              "K": fmt.scale_frac, "G": fmt.gate_bits, "C": fmt.cell_bits, "F": fmt.cell_frac}
    return {f"{p}_{k}": int(v) for k, v in values.items()}


def _int_literal(v: int) -> str:
    v = int(v)
    return str(v) if -(2**31) < v < 2**31 else f"{v}LL"


def _word_literals(bits: np.ndarray, simd_macro: str) -> list[str]:
    """(..., SIMD) bits -> C++ initializers of ap_uint<SIMD>, bit k = element k."""
    simd = bits.shape[-1]
    flat = bits.reshape(-1, simd)
    n_hex = -(-simd // 4)
    weights = 1 << np.arange(4, dtype=np.int64)
    padded = np.zeros((flat.shape[0], n_hex * 4), dtype=np.int64)
    padded[:, :simd] = flat
    nibbles = (padded.reshape(flat.shape[0], n_hex, 4) * weights).sum(axis=-1)[:, ::-1]  # most significant first
    digits = np.array(list("0123456789abcdef"))[nibbles]
    hexes = ["".join(row) for row in digits]
    if simd <= 64:
        return [f"0x{x}ULL" for x in hexes]
    # always with the 0x prefix: the ap_int string parser reads a leading "0b" / "0o" / "0d" as a radix prefix
    return [f'ap_uint<{simd_macro}>("0x{x}", 16)' for x in hexes]


def _c_array(decl: str, items: list[str], shape: tuple[int, ...], per_line: int = 8) -> str:
    """`static const <decl> = {...};` with nested braces for a 1-D or 2-D shape."""

    def lines(row: list[str], indent: str) -> str:
        return ",\n".join(indent + ", ".join(row[i : i + per_line]) for i in range(0, len(row), per_line))

    if len(shape) == 1:
        body = lines(items, "    ")
    else:
        n = shape[1]
        body = ",\n".join("    {\n" + lines(items[i * n : (i + 1) * n], "        ") + "\n    }"
                          for i in range(shape[0]))
    return f"static const {decl} = {{\n{body}\n}};\n"


def params_header(fwd, bwd, fmt: LSTMFormat, t: int, pe: int, simd: int, prefix: str = "lstm") -> tuple[str, dict]:
    """The text of params.h and its defines, for both directions, folded for (PE, SIMD), T frames.

    Arrays (P = PREFIX upper case): `<prefix>_{fwd,bwd}_weights[P_PE][P_TILES]` ap_uint<P_SIMD>,
    `<prefix>_{fwd,bwd}_mult[P_PE][P_NF]` ap_int<P_MULT_BITS>, `<prefix>_{fwd,bwd}_offset[P_PE][P_NF]`
    ap_int<P_OFFSET_BITS>, `<prefix>_sigmoid[1 << P_Q]` ap_uint<P_G>, `<prefix>_tanh[1 << P_Q]` ap_int<P_G>."""
    if t < 1:
        raise ValueError(f"T must be positive, got {t}")
    if not 2 <= fmt.pre_bits <= 16 or fmt.cell_bits > 31:
        raise ValueError("the kernel supports pre_bits in [2, 16] and cell_bits <= 31")
    dirs = {name: _direction_arrays(p) for name, p in (("fwd", fwd), ("bwd", bwd))}
    (wf, _, _), (wb, _, _) = dirs["fwd"], dirs["bwd"]
    if wf.shape != wb.shape:
        raise ValueError(f"forward and backward weights differ in shape: {wf.shape} vs {wb.shape}")
    h = wf.shape[0] // 4
    d = wf.shape[1] - h
    folded = {name: fold_direction(arrays, pe, simd) for name, arrays in dirs.items()}
    mult_bits = signed_bits(np.concatenate([a[1] for a in dirs.values()]))
    offset_bits = signed_bits(np.concatenate([a[2] for a in dirs.values()]))
    if max(mult_bits, offset_bits) > 62:
        raise ValueError("M and B must stay below 2^61 in magnitude")
    defines = lstm_defines(d, h, t, pe, simd, fmt, mult_bits, offset_bits, prefix)
    P = prefix.upper()
    guard = f"BCRNN_{P}_PARAMS_H"
    out = [f"// {prefix} parameters of the binary BiLSTM kernel (hw/hls/binary_lstm.hpp), written by",
           "// bcrnn.hls_lstm.params_header: do not edit. Hardware gate rows are unit-major (r = 4 j + gate,",
           "// gates i, f, g, o); PE p holds rows nf * PE + p; weight word [p][nf * SF + sf] bit k = input sf * SIMD + k.",
           f"#ifndef {guard}", f"#define {guard}", "", '#include "ap_int.h"', ""]
    out += [f"#define {k} {v}" for k, v in defines.items()]
    out.append("")
    for name, arrays in folded.items():
        out.append(_c_array(f"ap_uint<{P}_SIMD> {prefix}_{name}_weights[{P}_PE][{P}_TILES]",
                            _word_literals(arrays["weight_bits"], f"{P}_SIMD"), (pe, defines[f"{P}_TILES"]), 4))
        out.append(_c_array(f"ap_int<{P}_MULT_BITS> {prefix}_{name}_mult[{P}_PE][{P}_NF]",
                            [_int_literal(v) for v in arrays["mult"].reshape(-1)], arrays["mult"].shape))
        out.append(_c_array(f"ap_int<{P}_OFFSET_BITS> {prefix}_{name}_offset[{P}_PE][{P}_NF]",
                            [_int_literal(v) for v in arrays["offset"].reshape(-1)], arrays["offset"].shape))
    out.append(_c_array(f"ap_uint<{P}_G> {prefix}_sigmoid[1 << {P}_Q]",
                        [str(int(v)) for v in sigmoid_table(fmt)], (2**fmt.pre_bits,), 16))
    out.append(_c_array(f"ap_int<{P}_G> {prefix}_tanh[1 << {P}_Q]",
                        [str(int(v)) for v in tanh_table(fmt)], (2**fmt.pre_bits,), 16))
    out.append(f"#endif  // {guard}\n")
    return "\n".join(out), defines


def write_params_header(fwd, bwd, fmt: LSTMFormat, d: int, h: int, t: int, pe: int, simd: int, path: str | Path,
                        prefix: str = "lstm") -> dict[str, int]:
    """Write params.h (see `params_header`) to `path` (rewritten only when its text changes); returns its defines.
    `d` and `h` are checked against the weights' shape (4H, D + H)."""
    w = _direction_arrays(fwd)[0]
    if w.shape != (4 * h, d + h):
        raise ValueError(f"weights are {w.shape}, expected (4H, D+H) = {(4 * h, d + h)} for D={d}, H={h}")
    text, defines = params_header(fwd, bwd, fmt, t, pe, simd, prefix)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return defines


def kernel_call(in_stream: str, out_stream: str, prefix: str = "lstm") -> str:
    """The C++ statement that runs the kernel on two streams with the parameters of params.h (same prefix)."""
    P = prefix.upper()
    targs = ", ".join(f"{P}_{k}" for k in ("D", "H", "T", "SIMD", "PE", "MULT_BITS", "OFFSET_BITS", "P", "Q", "K",
                                             "G", "C", "F"))
    arrays = ", ".join(f"{prefix}_{d}_{a}" for d in ("fwd", "bwd") for a in ("weights", "mult", "offset"))
    return f"bcrnn::BinaryBiLSTM<{targs}>({in_stream}, {out_stream}, {arrays}, {prefix}_sigmoid, {prefix}_tanh);"


def write_params_from_packed(packed, path: str | Path, pe: int, simd: int) -> dict[str, int]:
    """params.h of a packed model (`model.packed.npz` path or the arrays of bcrnn.packing.pack_model)."""
    import json

    if isinstance(packed, (str, Path)):
        from bcrnn.reference.packed_file import load_packed

        packed = load_packed(packed)
    meta = json.loads(str(packed["meta"]))
    fwd, bwd = ((packed[f"lstm_{d}_weight_bits"], packed[f"lstm_{d}_mult"], packed[f"lstm_{d}_offset"])
                for d in ("fwd", "bwd"))
    h = np.asarray(fwd[0]).shape[0] // 4
    d = np.asarray(fwd[0]).shape[1] - h
    return write_params_header(fwd, bwd, LSTMFormat(**meta["lstm_format"]), d, h, int(meta["time_steps"]), pe,
                               simd, path)


# ----------------------------------------------------------------------------------------------- C simulation


def ap_types_dir() -> Path:
    """The folder of ap_int.h / hls_stream.h inside the installed hls4ml package (found without importing it)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise HLSToolchainError(f"the HLS C simulation needs the ap_types headers of hls4ml: "
                                f"pip install --no-deps {HLS4ML_REQUIREMENT}")
    for root in spec.submodule_search_locations:
        folder = Path(root) / "templates" / "vivado" / "ap_types"
        if (folder / "ap_int.h").is_file() and (folder / "hls_stream.h").is_file():
            return folder
    raise HLSToolchainError(f"hls4ml is installed but has no templates/vivado/ap_types/ap_int.h: "
                            f"pip install --no-deps {HLS4ML_REQUIREMENT}")


def _compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise HLSToolchainError(f"no C++ compiler '{cxx}' (install g++, e.g. apt-get install g++)")
    return cxx


def build_testbench(params_h: str | Path, build_dir: str | Path) -> Path:
    """Compile the test bench against `params_h`; a binary named by the hash of the kernel, the test bench,
    params.h and the compiler command is reused when it exists already."""
    params_h, build_dir = Path(params_h).resolve(), Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    cxx, ap_types = _compiler(), ap_types_dir()
    flags = [*CXXFLAGS, "-isystem", str(ap_types), "-I", str(params_h.parent), "-I", str(HLS_DIR)]
    digest = hashlib.sha256()
    for part in (KERNEL.read_bytes(), TESTBENCH.read_bytes(), params_h.read_bytes(), " ".join([cxx, *flags]).encode()):
        digest.update(hashlib.sha256(part).digest())
    binary = build_dir / f"binary_lstm_tb-{digest.hexdigest()[:16]}"
    if binary.is_file():
        return binary
    tmp = binary.with_suffix(f".tmp{os.getpid()}")
    proc = subprocess.run([cxx, *flags, str(TESTBENCH), "-o", str(tmp)], capture_output=True, text=True)
    if proc.returncode:
        tmp.unlink(missing_ok=True)
        raise HLSToolchainError(f"compiling {TESTBENCH.name} failed:\n{proc.stderr[-4000:]}")
    tmp.replace(binary)
    return binary


def _write_sequences(path: Path, x: np.ndarray) -> None:
    b, t, d = x.shape
    rows = np.full((b * t, d + 1), ord("\n"), dtype=np.uint8)
    rows[:, :d] = x.reshape(b * t, d) + ord("0")
    path.write_bytes(f"{b} {t} {d}\n".encode() + rows.tobytes())


def _read_sequences(path: Path) -> np.ndarray:
    header, _, body = path.read_bytes().partition(b"\n")
    b, t, w = (int(v) for v in header.split())
    rows = np.frombuffer(body, dtype=np.uint8)
    if rows.size != b * t * (w + 1):
        raise HLSToolchainError(f"{path} holds {rows.size} bytes, expected {b * t * (w + 1)}")
    return (rows.reshape(b * t, w + 1)[:, :w] - ord("0")).reshape(b, t, w).astype(np.uint8)


def run_csim(fwd, bwd, fmt: LSTMFormat, x_bits: np.ndarray, pe: int, simd: int, build_dir: str | Path) -> np.ndarray:
    """The kernel's C simulation: (T, D) or (B, T, D) input bits -> (T, 2H) or (B, T, 2H) uint8 output bits
    (forward h_t in [0, H), backward in [H, 2H)), like `bcrnn.reference.lstm.run_bilstm`.

    Writes `build_dir/params.h` and `build_dir/input.txt`, compiles the test bench (or reuses the binary for the
    same sources and params), runs every sequence through the kernel's streams and reads `build_dir/output.txt`."""
    x = np.asarray(x_bits)
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x_bits must be (T, D) or (B, T, D), got {np.shape(x_bits)}")
    if not np.all((x == 0) | (x == 1)):
        raise ValueError("x_bits must be 0 or 1")
    w = _direction_arrays(fwd)[0]
    h = w.shape[0] // 4
    if x.shape[2] != w.shape[1] - h:
        raise ValueError(f"x_bits have D={x.shape[2]} bits per frame, the weights D={w.shape[1] - h}")
    build_dir = Path(build_dir)
    params_h = build_dir / "params.h"
    write_params_header(fwd, bwd, fmt, x.shape[2], h, x.shape[1], pe, simd, params_h)
    binary = build_testbench(params_h, build_dir)
    inp, outp = build_dir / "input.txt", build_dir / "output.txt"
    _write_sequences(inp, x.astype(np.uint8))
    outp.unlink(missing_ok=True)
    proc = subprocess.run([str(binary), str(inp), str(outp)], capture_output=True, text=True)
    if proc.returncode:
        raise HLSToolchainError(f"the C simulation failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    y = _read_sequences(outp)
    if y.shape != (x.shape[0], x.shape[1], 2 * h):
        raise HLSToolchainError(f"the C simulation wrote {y.shape}, expected {(x.shape[0], x.shape[1], 2 * h)}")
    return y[0] if single else y


def vitis_rtl(params_dir: str | Path, work_dir: str | Path, part: str | None = None) -> list[Path]:
    """Vitis HLS synthesis of binary_lstm_top for <params_dir>/params.h (hw/hls/csynth.tcl) and its Verilog, for the
    cocotb bench of the RTL LSTM (sim/bench_binary_lstm.py, ports VITIS_PORTS): the generated .v files copied to
    <work_dir>/rtl with their ROM .dat files referenced by absolute path (the simulator runs elsewhere).
    Raises HLSToolchainError when vitis_hls is not on PATH or fails."""
    vitis = shutil.which("vitis_hls")
    if vitis is None:
        raise HLSToolchainError("vitis_hls not found: source Vitis's settings64.sh (Vitis HLS 2022.2 or later)")
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, BCRNN_HLS_PROJECT="bcrnn_lstm_hls")
    args = [vitis, "-f", str(HLS_DIR / "csynth.tcl"), "-tclargs", str(Path(params_dir).resolve())]
    done = subprocess.run(args + ([part] if part else []), cwd=work_dir, env=env, capture_output=True, text=True)
    verilog = work_dir / "bcrnn_lstm_hls" / "sol1" / "syn" / "verilog"
    if done.returncode != 0 or not verilog.is_dir():
        raise HLSToolchainError(f"vitis_hls failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    out = work_dir / "rtl"
    out.mkdir(exist_ok=True)
    sources = []
    for v in sorted(verilog.glob("*.v")):
        text = re.sub(r'\$readmemh\("\./([^"]+)"', lambda m: f'$readmemh("{verilog / m.group(1)}"', v.read_text())
        (out / v.name).write_text(text)
        sources.append(out / v.name)
    return sources


def main(argv=None) -> int:
    """python -m bcrnn.hls_lstm model.packed.npz --pe 4 --simd 16 --out build/hls/params.h"""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bcrnn.hls_lstm", description="params.h of the HLS binary BiLSTM kernel for a packed BCRNN")
    ap.add_argument("packed", help="model.packed.npz")
    ap.add_argument("--pe", type=int, required=True, help="gate rows in parallel (divides 4H)")
    ap.add_argument("--simd", type=int, required=True, help="input bits per cycle (divides D+H)")
    ap.add_argument("--out", default="params.h")
    args = ap.parse_args(argv)
    try:
        defines = write_params_from_packed(args.packed, args.out, args.pe, args.simd)
    except ValueError as e:
        ap.error(str(e))
    p = "LSTM"
    dims = (defines[p + "_D"], defines[p + "_H"], defines[p + "_T"], args.pe, args.simd)
    print(f"{args.out}: D={dims[0]} H={dims[1]} T={dims[2]} PE={args.pe} SIMD={args.simd}: a sequence every "
          f"{lstm_interval(*dims):,} cycles in a stream, {lstm_cycles(*dims):,} cycles from first input to last output")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
