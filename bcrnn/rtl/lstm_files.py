"""ROM files and module parameters of the RTL binary BiLSTM (hw/rtl/binary_lstm.sv), and its cycle counts.

    params = write_lstm_files(fwd, bwd, fmt, pe=16, simd=64, out_dir="build/lstm", t=150)
    # {"D": 256, "H": 64, "T": 150, "PE": 16, "SIMD": 64, "MW": .., "BW": .., "P": 4, ..., "WEIGHT_FILE": "/abs/..."}
    lstm_cycles_rtl(256, 64, 150, 16, 64)    # 24_020: cycles per sequence in a back-to-back stream
    lstm_latency_rtl(256, 64, 150, 16, 64)   # 24_777: first input beat to last output beat of a lone sequence

For >= 1,000 sequences/s at 200 MHz at the small preset, PE = 4, SIMD = 64 (96,020 cycles, 2,083 sequences/s) is the
cheapest folding with a 2x margin; PE = 16, SIMD = 64 gives 8,326 sequences/s for about three times the LUTs.

`fwd` and `bwd` are (weight bits (4H, D+H), M (4H,), B (4H,)) as `bcrnn.reference.lstm.run_bilstm` takes them
(the packed model's `lstm_fwd_weight_bits`, `lstm_fwd_mult`, `lstm_fwd_offset`, ...) or `LSTMDirection`s.

ROM layout (the same folding as the HLS kernel, `bcrnn.hls_lstm.fold_direction`: hardware gate rows are unit-major,
r = 4 j + gate with gates i, f, g, o; PE p handles rows nf PE + p; SF = (D + H) / SIMD, TILES = (4H / PE) SF):
  <prefix>_weights.memh  2 TILES words of PE SIMD bits: word dir TILES + nf SF + sf (dir 0 forward, 1 backward),
                         bits [p SIMD +: SIMD] = weights of row nf PE + p on inputs sf SIMD + k at bit k
  <prefix>_mult.memh     2 NF words of PE MW bits: word dir NF + nf, bits [p MW +: MW] = M of row nf PE + p
  <prefix>_offset.memh   the same for B (BW bits)
  <prefix>_sigmoid.memh, <prefix>_tanh.memh   2^Q words of G bits, index p + 2^(Q-1) (tanh two's complement)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bcrnn.fixed_point import LSTMFormat, sigmoid_table, tanh_table
from bcrnn.hls_lstm import _direction_arrays, fold_direction, folding, signed_bits
from bcrnn.rtl.memfile import pack_word, write_memh

# Cycles from issuing a step's last tile to the earliest tile of the next step of the same direction: the stages
# a (sequencer) .. w (cell sum and saturation) of hw/rtl/binary_lstm.sv, then the commit cycle.
STEP_DEPTH = 20

# module parameter -> file name suffix (<prefix>_<suffix>.memh)
FILE_PARAMETERS = {"WEIGHT_FILE": "weights", "MULT_FILE": "mult", "OFFSET_FILE": "offset",
                   "SIGMOID_FILE": "sigmoid", "TANH_FILE": "tanh"}


def check_folding_rtl(d: int, h: int, pe: int, simd: int) -> None:
    """ValueError unless PE divides 4H and SIMD divides D + H (as in the HLS kernel) and PE is 1, 2 or a multiple
    of 4 (the cell lanes of the RTL take a unit's four gate rows from one row group or from 4 / PE of them)."""
    folding(d, h, pe, simd)
    if pe > 2 and pe % 4:
        raise ValueError(f"PE={pe} must be 1, 2 or a multiple of 4 for the RTL binary_lstm")


def lstm_cycles_rtl(d: int, h: int, t: int, pe: int, simd: int) -> int:
    """Clock cycles per sequence of binary_lstm in a back-to-back stream (the datapath's busy time; the ping-pong
    buffers overlap the T input beats of the next sequence and the T output beats of the previous one):

        (T - 1) P2 + 2 TILES + STEP_DEPTH,  P2 = TILES + max(TILES, STEP_DEPTH - 1),  TILES = (4H / PE) ((D + H) / SIMD)

    The sequencer alternates forward step s and backward step s, TILES cycles each; a direction's next step waits
    for its h_t (STEP_DEPTH = 20 cycles after its last tile), which the other direction's step hides when
    TILES >= 19 (then 2 T TILES + 20). The 20 = one start cycle + the last step's pipeline (19 cycles to the commit).
    Measured in sim/bench_binary_lstm.py and asserted equal."""
    check_folding_rtl(d, h, pe, simd)
    if t < 1:
        raise ValueError(f"T must be positive, got {t}")
    tiles = folding(d, h, pe, simd)["TILES"]
    pair = tiles + max(tiles, STEP_DEPTH - 1)
    return (t - 1) * pair + 2 * tiles + STEP_DEPTH


def lstm_latency_rtl(d: int, h: int, t: int, pe: int, simd: int) -> int:
    """Cycles from the first input beat to the last output beat (both counted) of a lone sequence without stalls:
    T input beats of WF = ceil(D / SIMD) cycles each (the x RAM holds SIMD-bit words), the compute
    (`lstm_cycles_rtl`), T output beats, and 7 cycles: the last input word's write, one to see the full buffer, the
    last h_t's write, four through the output registers and FIFO."""
    wf = -(-d // simd)
    return lstm_cycles_rtl(d, h, t, pe, simd) + t * wf + t + 7


def write_lstm_files(fwd, bwd, fmt: LSTMFormat, pe: int, simd: int, out_dir: str | Path, prefix: str = "lstm", *,
                     t: int) -> dict:
    """Write the five ROM files of binary_lstm for both directions into `out_dir`; return the module parameters
    (sizes, folding, M / B widths, LSTMFormat, absolute file paths as plain strings; a simulator's command line
    needs them quoted, see `sv_parameters`). `t` is the number of frames per sequence (module parameter T)."""
    (wf, mf, bf), (wb, mb, bb) = _direction_arrays(fwd), _direction_arrays(bwd)
    if wf.shape != wb.shape:
        raise ValueError(f"forward and backward weights differ in shape: {wf.shape} vs {wb.shape}")
    h = wf.shape[0] // 4
    d = wf.shape[1] - h
    check_folding_rtl(d, h, pe, simd)
    if t < 1:
        raise ValueError(f"T must be positive, got {t}")
    if not 2 <= fmt.pre_bits <= 16:
        raise ValueError(f"pre_bits={fmt.pre_bits}: binary_lstm supports Q in [2, 16]")
    mw = signed_bits(np.concatenate([mf, mb]))
    bw = signed_bits(np.concatenate([bf, bb]))
    f = folding(d, h, pe, simd)
    folded = [fold_direction((w, m, b), pe, simd) for w, m, b in ((wf, mf, bf), (wb, mb, bb))]
    out_dir = Path(out_dir).resolve()
    paths = {name: out_dir / f"{prefix}_{suffix}.memh" for name, suffix in FILE_PARAMETERS.items()}
    # weights: (PE, TILES, SIMD) per direction -> words of PE SIMD bits, element p SIMD + k
    words = [_pack_bits(fd["weight_bits"].transpose(1, 0, 2).reshape(f["TILES"], pe * simd)) for fd in folded]
    write_memh(paths["WEIGHT_FILE"], words[0] + words[1], pe * simd)
    for name, key, width in (("MULT_FILE", "mult", mw), ("OFFSET_FILE", "offset", bw)):
        vals = [pack_word(fd[key][:, nf], width) for fd in folded for nf in range(f["NF"])]  # (PE, NF) per direction
        write_memh(paths[name], vals, pe * width)
    write_memh(paths["SIGMOID_FILE"], sigmoid_table(fmt), fmt.gate_bits)
    write_memh(paths["TANH_FILE"], tanh_table(fmt), fmt.gate_bits)
    return {"D": d, "H": h, "T": int(t), "PE": pe, "SIMD": simd, "MW": mw, "BW": bw, "P": fmt.pre_frac,
            "Q": fmt.pre_bits, "K": fmt.scale_frac, "G": fmt.gate_bits, "C": fmt.cell_bits, "F": fmt.cell_frac,
            **{name: str(path) for name, path in paths.items()}}


def write_lstm_files_from_packed(packed, pe: int, simd: int, out_dir: str | Path, prefix: str = "lstm") -> dict:
    """`write_lstm_files` for a packed model (`model.packed.npz` path or the arrays of bcrnn.packing.pack_model),
    with T = its time steps and its LSTMFormat."""
    if isinstance(packed, (str, Path)):
        from bcrnn.reference.packed_file import load_packed

        packed = load_packed(packed)
    meta = json.loads(str(packed["meta"]))
    fwd, bwd = ((packed[f"lstm_{d}_weight_bits"], packed[f"lstm_{d}_mult"], packed[f"lstm_{d}_offset"])
                for d in ("fwd", "bwd"))
    return write_lstm_files(fwd, bwd, LSTMFormat(**meta["lstm_format"]), pe, simd, out_dir, prefix,
                            t=int(meta["time_steps"]))


def sv_parameters(params: dict) -> dict:
    """Module parameters for a simulator command line (cocotb runner: Icarus -P, Verilator -G): strings quoted."""
    return {k: f'"{v}"' if isinstance(v, str) else v for k, v in params.items()}


def _pack_bits(bits: np.ndarray) -> list[int]:
    """(rows, W) 0/1 -> one integer per row with element k at bit k."""
    rows, width = bits.shape
    padded = np.zeros((rows, -(-width // 8) * 8), dtype=np.uint8)
    padded[:, :width] = bits
    return [int.from_bytes(np.packbits(r, bitorder="little").tobytes(), "little") for r in padded]
