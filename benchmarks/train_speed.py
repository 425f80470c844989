"""Training cost per epoch of each model and preset on an Emo-DB-sized fold, and the projected 10-fold time.

    python benchmarks/train_speed.py [--threads 2] [--segments 650] [--epochs-per-fold 20] [--presets small wide]
    python benchmarks/train_speed.py --threads 1 --epochs-per-fold 30 --presets small wide --compare-lstm-backward
    python benchmarks/train_speed.py --threads 1 --epochs-per-fold 30 --presets wide --gradient-precision bfloat16

Random inputs of the real shape (3 x 300 x 40), the real batch size and optimizer; prints seconds per epoch
(training + one validation pass) and the projection for 10 folds at the given mean epoch count.
--gradient-precision bfloat16 times the binary layers' backward products in bfloat16 (training's
`--gradient-precision bfloat16`). --compare-lstm-backward adds a BCRNN row with the binary LSTM's
straight-through gradients derived by autograd (`fixed_point_recurrence_autograd`, the specification) instead of
the hand-written backward that training uses.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bcrnn.models.binary_lstm as binary_lstm  # noqa: E402
from bcrnn.models import build_model  # noqa: E402
from bcrnn.models.bipolar import GRADIENT_PRECISIONS, gradient_precision  # noqa: E402


def seconds_per_epoch(kind: str, preset: str, segments: int, batch: int, timed_batches: int) -> float:
    torch.manual_seed(0)
    model = build_model(kind, preset, 7)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 3, 300, 40)
    y = torch.randint(0, 7, (batch,))
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), y)  # warm-up
    loss.backward()
    t0 = time.perf_counter()
    for _ in range(timed_batches):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.clip_weights()
    per_batch = (time.perf_counter() - t0) / timed_batches
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        model(torch.randn(64, 3, 300, 40))
        per_eval_segment = (time.perf_counter() - t0) / 64
    return per_batch * segments / batch + per_eval_segment * 70  # + one validation speaker (~60 utterances)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--segments", type=int, default=650, help="training segments per fold (Emo-DB: ~630-700)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--timed-batches", type=int, default=5)
    p.add_argument("--epochs-per-fold", type=float, default=20.0, help="mean epochs run per fold (early stopping)")
    p.add_argument("--presets", nargs="+", default=["small", "paper"])
    p.add_argument("--gradient-precision", choices=tuple(GRADIENT_PRECISIONS), default="float32",
                   help="precision of the binary layers' backward products (training's --gradient-precision)")
    p.add_argument("--compare-lstm-backward", action="store_true",
                   help="also time the BCRNN with autograd's derivation of the binary LSTM's backward")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.segments} segments per epoch, "
          f"batch {args.batch_size}, {args.epochs_per_fold:g} epochs per fold, "
          f"{args.gradient_precision} backward products of the binary layers")
    print(f"{'model':<7} {'preset':<7} {'params':>10} {'s/epoch':>9} {'10 folds (min)':>15}")
    hand_written = binary_lstm._fixed_point_recurrence
    for preset in args.presets:
        rows = [("crnn", "crnn", hand_written), ("bcrnn", "bcrnn", hand_written)]
        if args.compare_lstm_backward:
            rows.append(("bcrnn", "bcrnn, LSTM backward by autograd", binary_lstm.fixed_point_recurrence_autograd))
        for kind, label, recurrence in rows:
            binary_lstm._fixed_point_recurrence = recurrence
            n = build_model(kind, preset, 7).n_parameters()
            with gradient_precision(args.gradient_precision):
                s = seconds_per_epoch(kind, preset, args.segments, args.batch_size, args.timed_batches)
            print(f"{kind:<7} {preset:<7} {n:>10,} {s:>9.1f} {10 * args.epochs_per_fold * s / 60:>15.0f}"
                  + (f"  ({label})" if label != kind else ""))
        binary_lstm._fixed_point_recurrence = hand_written


if __name__ == "__main__":
    main()
