"""Train and evaluate the CRNN / BCRNN with speaker-independent cross-validation.

    python training/train.py                                   # built-in synthetic corpus, BCRNN small (smoke test)
    python training/train.py --dataset emodb --data-dir PATH   # Emo-DB, 10 speaker folds
    python training/train.py --config training/configs/emodb_small.yaml --model crnn

Every fold's checkpoints and the reports (metrics.json, confusion.png, curves.png, size.json) land in --out;
--resume continues a killed run where it stopped. --jobs N trains N folds at a time in N processes that share the
run folder (each takes the next fold nobody has claimed; the torch threads are split between them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcrnn.config import DATASETS, load_config  # noqa: E402
from bcrnn.corpora.base import CorpusError  # noqa: E402
from bcrnn.models import PRESETS  # noqa: E402
from bcrnn.models.bipolar import GRADIENT_PRECISIONS  # noqa: E402
from bcrnn.run_folder import FEATURE_CACHE  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML experiment file (training/configs/); flags below override it")
    p.add_argument("--dataset", choices=DATASETS, help="corpus (default: synth, the built-in synthetic one)")
    p.add_argument("--data-dir", help="corpus folder (Emo-DB: its wav files; IEMOCAP: the folder of Session1..5)")
    p.add_argument("--download", action="store_true", help="Emo-DB: download the corpus into --data-dir first")
    p.add_argument("--model", choices=("crnn", "bcrnn"), help="full-precision CRNN or binary BCRNN (default bcrnn)")
    p.add_argument("--preset", choices=tuple(PRESETS), help="model size (default small)")
    p.add_argument("--folds", type=int, help="number of speaker folds (default: one per speaker; synth: 3)")
    p.add_argument("--seeds", type=int, help="repeat every fold with this many seeds (default 1)")
    p.add_argument("--seed", type=int, help="first seed (default 0)")
    p.add_argument("--epochs", type=int, help="epoch budget per fold (default 40; synth: 12)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--patience", type=int, help="early stopping: epochs without better validation UAR")
    p.add_argument("--selection", choices=("best", "last", "average"),
                   help="weights kept per fold: best validation UAR (default), last epoch, or the average of the "
                        "last --average-epochs epochs (no early stopping for the last two)")
    p.add_argument("--average-epochs", type=int, help="selection average: how many final epochs (default 5)")
    p.add_argument("--mixup", type=float, help="mixup Beta(a, a) parameter (default 0 = off)")
    p.add_argument("--time-masks", type=int, help="SpecAugment time masks per training segment (default 0)")
    p.add_argument("--freq-masks", type=int, help="SpecAugment frequency masks per training segment (default 0)")
    p.add_argument("--speed-perturb", type=float,
                   help="speed perturbation of training segments: factors in [1 - s, 1 + s] (default 0 = off)")
    p.add_argument("--speed-perturb-probability", type=float,
                   help="the share of training segments speed-perturbed (default 1)")
    p.add_argument("--speaker-batch-norm", action="store_true", default=None,
                   help="one speaker per training batch, and every scored speaker's batch-norm statistics from its "
                   "own segments (no labels; deployment: per-speaker thresholds)")
    p.add_argument("--validate-every", type=int,
                   help="validate every n-th epoch and after the last (default 1; > 1 only with --selection last "
                        "or average, where validation only monitors)")
    p.add_argument("--gradient-precision", choices=tuple(GRADIENT_PRECISIONS),
                   help="backward products of the binary dense and LSTM layers (default float32; bfloat16: faster "
                        "with AVX512-BF16, forward pass and deployed integers unchanged)")
    p.add_argument("--weight-decay", type=float, help="AdamW decay of full-precision weight matrices (default 0)")
    p.add_argument("--dropout", type=float, help="dropout on the pooled vector (model setting; preset default)")
    p.add_argument("--dense", type=int, help="per-frame dense layer width (model setting; preset default)")
    p.add_argument("--lstm-hidden", type=int, help="LSTM cells per direction (model setting; preset default)")
    p.add_argument("--fc", type=int, help="width of the fully-connected layer before the output (model setting; "
                   "preset default)")
    p.add_argument("--first-conv-weight-bits", type=int,
                   help="BCRNN: weight bits of the first conv (model setting; 1 = binary as the poster, 2-8 = "
                        "integer codes with a scale per map)")
    p.add_argument("--head-weight-bits", type=int,
                   help="BCRNN: weight bits of the FC and output layers (model setting; 1 = binary as the poster, "
                        "2-8 = integer codes with a scale per unit)")
    p.add_argument("--teacher", help="run folder of a model trained on the same folds (e.g. the CRNN) to distil from")
    p.add_argument("--distill-weight", type=float, help="weight of the teacher's soft targets (default 0 = off)")
    p.add_argument("--distill-temperature", type=float, help="softmax temperature of the distillation (default 2)")
    p.add_argument("--init-from-teacher", action="store_true", default=None,
                   help="start each fold's BCRNN from the --teacher run's CRNN weights (same sizes)")
    p.add_argument("--normalization", choices=("global", "speaker"),
                   help="feature z-scoring: training speakers' statistics (global, default) or each speaker's own")
    p.add_argument("--merge-excited", action="store_true", default=None, help="IEMOCAP: excited counts as happy")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--out", help="run folder (default runs/<dataset>-<model>-<preset>, numbered if it exists)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out (default: the latest one)")
    p.add_argument("--jobs", type=int, default=1,
                   help="train this many folds at once, in as many processes sharing the run folder (default 1)")
    p.add_argument("--only-folds", help="train only these fold indices (e.g. 0-4 or 1,3): share a run folder "
                                        "between processes; the last one to finish writes the reports")
    p.add_argument("--cache-dir", default=str(FEATURE_CACHE), help=f"feature cache folder (default {FEATURE_CACHE})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    return p.parse_args(argv)


def default_out(base: Path, resume: bool) -> Path:
    """runs/<name>, runs/<name>-2, ...: a fresh folder, or with --resume the latest existing one."""
    candidates = [base] + [base.with_name(f"{base.name}-{i}") for i in range(2, 1000)]
    existing = [c for c in candidates if c.exists()]
    if resume:
        return existing[-1] if existing else base
    return next(c for c in candidates if not c.exists())


def main(argv=None) -> int:
    args = parse_args(argv)
    overrides = {
        "dataset": args.dataset, "data_dir": args.data_dir, "model": args.model, "preset": args.preset,
        "folds": args.folds, "seeds": args.seeds, "seed": args.seed, "merge_excited": args.merge_excited,
        "threads": args.threads, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "patience": args.patience, "normalization": args.normalization, "selection": args.selection,
        "average_epochs": args.average_epochs, "mixup": args.mixup, "speed_perturb": args.speed_perturb,
        "speed_perturb_probability": args.speed_perturb_probability, "time_masks": args.time_masks,
        "freq_masks": args.freq_masks, "weight_decay": args.weight_decay, "teacher": args.teacher,
        "distill_weight": args.distill_weight, "distill_temperature": args.distill_temperature,
        "init_from_teacher": args.init_from_teacher, "speaker_batch_norm": args.speaker_batch_norm,
        "validate_every": args.validate_every, "gradient_precision": args.gradient_precision,
    }
    try:
        cfg = load_config(args.config, overrides)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    for key in ("first_conv_weight_bits", "head_weight_bits"):
        flag = "--" + key.replace("_", "-")
        if getattr(args, key) is not None and not 1 <= getattr(args, key) <= 8:
            print(f"error: {flag} must be 1 (binary) to 8", file=sys.stderr)
            return 2
        if getattr(args, key) is not None and cfg.model != "bcrnn":
            print(f"error: {flag} applies to the binary model (--model bcrnn)", file=sys.stderr)
            return 2
    # model settings: they join the config's model_overrides
    for key in ("dropout", "dense", "lstm_hidden", "fc", "first_conv_weight_bits", "head_weight_bits"):
        if getattr(args, key) is not None:
            cfg.model_overrides = {**cfg.model_overrides, key: getattr(args, key)}
    out = Path(args.out) if args.out else default_out(Path("runs") / f"{cfg.dataset}-{cfg.model}-{cfg.preset}",
                                                        args.resume)
    print(f"run folder: {out}")
    from bcrnn.experiment import run_experiment  # heavy
    from bcrnn.run_folder import RunFolder, RunFolderError
    from bcrnn.teacher import check_teacher_run

    if args.jobs > 1:
        try:  # the children always resume (to share the folder): whether this call may, is checked here
            check_teacher_run(cfg)
            RunFolder(out).prepare(cfg, args.resume)
        except (RunFolderError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return run_jobs(argv if argv is not None else sys.argv[1:], args.jobs, cfg.threads, out)
    from bcrnn.export import ExportCheckError

    try:
        run_experiment(cfg, out, resume=args.resume, download=args.download, cache_dir=Path(args.cache_dir),
                       progress=not args.no_progress, only_folds=args.only_folds)
    except (CorpusError, RunFolderError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ExportCheckError as err:
        print(f"error: the QONNX export does not compute what the model computes: {err}\n"
              f"(the training reports in {out} are complete; the export is not usable)", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"\ninterrupted: continue with  python training/train.py --out {out} --resume", file=sys.stderr)
        return 130
    return 0


def run_jobs(argv: list[str], jobs: int, threads: int, out: Path) -> int:
    """`jobs` copies of this command on the same run folder (--resume lets them share it; each claims the folds it
    trains, see bcrnn.experiment.run_experiment), torch threads split between them, progress bars off (their
    logs interleave); whichever finishes last with every fold done writes the reports."""
    child = [a for i, a in enumerate(argv) if a != "--jobs" and not a.startswith("--jobs=")
             and not (i > 0 and argv[i - 1] == "--jobs")]
    per_job = max(1, (threads or os.cpu_count() or 1) // jobs)
    child += ["--out", str(out), "--resume", "--threads", str(per_job), "--no-progress"]
    print(f"{jobs} processes, {per_job} torch thread(s) each")
    procs = [subprocess.Popen([sys.executable, __file__, *child]) for _ in range(jobs)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.wait()
        print(f"\ninterrupted: continue with  python training/train.py --out {out} --resume", file=sys.stderr)
        return 130
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
