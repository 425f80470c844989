"""`bcrnn export-c`: a packed model (model.packed.npz) as a dependency-free C99 engine.

    bcrnn export-c RUN --out DIR

writes DIR/bcrnn.h and DIR/bcrnn.c (the fixed engine, src/ of this package) and DIR/bcrnn_model.h,
DIR/bcrnn_model.c (the model's sizes, and its weights, thresholds, directions, LSTM multipliers, offsets and gate
tables as const arrays, laid out for the engine's kernels). The engine is bit-exact with bcrnn.reference
(docs/c_engine.md). numpy only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SRC = Path(__file__).parent / "src"
ENGINE_FILES = ("bcrnn.h", "bcrnn.c")
INT32 = 2**31


class ModelNotSupported(ValueError):
    """A packed model the C engine cannot represent exactly (a value beyond its integer types)."""


@dataclass(frozen=True)
class CModel:
    """The generated sources of one packed model."""

    header: str  # bcrnn_model.h
    source: str  # bcrnn_model.c
    sha256: str  # of the packed file
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]


def _words(n: int) -> int:
    return -(-n // 64)


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def _array(ctype: str, name: str, values, fmt=str, per_line: int = 16) -> str:
    vals = [fmt(v) for v in np.asarray(values).reshape(-1).tolist()]
    lines = [", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line)]
    return f"const {ctype} {name}[{len(vals)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def _u64(v: int) -> str:
    return f"0x{v:016x}ull"


def _float(v: float) -> str:
    """A float32 literal that reads back as the same float32."""
    v = np.float32(v)
    if not np.isfinite(v):
        raise ModelNotSupported(f"normalization statistic {v} is not finite")
    return np.format_float_scientific(v, unique=True, exp_digits=2) + "f"


def _c_string(text: str) -> str:
    out = []
    for b in text.encode("utf-8"):
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _int8(a: np.ndarray, what: str) -> np.ndarray:
    if np.abs(a).max(initial=0) > 127:
        raise ModelNotSupported(f"{what}: weight codes beyond [-127, 127] do not fit the engine's int8 weights")
    return a.astype(np.int8)


def _check_int32(bound, what: str) -> None:
    if int(bound) >= INT32:
        raise ModelNotSupported(f"{what} can reach {int(bound)}, beyond the engine's 32-bit integers")


def generate(packed_path: str | Path) -> CModel:
    """The C sources of a model.packed.npz (ModelNotSupported if it needs wider integers than the engine has)."""
    from bcrnn.fixed_point import LSTMFormat, sigmoid_table, tanh_table
    from bcrnn.reference.bits import pack_bits
    from bcrnn.reference.model import ReferenceBCRNN, layer_weights

    path = Path(packed_path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        ref = ReferenceBCRNN.load(path)
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # truncated, foreign
        raise ValueError(f"{path} is not a packed model (model.packed.npz): {err}") from err
    p, meta, cfg = ref.params, ref.meta, ref.meta["model_config"]
    fmt = LSTMFormat(**meta["lstm_format"])
    frac = -np.log2(meta["input_scale"])
    if frac != int(frac) or not 0 <= frac < 16:
        raise ModelNotSupported(f"input scale {meta['input_scale']} is not 2^-k")
    defines: dict[str, int | str] = {}
    data: list[str] = []

    # first convolution: int8 codes x (+-1 or integer codes), direction folded into weights and threshold
    w0 = layer_weights(p, "conv0")  # (ch, in, kt, kf)
    ch, kt, kf, pt, pf = cfg["conv"][0]
    in_ch, frames, mels = w0.shape[1], cfg["segment_frames"], cfg["n_mels"]
    d0 = p["conv0_direction"]
    wf = (w0 * d0[:, None, None, None]).transpose(0, 2, 3, 1).reshape(ch, -1)  # taps in (kt, kf, in) order
    taps, taps4, chp = wf.shape[1], _round_up(wf.shape[1], 4), _round_up(ch, 16)
    w_pad = np.zeros((chp, taps4), np.int64)
    w_pad[:ch, :taps] = wf
    tp, fp = frames + 2 * (kt // 2), mels + 2 * (kf // 2)
    t_out, f_out = (tp - kt + 1) // pt, (fp - kf + 1) // pf
    defines.update(BCRNN_IN_CH=in_ch, BCRNN_FRAMES=frames, BCRNN_MELS=mels, BCRNN_CODES=in_ch * frames * mels,
                   BCRNN_INPUT_FRAC=int(frac), BCRNN_LOGIT_FRAC=meta["logit_frac"],
                   BCRNN_C0_CH=ch, BCRNN_C0_CHP=chp, BCRNN_C0_KT=kt, BCRNN_C0_KF=kf, BCRNN_C0_PT=pt, BCRNN_C0_PF=pf,
                   BCRNN_C0_POOL=pt * pf, BCRNN_C0_TAPS=taps, BCRNN_C0_TAPS4=taps4, BCRNN_C0_TP=tp, BCRNN_C0_FP=fp,
                   BCRNN_C0_TOUT=t_out, BCRNN_C0_FOUT=f_out, BCRNN_C0_FRAME_WORDS=_words(f_out * ch))
    data.append(_array("int8_t", "bcrnn_conv0_w",
                       _int8(w_pad.reshape(chp, taps4 // 4, 4).transpose(1, 0, 2), "conv0")))  # [quad][map][4]
    data.append(_array("int16_t", "bcrnn_conv0_wk", w_pad[:ch]))  # [map][tap], for the portable kernel
    data.append(_array("int32_t", "bcrnn_conv0_thr", d0 * p["conv0_threshold"]))
    data.append(_array("int32_t", "bcrnn_conv0_wsum128", 128 * w_pad.sum(axis=1)))
    streams = [in_ch * frames * mels, ch * t_out * f_out]
    bits_words, patch_words, rows = [t_out * _words(f_out * ch)], [1], []

    # binary convolutions after the first
    layers = []
    prev_ch, t_in, f_in = ch, t_out, f_out
    for i, (ch, kt, kf, pt, pf) in enumerate(cfg["conv"][1:], start=1):
        if f"conv{i}_weight_bits" not in p:
            raise ModelNotSupported(f"conv{i} has integer weight codes: only the first conv may")
        bits = p[f"conv{i}_weight_bits"].transpose(0, 2, 3, 1).reshape(ch, -1)  # (kt, kf, in) order
        n_bits, d = bits.shape[1], p[f"conv{i}_direction"]
        t_out, f_out = (t_in + 2 * (kt // 2) - kt + 1) // pt, (f_in + 2 * (kf // 2) - kf + 1) // pf
        data.append(_array("uint64_t", f"bcrnn_conv{i}_w", pack_bits(bits), _u64, 4))
        data.append(_array("int32_t", f"bcrnn_conv{i}_thr", d * p[f"conv{i}_threshold"]))
        data.append(_array("int8_t", f"bcrnn_conv{i}_dir", d))
        fields = [ch, prev_ch, kt, kf, pt, pf, t_in, f_in, t_out, f_out, n_bits, _words(n_bits), _words(f_in * prev_ch),
                  _words(f_out * ch)]
        layers.append("{" + ", ".join(map(str, fields)) + f", bcrnn_conv{i}_w, bcrnn_conv{i}_thr, bcrnn_conv{i}_dir}}")
        streams.append(ch * t_out * f_out)
        bits_words.append(t_out * _words(f_out * ch))
        patch_words.append(_words(n_bits))
        rows.append(ch)
        prev_ch, t_in, f_in = ch, t_out, f_out
    defines.update(BCRNN_BCONV_LAYERS=len(layers), BCRNN_BCONV_SLOTS=max(len(layers), 1))
    data.append("const bcrnn_bconv_layer bcrnn_bconv[BCRNN_BCONV_SLOTS] = {\n    "
                + (",\n    ".join(layers) if layers else "{0}") + "\n};\n")
    steps = t_in
    if steps != meta["time_steps"]:
        raise ModelNotSupported(f"the convolutions give {steps} time steps, the model says {meta['time_steps']}")

    # per-frame dense layer
    dense_bits = p["dense_weight_bits"]
    dense, dense_in = dense_bits.shape
    if dense_in != f_in * prev_ch:
        raise ModelNotSupported(f"the dense layer takes {dense_in} bits, the last conv gives {f_in * prev_ch}")
    data.append(_array("uint64_t", "bcrnn_dense_w", pack_bits(dense_bits), _u64, 4))
    data.append(_array("int32_t", "bcrnn_dense_thr", p["dense_direction"] * p["dense_threshold"]))
    data.append(_array("int8_t", "bcrnn_dense_dir", p["dense_direction"]))
    defines.update(BCRNN_T=steps, BCRNN_DENSE_IN=dense_in, BCRNN_DENSE=dense, BCRNN_DENSE_WORDS=_words(dense_in),
                   BCRNN_X_WORDS=_words(dense))

    # BiLSTM: rows [i | f | g | o] x H over [x_t | h_t-1]; forward direction then backward
    lstm_w = np.stack([p[f"lstm_{d}_weight_bits"] for d in ("fwd", "bwd")])
    mult = np.stack([p[f"lstm_{d}_mult"] for d in ("fwd", "bwd")])
    offset = np.stack([p[f"lstm_{d}_offset"] for d in ("fwd", "bwd")])
    hidden, n = lstm_w.shape[1] // 4, lstm_w.shape[2]
    if n != dense + hidden:
        raise ModelNotSupported(f"LSTM rows of {n} bits, expected {dense} + {hidden}")
    _check_int32(np.abs(mult).max() * n + np.abs(offset).max() + 2 ** (fmt.scale_frac - 1), "an LSTM accumulator")
    data.append(_array("uint64_t", "bcrnn_lstm_w", pack_bits(lstm_w), _u64, 4))
    data.append(_array("int32_t", "bcrnn_lstm_mult", mult))
    data.append(_array("int32_t", "bcrnn_lstm_offset", offset))
    data.append(_array("int16_t", "bcrnn_sigmoid", sigmoid_table(fmt)))
    data.append(_array("int16_t", "bcrnn_tanh", tanh_table(fmt)))
    defines.update(BCRNN_HIDDEN=hidden, BCRNN_POOL=2 * hidden, BCRNN_LSTM_N=n, BCRNN_LSTM_WORDS=_words(n),
                   BCRNN_H_WORDS=_words(hidden), BCRNN_LSTM_K=fmt.scale_frac, BCRNN_LSTM_G=fmt.gate_bits,
                   BCRNN_LSTM_S=fmt.product_shift, BCRNN_LSTM_LO=-(2 ** (fmt.pre_bits - 1)),
                   BCRNN_LSTM_HI=2 ** (fmt.pre_bits - 1) - 1, BCRNN_LSTM_LEVELS=2**fmt.pre_bits,
                   BCRNN_CELL_MIN=-(fmt.cell_max + 1), BCRNN_CELL_MAX=fmt.cell_max)
    streams += [steps * dense, steps * 2 * hidden]
    rows += [dense, 4 * hidden]

    # head: FC on the time sums, output layer's fixed-point affine
    fc_w = layer_weights(p, "fc")
    out_w = layer_weights(p, "out")
    _check_int32(steps * np.abs(fc_w).sum(axis=1).max(), "an FC accumulator")
    _check_int32((np.abs(p["out_mult"]) * np.abs(out_w).sum(axis=1) + np.abs(p["out_offset"])).max(), "a logit")
    data.append(_array("int8_t", "bcrnn_fc_w", _int8(fc_w, "fc")))
    data.append(_array("int32_t", "bcrnn_fc_thr", p["fc_direction"] * p["fc_threshold"]))
    data.append(_array("int8_t", "bcrnn_fc_dir", p["fc_direction"]))
    data.append(_array("int8_t", "bcrnn_out_w", _int8(out_w, "out")))
    data.append(_array("int32_t", "bcrnn_out_mult", p["out_mult"]))
    data.append(_array("int32_t", "bcrnn_out_offset", p["out_offset"]))
    classes = tuple(meta["classes"])
    defines.update(BCRNN_FC=fc_w.shape[0], BCRNN_CLASSES=len(classes))
    streams += [2 * hidden, fc_w.shape[0], len(classes)]

    # front end: class names and normalization statistics (not used by the integer path)
    data.append("const char *const bcrnn_classes[BCRNN_CLASSES] = {" + ", ".join(map(_c_string, classes)) + "};\n")
    data.append(_array("float", "bcrnn_norm_mean", p["norm_mean"], _float, 8))
    data.append(_array("float", "bcrnn_norm_std", p["norm_std"], _float, 8))
    data.append(f'const char bcrnn_model_sha256[] = "{sha}";\n')
    defines.update(BCRNN_BITS_WORDS=max(bits_words), BCRNN_BPATCH_WORDS=max(patch_words), BCRNN_MAX_ROWS=max(rows),
                   BCRNN_TRACE_MAX=max(streams))
    defines["BCRNN_NORMALIZATION"] = f'"{ref.normalization}"'
    for value in p["norm_mean"].shape, p["norm_std"].shape:
        if int(np.prod(value)) != in_ch * mels:
            raise ModelNotSupported(f"normalization statistics of shape {value}, expected ({in_ch}, 1, {mels})")

    width = max(map(len, defines))
    header = (SRC / "bcrnn_model.h.in").read_text().replace("@SHA256@", sha).replace(
        "@DEFINES@", "\n".join(f"#define {k:<{width}} {v}" for k, v in defines.items()))
    source = (f"/* bcrnn_model.c: generated by `bcrnn export-c` from a model.packed.npz (sha256 {sha}); do not "
              f"edit. */\n#include \"bcrnn.h\"\n\n" + "\n".join(data))
    return CModel(header, source, sha, classes, (in_ch, frames, mels))


def engine_sources() -> dict[str, str]:
    """The fixed engine: bcrnn.h and bcrnn.c."""
    return {name: (SRC / name).read_text() for name in ENGINE_FILES}


def write_sources(model: CModel, out: str | Path) -> list[Path]:
    """The four files of a standalone engine for `model` in folder `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {**engine_sources(), "bcrnn_model.h": model.header, "bcrnn_model.c": model.source}
    for name, text in files.items():
        (out / name).write_text(text)
    return [out / name for name in files]


def main(argv=None, prog: str | None = None) -> int:
    from bcrnn.run_folder import RunFolderError, packed_model

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                epilog="docs/c_engine.md: the API, the kernels and their compiler flags")
    p.add_argument("run", help="run folder (or one of its fold folders), or a model.packed.npz file")
    p.add_argument("--out", required=True, help="folder for bcrnn.h, bcrnn.c, bcrnn_model.h, bcrnn_model.c")
    args = p.parse_args(argv)
    try:
        model = generate(packed_model(args.run))
    except ModelNotSupported as err:
        print(f"error: the C engine cannot represent this model exactly: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, RunFolderError) as err:  # missing, truncated, foreign
        print(f"error: cannot load the model: {err}", file=sys.stderr)
        return 2
    files = write_sources(model, args.out)
    for f in files:
        print(f"{f}  ({f.stat().st_size:,} bytes)")
    print(f"model sha256 {model.sha256}; {len(model.classes)} classes; input {'x'.join(map(str, model.input_shape))}"
          f" int8 codes per segment")
    print(f"build: gcc -std=c99 -O2 [-march=native | -mavx2 -mpopcnt | -DBCRNN_PORTABLE] -c {args.out}/bcrnn.c "
          f"{args.out}/bcrnn_model.c")
    return 0


if __name__ == "__main__":
    sys.exit(main())
