"""The generated C engine vs the numba packed engine vs PyTorch float32 inference of the same network, single thread.

    python benchmarks/c_engine_speed.py RUN_DIR [--data-dir PATH] [--repeats 5] [--kernel auto]

For each utterance of the run's first-fold test speaker, interleaved (benchmarks/engine_speed.py): the C engine
(bcrnn.c_engine.CEngine: model.packed.npz through `bcrnn export-c`, gcc -O3, one ctypes call per segment), the
numba packed engine (bcrnn.engine) and the full-precision CRNN of the run's architecture in PyTorch float32. Features
are computed once beforehand; every implementation gets the z-scored segments. Prints the CPU, ms per segment
(median over utterances of the best time / segments), the ratios, and that the two integer engines agree.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single thread for numpy's BLAS and torch too
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_speed import cpu_name, float_crnn, interleaved, speaker_utterances, torch_fn  # noqa: E402


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

    torch.set_num_threads(1)
    run, bcrnn, ckpt, utts = speaker_utterances(args.run_dir, args.data_dir)
    c_engine = CEngine(run.packed, kernel=args.kernel)
    numba_engine = PackedEngine.load(run.packed)
    crnn = float_crnn(bcrnn, ckpt)
    agree = all(np.array_equal(c_engine.logits(u), numba_engine.logits(u)) for u in utts)  # also warms up numba
    with torch.no_grad():
        crnn(torch.from_numpy(utts[0]))
    fns = {"c": c_engine.logits, "numba": numba_engine.logits, "torch": torch_fn(crnn)}
    best = interleaved(fns, utts, args.repeats)
    n_seg = np.array([len(u) for u in utts])
    ms = {k: 1e3 * float(np.median(np.asarray(v) / n_seg)) for k, v in best.items()}
    print(f"CPU: {cpu_name()}; single thread; C kernel {c_engine.kernel} (gcc -O3, {c_engine.library.parent.name})")
    print(f"{len(utts)} utterances of test speaker {ckpt['fold']['test']} ({n_seg.sum()} segments, "
          f"{n_seg.mean():.2f} each), implementations interleaved, best of {args.repeats} per utterance, median over "
          f"utterances of ms per segment")
    print(f"{'implementation':<50} {'ms/segment':>10} {'time / C':>10}")
    for key, name in (("c", f"C engine ({c_engine.kernel}), ctypes, no torch"),
                      ("numba", "numba packed engine (bcrnn.engine), no torch"),
                      ("torch", "PyTorch float32 CRNN (same architecture)")):
        print(f"{name:<50} {ms[key]:>10.3f} {ms[key] / ms['c']:>9.2f}x")
    print(f"time ratios (above 1: the C engine is faster): numba / C {ms['numba'] / ms['c']:.2f}, PyTorch float32 / C "
          f"{ms['torch'] / ms['c']:.2f}; C and numba logits equal on every segment: {agree}")


if __name__ == "__main__":
    main()
