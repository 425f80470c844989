"""Packed 1-bit CPU engine vs PyTorch float32 inference of the same network, single thread.

    python benchmarks/engine_speed.py RUN_DIR [--data-dir PATH] [--repeats 5]

For each utterance of the run's first-fold test speaker: the packed engine (model.packed.npz, numpy + numba,
no torch) and PyTorch float32 inference of the same architecture (the full-precision CRNN of the run's preset:
fused nn.LSTM, the fastest float baseline; and the trained Brevitas BCRNN in eval mode). Features are computed
once beforehand: the figures are model latency. Prints median per-utterance latency, speed-up and weight bytes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single thread for numpy's BLAS too
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _timed(fn, item) -> float:
    t0 = time.perf_counter()
    fn(item)
    return time.perf_counter() - t0


def cpuinfo(key: str) -> str | None:
    """The first value of `key` in Linux's /proc/cpuinfo (None elsewhere, or without it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    import platform

    return cpuinfo("model name") or platform.processor() or platform.machine()


def speaker_utterances(run_dir, data_dir=None):
    """(run, trained BCRNN, checkpoint, [normalized (segments, 3, frames, mels) of each utterance of the run's
    first-fold test speaker]); features computed once beforehand, so timings are model latency."""
    from bcrnn.features import FeatureConfig, Normalizer
    from bcrnn.run_folder import FEATURE_CACHE, RunFolder

    run = RunFolder.open(run_dir)
    bcrnn, ckpt = run.load_model()
    fs = run.features(data_dir, FEATURE_CACHE, progress=False, feature_config=FeatureConfig(**ckpt["feature_config"]))
    norm = Normalizer.from_dict(ckpt["normalizer"])
    return run, bcrnn, ckpt, [norm.normalized_segments(fs, [i])[0] for i in fs.select([ckpt["fold"]["test"]])]


def float_crnn(bcrnn, ckpt):
    """The full-precision CRNN of the BCRNN's architecture (fused nn.LSTM): the float32 baseline."""
    from bcrnn.models import build_model

    return build_model("crnn", bcrnn.cfg, ckpt["n_classes"]).eval()


def torch_fn(model):
    """Segment posteriors of one utterance, averaged, by a torch model in inference mode."""
    import torch

    def run_model(x):
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(x)), 1).mean(0)
    return run_model


def interleaved(fns: dict, items, repeats: int, limits: dict | None = None) -> dict:
    """name -> the best of `repeats` timings (of limits[name] where given) per item: implementations interleaved
    per item, so that drifts of the machine's speed hit all of them alike."""
    limits = limits or {}
    best = {k: [] for k in fns}
    for item in items:
        times = {k: [] for k in fns}
        for r in range(repeats):
            for k, fn in fns.items():
                if r < limits.get(k, repeats):
                    times[k].append(_timed(fn, item))
        for k in fns:
            best[k].append(min(times[k]))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--data-dir")
    p.add_argument("--repeats", type=int, default=5, help="timings per utterance (the best one counts)")
    args = p.parse_args()
    import torch

    from bcrnn.engine import PackedEngine

    torch.set_num_threads(1)
    run, bcrnn, ckpt, utts = speaker_utterances(args.run_dir, args.data_dir)

    engine = PackedEngine.load(run.packed)
    engine.logits(utts[0])  # compile the numba kernels
    crnn = float_crnn(bcrnn, ckpt)  # the same architecture in float32
    with torch.no_grad():
        crnn(torch.from_numpy(utts[0]))
    fns = {"engine": engine.logits, "crnn": torch_fn(crnn), "bcrnn": torch_fn(bcrnn)}
    best = interleaved(fns, utts, args.repeats, {"bcrnn": 2})
    t_engine, t_crnn, t_bcrnn = (float(np.median(best[k])) for k in ("engine", "crnn", "bcrnn"))
    from bcrnn.reference.packed_file import weight_bytes

    file_bytes = run.packed.stat().st_size
    packed_bytes = weight_bytes(run.packed)
    float_bytes = 4 * sum(t.numel() for t in crnn.state_dict().values() if t.dtype.is_floating_point)
    n_seg = [len(u) for u in utts]
    print(f"{len(utts)} utterances of test speaker {ckpt['fold']['test']} ({np.mean(n_seg):.2f} segments each), "
          f"single thread, implementations interleaved, best of {args.repeats} per utterance (Brevitas: of 2), "
          f"median over utterances")
    print(f"{'implementation':<46} {'ms/utterance':>12} {'weights (bytes)':>16}")
    print(f"{'packed 1-bit engine (numpy + numba, no torch)':<46} {1e3 * t_engine:>12.2f} {packed_bytes:>16,}")
    print(f"{'PyTorch float32 CRNN (same architecture)':<46} {1e3 * t_crnn:>12.2f} {float_bytes:>16,}")
    print(f"{'PyTorch Brevitas BCRNN, eval mode':<46} {1e3 * t_bcrnn:>12.2f} {'':>16}")
    print(f"speed-up vs float32 CRNN: {t_crnn / t_engine:.2f}x; weights {float_bytes / packed_bytes:.1f}x smaller "
          f"({packed_bytes:,} bytes of packed parameters; model.packed.npz with metadata and normalizer "
          f"{file_bytes:,} bytes, {float_bytes / file_bytes:.1f}x)")


if __name__ == "__main__":
    main()
