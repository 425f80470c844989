"""The generated C engine vs the numba packed engine vs the float32 CRNN in PyTorch and in onnxruntime, single thread.

    python benchmarks/c_engine_speed.py RUN_DIR [--data-dir PATH] [--repeats 5] [--kernel auto]

For each utterance of the run's first-fold test speaker, interleaved (benchmarks/engine_speed.py): the C engine
(bcrnn.c_engine.CEngine: model.packed.npz through `bcrnn export-c`, gcc -O3, one ctypes call per segment), the
numba packed engine (bcrnn.engine), and the full-precision CRNN of the run's architecture in PyTorch float32 and
exported to ONNX, run by onnxruntime (what a user would deploy instead; all graph optimizations, one thread). Features
are computed once beforehand; every implementation gets the z-scored segments. Prints the CPU, ms per segment
(median over utterances of the best time / segments), the ratios, that the two integer engines agree and that
onnxruntime computes PyTorch's logits, and the physical floor of the 1-bit network on this CPU: its MACs over the
widest instructions' rates (64 int8 x 1-bit MACs per VPDPBUSD, 512 binary MACs per VPOPCNTQ, one per cycle) at the
clock /proc/cpuinfo names; an estimate from instruction counts, not a measurement.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single thread for numpy's BLAS and torch too
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import warnings  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_speed import cpu_name, cpuinfo, float_crnn, interleaved, speaker_utterances, torch_fn  # noqa: E402

INT8_MACS_PER_CYCLE = 64     # one 512-bit VPDPBUSD: 16 lanes x 4 int8 products
BINARY_MACS_PER_CYCLE = 512  # one 512-bit VPOPCNTQ over XORed weights and activations


def network_macs(meta: dict) -> tuple[int, int]:
    """(int8 x 1-bit MACs of the first conv, binary MACs of every other conv, the dense layer and the BiLSTM) per
    segment, from the packed model's architecture (the FC and output layers are negligible)."""
    cfg = meta["model_config"]
    frames, bands, channels = cfg["segment_frames"], cfg["n_mels"], 3
    int8_macs = binary_macs = 0
    for i, (maps, kt, kf, pt, pf) in enumerate(cfg["conv"]):
        macs = channels * kt * kf * maps * frames * bands  # "same" padding: one output per input pixel
        int8_macs, binary_macs = (int8_macs + macs, binary_macs) if i == 0 else (int8_macs, binary_macs + macs)
        frames, bands, channels = frames // pt, bands // pf, maps
    binary_macs += frames * bands * channels * cfg["dense"]
    binary_macs += 2 * frames * 4 * cfg["lstm_hidden"] * (cfg["dense"] + cfg["lstm_hidden"])
    return int8_macs, binary_macs


def cpu_mhz() -> float | None:
    """The clock /proc/cpuinfo reports (the nominal or current one, not the turbo peak)."""
    try:
        return float(cpuinfo("cpu MHz"))
    except (TypeError, ValueError):
        return None


def onnx_crnn(crnn, example: np.ndarray, folder: Path):
    """The float CRNN exported to ONNX (the TorchScript exporter, batch axis dynamic) and an onnxruntime session on
    one thread with every graph optimization."""
    import onnxruntime as ort
    import torch

    path = folder / "crnn.onnx"
    with warnings.catch_warnings():  # the exporter's notes on the LSTM's batch axis, harmless here
        warnings.simplefilter("ignore")
        torch.onnx.export(crnn, torch.from_numpy(example), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "segments"}, "logits": {0: "segments"}}, opset_version=17,
                          dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_fn(session):
    """Segment posteriors of one utterance, averaged, by onnxruntime (as torch_fn)."""
    def run_model(x):
        z = session.run(None, {"x": x})[0]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).mean(0)
    return run_model


def main() -> None:
    from bcrnn.c_engine import KERNELS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--data-dir")
    p.add_argument("--repeats", type=int, default=5, help="timings per utterance (the best one counts)")
    p.add_argument("--kernel", default="auto", choices=("auto", *KERNELS), help="the C engine's kernel variant")
    args = p.parse_args()
    import torch

    from bcrnn.c_engine import CEngine
    from bcrnn.engine import PackedEngine

    import tempfile

    torch.set_num_threads(1)
    run, bcrnn, ckpt, utts = speaker_utterances(args.run_dir, args.data_dir)
    c_engine = CEngine(run.packed, kernel=args.kernel)
    numba_engine = PackedEngine.load(run.packed)
    crnn = float_crnn(bcrnn, ckpt)
    agree = all(np.array_equal(c_engine.logits(u), numba_engine.logits(u)) for u in utts)  # also warms up numba
    with tempfile.TemporaryDirectory() as tmp:
        session = onnx_crnn(crnn, utts[0], Path(tmp))
    with torch.no_grad():
        ort_error = max(float(np.abs(session.run(None, {"x": u})[0] - crnn(torch.from_numpy(u)).numpy()).max())
                        for u in utts)
    fns = {"c": c_engine.logits, "numba": numba_engine.logits, "torch": torch_fn(crnn), "ort": ort_fn(session)}
    best = interleaved(fns, utts, args.repeats)
    n_seg = np.array([len(u) for u in utts])
    ms = {k: 1e3 * float(np.median(np.asarray(v) / n_seg)) for k, v in best.items()}
    print(f"CPU: {cpu_name()}; single thread; C kernel {c_engine.kernel} (gcc -O3, {c_engine.library.parent.name})")
    print(f"{len(utts)} utterances of test speaker {ckpt['fold']['test']} ({n_seg.sum()} segments, "
          f"{n_seg.mean():.2f} each), implementations interleaved, best of {args.repeats} per utterance, median over "
          f"utterances of ms per segment")
    print(f"{'implementation':<56} {'ms/segment':>10} {'time / C':>10}")
    for key, name in (("c", f"C engine ({c_engine.kernel}), ctypes, no torch"),
                      ("numba", "numba packed engine (bcrnn.engine), no torch"),
                      ("torch", "PyTorch float32 CRNN (same architecture)"),
                      ("ort", f"onnxruntime {__import__('onnxruntime').__version__} float32 CRNN (ONNX export)")):
        print(f"{name:<56} {ms[key]:>10.3f} {ms[key] / ms['c']:>9.2f}x")
    print(f"time ratios (above 1: the C engine is faster): numba / C {ms['numba'] / ms['c']:.2f}, PyTorch float32 / C "
          f"{ms['torch'] / ms['c']:.2f}, onnxruntime / C {ms['ort'] / ms['c']:.2f}; C and numba logits equal on every "
          f"segment: {agree}; onnxruntime vs PyTorch logits: max |difference| {ort_error:.2e}")
    int8_macs, binary_macs = network_macs(c_engine.meta)
    mhz = cpu_mhz()
    if mhz:
        floor_ms = (int8_macs / INT8_MACS_PER_CYCLE + binary_macs / BINARY_MACS_PER_CYCLE) / (mhz * 1e3)
        print(f"physical floor (estimate): {int8_macs / 1e6:.1f} M int8 x 1-bit MACs / {INT8_MACS_PER_CYCLE} + "
              f"{binary_macs / 1e6:.1f} M binary MACs / {BINARY_MACS_PER_CYCLE} per cycle at {mhz:.0f} MHz "
              f"(/proc/cpuinfo) = {floor_ms:.3f} ms/segment; the C engine is {ms['c'] / floor_ms:.1f}x above it")
    else:
        print("physical floor: no clock in /proc/cpuinfo, not computed")


if __name__ == "__main__":
    main()
