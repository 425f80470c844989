"""`bcrnn predict`: the emotion of wav files by the packed integer network (model.packed.npz), on numpy alone (no
torch): what a deployment needs, and nothing more."""

from __future__ import annotations

import argparse
import sys
import zipfile

import numpy as np

from bcrnn.run_folder import RunFolderError, packed_model


def predict(files: list[str], model_dirs: list[str], top: int, engine: str = "reference") -> int:
    """Emotion of each wav file by the integer network; bad files are reported and the others still run. Several
    models (an ensemble, e.g. seeds of one recipe) each score every file and their posteriors are averaged.
    engine: "reference" (numpy) or "c" (the generated C engine, built with gcc on first use; the same integers)."""
    from bcrnn.features import FeatureConfig, Normalizer, log_mel_deltas
    from bcrnn.reference.model import ReferenceBCRNN, ensemble_posteriors
    from bcrnn.speech import read_speech_files

    load = ReferenceBCRNN.load
    if engine == "c":
        from bcrnn.c_engine import CEngine

        load = CEngine
    try:
        models = [load(packed_model(d)) for d in model_dirs]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, RunFolderError) as err:  # missing, truncated, foreign
        print(f"error: cannot load the model: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:  # CEngineError: no compiler, a failed build
        print(f"error: cannot build the C engine: {err}", file=sys.stderr)
        return 2
    ref = models[0]
    for other, name in zip(models[1:], model_dirs[1:]):
        if other.classes != ref.classes or other.meta["feature_config"] != ref.meta["feature_config"]:
            print(f"error: {name} has other classes or features than {model_dirs[0]}: not one ensemble",
                  file=sys.stderr)
            return 2
    cfg = FeatureConfig(**ref.meta["feature_config"])
    speech, failures = read_speech_files(files)
    loaded = [(name, log_mel_deltas(samples, cfg)) for name, samples in speech]
    stats = None
    if any(m.normalization == "speaker" for m in models) and loaded:
        # the model was trained with every speaker z-scored by its own statistics: take them from the files given
        stats = Normalizer.from_features([f for _, f in loaded], "speaker")
        print(f"(speaker normalization: statistics of the {len(loaded)} file(s) given, taken as one speaker; "
              f"give several utterances of the same speaker)", file=sys.stderr)
    for m, name in zip(models, model_dirs):
        if m.meta.get("batch_norm_speaker") is not None:
            print(f"(speaker batch norm: {name}'s thresholds belong to speaker {m.meta['batch_norm_speaker']!r}; "
                  f"for another speaker enrol it first: bcrnn enrol RUN FILES... --out FILE)", file=sys.stderr)
    if len(models) > 1:
        print(f"(ensemble of {len(models)} models: posteriors averaged)", file=sys.stderr)
    for name, features in loaded:
        probs = ensemble_posteriors(models, features, stats)
        order = np.argsort(-probs)
        scores = "  ".join(f"{ref.classes[i]} {probs[i]:.3f}" for i in order[:top])
        print(f"{name}: {ref.classes[order[0]]}  ({scores})")
    return 1 if failures else 0


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    p.add_argument("files", nargs="+")
    p.add_argument("--model", action="append",
                   help="run folder (or a model.packed.npz file); repeat it for an ensemble (posteriors averaged); "
                        "default: the shipped Emo-DB BCRNN (bcrnn/pretrained/emodb_bcrnn.md)")
    p.add_argument("--top", type=int, default=3, help="how many class scores to print")
    p.add_argument("--engine", choices=("reference", "c"), default="reference",
                   help="reference: the numpy integer reference; c: the C engine (bcrnn export-c), built with gcc")
    args = p.parse_args(argv)
    if not args.model:
        from bcrnn.shipped_model import CARD, MODEL

        print(f"(model: the shipped Emo-DB BCRNN, {CARD})", file=sys.stderr)
        args.model = [str(MODEL)]
    return predict(args.files, args.model, args.top, args.engine)


if __name__ == "__main__":
    sys.exit(main())
