"""Shared by the tests of the network's head in hw/rtl/ (time_sum, int_mvu, output_argmax): the real streams of a
small-preset model, stand-in packed models with chosen sizes, and one call that packs inputs and expected outputs
as hex words, runs a block's bench (sim/bench_head.py) and returns what it reported."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from bcrnn.reference.model import ReferenceBCRNN, quantize_features
from bcrnn.rtl.memfile import pack_word

ROOT = Path(__file__).resolve().parents[1]
HW_RTL = ROOT / "hw" / "rtl"
BUILD = ROOT / "build" / "sim" / "head"


def hexwords(words) -> np.ndarray:
    return np.array([f"{int(w):x}" for w in words])


def sv_parameters(params: dict) -> dict:
    """Strings (ROM paths) as SystemVerilog string literals, as Icarus' -P and Verilator's -G want them."""
    return {k: json.dumps(v) if isinstance(v, str) else v for k, v in params.items()}


def build_dir(top: str, params: dict) -> Path:
    """One build directory per block and parameter set: the cocotb runner rebuilds Icarus only when a source
    changes, not when a parameter does."""
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    return BUILD / f"{top}_{key}"


def rom_dir(top: str, tag: str) -> Path:
    return BUILD / "roms" / f"{top}_{tag}"


def run_head_bench(sim: str, top: str, params: dict, frames, expected, stall=(0.3, 0.3), reset_after: int = 3,
                   seed: int = 0) -> dict:
    """frames: (V, B) input words (B beats per frame); expected: output words. Returns the bench's report."""
    from sim.runner import run_bench

    frames = np.asarray([[int(w) for w in f] for f in frames], dtype=object)
    data = {"frames": np.array([[f"{w:x}" for w in f] for f in frames]), "expected": hexwords(expected),
            "stall": np.asarray(stall, np.float64), "reset_after": np.asarray(reset_after),
            "seed": np.asarray(seed)}
    return run_bench(sim, top, [HW_RTL / f"{top}.sv"], "sim.bench_head", parameters=sv_parameters(params),
                     build_dir=build_dir(top, params), data=data)


def vector_timing(report: dict, beats: int) -> tuple[set[int], set[int]]:
    """From a back-to-back run: the intervals between the first beats of consecutive frames and the latencies
    from each frame's last input beat to its output beat (one output beat per frame)."""
    cin, cout = report["in_cycles"], report["out_cycles"]
    firsts, lasts = cin[::beats], cin[beats - 1::beats]
    assert len(lasts) == len(cout), (len(cin), len(cout))
    return {b - a for a, b in zip(firsts, firsts[1:])}, {o - i for i, o in zip(lasts, cout)}


def small_preset_streams(emodb_segments, seed: int = 0) -> tuple[dict, dict]:
    """A small-preset BCRNN with calibrated batch norm (conftest.trained_like) and the reference's boundary
    streams of every segment: (packed arrays, {name: stacked array (segments, ...)})."""
    from bcrnn.packing import pack_model
    from conftest import trained_like

    fs, norm, x = emodb_segments
    packed = pack_model(trained_like({}, x, seed=seed, preset="small"), norm.to_dict(), fs.classes,
                        fs.config.__dict__)
    ref = ReferenceBCRNN.from_arrays(packed)
    traces = [ref.forward(quantize_features(s), trace=True)[1] for s in x]
    return packed, {k: np.stack([t[k] for t in traces]) for k in ("lstm", "pool", "fc", "logits")}


def stand_in_packed(rng: np.random.Generator, n: int, mh: int, classes: int, steps: int) -> dict:
    """Head arrays of a made-up model: FC n -> mh (thresholds anywhere in the accumulator range, some clipped to
    constant bits, both directions) and the output layer mh -> classes (multipliers of both signs and zero)."""
    acc = n * steps
    t = rng.integers(-acc // 3, acc // 3 + 1, mh)
    t[:2] = [-acc - 1, acc + 1]  # a constant channel each way (as fold_threshold clips them)
    return {
        "fc_weight_bits": rng.integers(0, 2, (mh, n)).astype(np.uint8),
        "fc_threshold": t,
        "fc_direction": rng.choice([-1, 1], mh),
        "out_weight_bits": rng.integers(0, 2, (classes, mh)).astype(np.uint8),
        "out_mult": np.concatenate([[0], rng.integers(-5000, 5000, classes - 1)]),
        "out_offset": rng.integers(-3000, 3000, classes),
        "meta": json.dumps({"time_steps": steps}),
    }


def pack_rows(rows, width: int) -> list[int]:
    return [pack_word(r, width) for r in np.asarray(rows)]
