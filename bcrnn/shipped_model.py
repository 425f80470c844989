"""The model that ships in the package (bcrnn/pretrained/): a trained Emo-DB BCRNN, so `bcrnn predict` works right
after the install, and its golden vectors, so a hardware build or a port can be checked without training.

    bcrnn/pretrained/emodb_bcrnn.packed.npz   the packed integer model (numpy only)
    bcrnn/pretrained/emodb_bcrnn.golden.npz   real Emo-DB segments' int8 codes in, every layer boundary out
    bcrnn/pretrained/emodb_bcrnn.md           the model card: training speakers, protocol, UAR

The golden file holds `codes` (N, 3, frames, mels) int8 and, per boundary of `ReferenceBCRNN.forward(trace=True)`
(conv0, dense, lstm, pool, fc, logits), `out_<boundary>` stacked over the N segments, plus `label` (first argmax).

    python -m bcrnn.shipped_model RUN [--segments 4]   # write the three files from a trained run's first fold
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
MODEL = PRETRAINED / "emodb_bcrnn.packed.npz"
GOLDEN = PRETRAINED / "emodb_bcrnn.golden.npz"
CARD = PRETRAINED / "emodb_bcrnn.md"


def golden_vectors(model, codes: np.ndarray) -> dict:
    """Every layer boundary of the integer reference for each segment's int8 codes (N, 3, frames, mels)."""
    traces = [model.forward(c, trace=True)[1] for c in codes]
    out = {"codes": np.asarray(codes, np.int8)}
    for name in traces[0]:
        if name != "input":
            out[f"out_{name}"] = np.stack([t[name] for t in traces])
    out["label"] = out["out_logits"].argmax(axis=1)
    return out


def check_golden(model, golden) -> int:
    """Recompute every boundary from the golden codes; the number of values compared, ValueError at the first
    boundary that differs."""
    fresh = golden_vectors(model, np.asarray(golden["codes"]))
    compared = 0
    for name, value in fresh.items():
        expected = np.asarray(golden[name])
        if expected.shape != value.shape or not np.array_equal(expected, value):
            bad = np.argwhere(expected != value)[:3].tolist() if expected.shape == value.shape else "shape"
            raise ValueError(f"golden vectors: {name} differs (first at {bad})")
        compared += value.size if name != "codes" else 0
    return compared


def model_card(run, classes: list[str], metrics: dict, fold: dict, recipe: str | None = None) -> str:
    """The card: what was trained on what, how it was scored (the shipped fold, and its recipe over all the folds
    of the run), and how to use it."""
    exp = run.experiment
    test = fold.get("test_integer", fold["test"])
    made = (f"the recipe `{recipe}` (`bcrnn reproduce {recipe}`), seed {exp.get('seed')}" if recipe else
            f"`bcrnn train {' '.join(recipe_flags(exp))}`")
    overall = ""
    if metrics.get("n_runs", 0) > 1:
        overall = (f"| the same recipe over its {metrics['n_runs']} speaker folds (each fold's own model, integer "
                   f"reference) | UAR {100 * metrics['uar_mean']:.1f} +- {100 * metrics['uar_std']:.1f} %, WA "
                   f"{100 * metrics['wa_mean']:.1f} +- {100 * metrics['wa_std']:.1f} % |\n")
    return f"""# emodb_bcrnn: the shipped Emo-DB BCRNN

A binarized CRNN (preset `{exp.get('preset')}`: 1-bit conv, dense, BiLSTM and FC weights and activations, int8
features in) that tells 7 emotions of Emo-DB (German acted speech): {', '.join(classes)}.

| | |
|---|---|
| trained on | Emo-DB speakers {', '.join(fold['train_speakers'])} (validation speaker {fold['validation_speaker']}, test speaker {fold['test_speaker']}) |
| normalization | `{exp.get('normalization', 'global')}` ({normalization_text(exp.get('normalization', 'global'))}) |
| made by | {made}: its fold {fold['fold']} |
| test UAR (speaker {fold['test_speaker']}, integer reference) | {100 * test['uar']:.1f} % |
| validation UAR (speaker {fold['validation_speaker']}) | {100 * fold['val_uar']:.1f} % |
{overall}| size | {run.packed.stat().st_size / 1e3:.0f} KB packed (numpy only) |

One speaker's UAR says little on its own: Emo-DB's speakers differ by tens of points; the recipe's figure over
all the speaker folds is what to expect of an unknown speaker. Golden vectors (`emodb_bcrnn.golden.npz`): real
segments of speaker {fold['test_speaker']}, every layer boundary of the integer reference; `python -m
bcrnn.shipped_model --check` recomputes them.
"""


def run_recipe(run) -> str | None:
    """The recipe whose run this is (its folder named <recipe>-s<seed> and its experiment the recipe's), if any."""
    from bcrnn.config import ExperimentConfig
    from bcrnn.recipes import load_recipe
    from bcrnn.train_command import is_recipe_run

    name = run.path.name.rsplit("-s", 1)[0]
    try:
        recipe = load_recipe(name)
        cfg = ExperimentConfig.from_dict(run.experiment)
    except (FileNotFoundError, ValueError, TypeError, KeyError):
        return None
    return name if recipe.kind == "run" and is_recipe_run(recipe, cfg, run.path.parent) else None


def normalization_text(mode: str) -> str:
    return {"global": "the training speakers' statistics: works on one utterance of an unknown speaker",
            "speaker": "each speaker's own statistics: give several utterances of the same speaker",
            "utterance": "each utterance's own statistics: works on one utterance of an unknown speaker"}.get(
        mode, mode)


def recipe_flags(exp: dict) -> list[str]:
    """The flags that made the run, as far as they differ from a plain run: the experiment's and its training's."""
    flat = {k: exp.get(k) for k in ("dataset", "model", "preset", "normalization")} | exp.get("train", {})
    keys = ("dataset", "model", "preset", "normalization", "epochs", "selection", "distill_weight",
            "speaker_batch_norm")
    return [f"--{k.replace('_', '-')} {flat[k]}" for k in keys if flat.get(k) not in (None, False, 0, 0.0)]


def ship(run_dir: Path, segments: int, out_dir: Path = PRETRAINED, data_dir=None) -> dict:
    """Copy the run's first-fold packed model, write golden vectors from its test speaker and the card."""
    from bcrnn.reference.model import ReferenceBCRNN, quantize_features
    from bcrnn.run_folder import RunFolder

    run = RunFolder.open(Path(run_dir).resolve())
    x, speaker, _ = run.test_segments(max(segments, 1), data_dir)
    model = ReferenceBCRNN.load(run.packed)
    golden = golden_vectors(model, np.stack([quantize_features(s) for s in x[:segments]]))
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run.packed, out_dir / MODEL.name)
    np.savez_compressed(out_dir / GOLDEN.name, **golden)
    metrics = json.loads(run.metrics_file.read_text()) if run.metrics_file.is_file() else {}
    fold = run.finished_folds()[0].read_result()  # speakers and validation UAR of the fold whose model ships
    (out_dir / CARD.name).write_text(model_card(run, model.classes, metrics, fold, run_recipe(run)))
    return {"segments": len(golden["codes"]), "speaker": speaker, "values": check_golden(model, golden)}


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, nargs="?", help="a trained BCRNN run to ship (its first fold)")
    p.add_argument("--segments", type=int, default=4, help="golden segments of the test speaker (default 4)")
    p.add_argument("--data-dir", type=Path, help="the corpus, when not where the run was trained")
    p.add_argument("--check", action="store_true", help="recompute the shipped golden vectors and compare")
    args = p.parse_args(argv)
    if args.check or args.run_dir is None:
        from bcrnn.reference.model import ReferenceBCRNN

        values = check_golden(ReferenceBCRNN.load(MODEL), np.load(GOLDEN))
        print(f"{GOLDEN.name}: the integer reference reproduces all {values:,} boundary values")
        return 0
    out = ship(args.run_dir, args.segments, data_dir=args.data_dir)
    print(f"shipped {MODEL.name}, {GOLDEN.name} ({out['segments']} segments of speaker {out['speaker']}, "
          f"{out['values']:,} boundary values) and {CARD.name} in {PRETRAINED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
