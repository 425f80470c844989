"""The `bcrnn` command: `predict` (numpy only, from model.packed.npz), `verify` (integer reference against the
Brevitas model in deployment mode, layer by layer) and `enrol` (a model's thresholds from one speaker's files:
speaker batch norm's enrolment, AdaBN for models trained without it)."""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

from bcrnn.run_folder import FEATURE_CACHE, RunFolder, RunFolderError, packed_model


def predict(files: list[str], model_dirs: list[str], top: int) -> int:
    """Emotion of each wav file by the integer network; bad files are reported and the others still run. Several
    models (an ensemble, e.g. seeds of one recipe) each score every file and their posteriors are averaged."""
    from bcrnn.audio import AudioError, read_audio
    from bcrnn.features import FeatureConfig, Normalizer, log_mel_deltas
    from bcrnn.reference.model import ReferenceBCRNN, ensemble_posteriors
    from bcrnn.speech import find_speech

    try:
        models = [ReferenceBCRNN.load(packed_model(d)) for d in model_dirs]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, RunFolderError) as err:  # missing, truncated, foreign
        print(f"error: cannot load the model: {err}", file=sys.stderr)
        return 2
    ref = models[0]
    for other, name in zip(models[1:], model_dirs[1:]):
        if other.classes != ref.classes or other.meta["feature_config"] != ref.meta["feature_config"]:
            print(f"error: {name} has other classes or features than {model_dirs[0]}: not one ensemble",
                  file=sys.stderr)
            return 2
    cfg = FeatureConfig(**ref.meta["feature_config"])
    failures, loaded = 0, []
    for name in files:
        try:
            samples = read_audio(name)
        except AudioError as err:
            print(f"{name}: error: {err}", file=sys.stderr)
            failures += 1
            continue
        check = find_speech(samples)
        if not check.found:  # a result, not an error: nothing here for the model to judge
            print(f"{name}: no speech found ({check.reason()})")
            continue
        loaded.append((name, log_mel_deltas(samples, cfg)))
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


def enrol(run_dir: str, files: list[str], out: str, speaker: str | None) -> int:
    """A model enrolled on one speaker: its batch-norm statistics (and so the integer thresholds) from that
    speaker's own utterances (no labels), packed for `bcrnn predict`. Made for models trained with speaker batch
    norm; on any other BCRNN it is test-time adaptation (AdaBN)."""
    from bcrnn.audio import AudioError, read_audio
    from bcrnn.features import FeatureConfig, Normalizer, log_mel_deltas, segment
    from bcrnn.packing import pack_enrolled
    from bcrnn.reference.packed_file import save_packed

    try:
        run = RunFolder.open(run_dir)
    except RunFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not run.checkpoint.exists():
        print(f"error: {run.model_dir} has no {run.checkpoint.name}: give a finished run or fold", file=sys.stderr)
        return 2
    model, ckpt = run.load_model()
    if ckpt.get("batch_norm_speaker") is None:
        print(f"note: {run_dir} was trained without speaker batch norm: enrolment adapts its thresholds to the speaker "
              "(AdaBN, as `training/ensemble.py --adapt-batch-norm` scores it); its stored model.packed.npz keeps "
              "the training speakers' thresholds", file=sys.stderr)
    cfg = FeatureConfig(**ckpt["feature_config"])
    features = []
    for name in files:
        try:
            features.append(log_mel_deltas(read_audio(name), cfg))
        except AudioError as err:
            print(f"{name}: error: {err}", file=sys.stderr)
            return 2
    norm = Normalizer.from_dict(ckpt["normalizer"]).for_utterances(features)
    x = norm(np.concatenate([segment(f, cfg) for f in features]))
    if len(x) < 2:
        print("error: enrolment needs at least 2 segments of the speaker: give more utterances", file=sys.stderr)
        return 2
    speaker = speaker or f"enrolled on {len(files)} file(s)"
    n_bytes = save_packed(Path(out), pack_enrolled(model, ckpt, x, speaker))
    print(f"{out}: {run_dir} enrolled on {len(files)} file(s) ({len(x)} segments) of speaker {speaker!r}, "
          f"{n_bytes:,} bytes; run `bcrnn predict --model {out}` on that speaker's files")
    return 0


def verify(run_dir: str, data_dir: str | None, speakers: list[str] | None, limit: int | None,
           qonnx_segments: int = 16) -> int:
    """Every segment of the corpus through the deployed Brevitas model and the reference; stop at the first
    differing value and say where it is."""
    import torch

    from bcrnn.corpora.base import CorpusError
    from bcrnn.deploy import DeployedBCRNN
    from bcrnn.features import FeatureConfig, Normalizer
    from bcrnn.reference.model import ReferenceBCRNN, quantize_features

    try:
        run = RunFolder.open(run_dir)  # a run (its model.pt) or one of its folds (best.pt)
    except RunFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not run.checkpoint.exists():
        print(f"error: {run.model_dir} has no {run.checkpoint.name}: give a finished run or fold", file=sys.stderr)
        return 2
    if not run.packed.exists():
        print(f"error: {run.model_dir} has no model.packed.npz: only a BCRNN run has an integer deployment to verify",
              file=sys.stderr)
        return 2
    model, ckpt = run.load_model()
    ref = ReferenceBCRNN.load(run.packed)
    try:
        fs = run.features(data_dir, FEATURE_CACHE, feature_config=FeatureConfig(**ckpt["feature_config"]))
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stored = Normalizer.from_dict(ckpt["normalizer"])
    by_speaker = {}

    def norm_of(i):  # global mode: the stored statistics; speaker mode: those of utterance i's speaker
        if fs.speakers[i] not in by_speaker:
            by_speaker[fs.speakers[i]] = stored.for_speaker(fs, fs.speakers[i])
        return by_speaker[fs.speakers[i]]

    idx = fs.select(speakers) if speakers else np.arange(len(fs.labels))
    if limit:
        idx = idx[:limit]
    if len(idx) == 0:
        print(f"error: no utterance to verify (speakers {speakers}; the corpus has {', '.join(fs.speakers)})",
              file=sys.stderr)
        return 2
    deployed = DeployedBCRNN(model)
    step = 2.0 ** -ref.meta["logit_frac"]
    from tqdm import tqdm

    n_values = n_segments = agree_float = 0
    for i in tqdm(idx, desc="verify", unit="utt"):
        x, _, _ = fs.segments([i])
        x = norm_of(i)(x)
        logits, streams = deployed.forward(torch.from_numpy(x))
        with torch.no_grad():
            float_pred = int(torch.softmax(model(torch.from_numpy(x)), 1).mean(0).argmax())
        utterance_logits = []
        for s in range(len(x)):
            ref_logits, ref_streams = ref.forward(quantize_features(x[s]), trace=True)
            utterance_logits.append(ref_logits)
            for layer, expected in ref_streams.items():
                got = streams[layer][s].numpy()
                if layer == "logits":  # fixed point (2^-16) against float64: equal to within the rounding
                    worst = np.abs(np.asarray(expected) * step - got).max()
                    tolerance = ref.logit_tolerance
                    if worst > tolerance or np.argmax(expected) != np.argmax(got):
                        print(f"MISMATCH at utterance {fs.utt_ids[i]} segment {s} layer logits: reference "
                              f"{np.asarray(expected) * step}, deployed Brevitas model {got}", file=sys.stderr)
                        return 1
                    n_values += got.size
                    continue
                if got.dtype.kind == "f" and layer not in ("input", "pool"):
                    got = (got > 0).astype(np.int64)
                expected = np.asarray(expected, np.int64)
                got = got.astype(np.int64)
                bad = np.argwhere(expected != got)
                if len(bad):
                    where = tuple(bad[0])
                    print(f"MISMATCH at utterance {fs.utt_ids[i]} segment {s} layer {layer} index {where}: "
                          f"reference {expected[where]}, deployed Brevitas model {got[where]}", file=sys.stderr)
                    return 1
                n_values += expected.size
            n_segments += 1
        # the reference's utterance decision, from the logits just computed (as ref.predict_features does)
        agree_float += int(np.argmax(ref.probabilities(np.stack(utterance_logits)).mean(axis=0)) == float_pred)
    print(f"verified {len(idx)} utterances, {n_segments} segments, {n_values:,} values at {len(ref_streams)} layer "
          f"boundaries: reference == deployed Brevitas model everywhere. Float training model makes the same "
          f"decision on {agree_float}/{len(idx)} utterances.")
    return verify_qonnx(model, ref, fs, norm_of, idx, ckpt["classes"], qonnx_segments)


def verify_qonnx(model, ref, fs, norm_of, idx, classes, n_segments: int) -> int:
    """Export afresh and execute the QONNX graph with qonnx on the first `n_segments` verified segments."""
    import tempfile

    from bcrnn.export import ExportCheckError, check_qonnx_against_reference, export_qonnx_model

    if n_segments <= 0:
        return 0
    x = np.concatenate([norm_of(i)(fs.segments([i])[0]) for i in idx[:n_segments]])  # >= 1 segment each
    with tempfile.TemporaryDirectory() as tmp:
        path = export_qonnx_model(model, Path(tmp) / "model.qonnx.onnx", classes)
        try:
            report = check_qonnx_against_reference(path, ref, x[:n_segments])
        except ExportCheckError as err:
            print(f"MISMATCH in the QONNX export: {err}", file=sys.stderr)
            return 1
    print(f"QONNX export executed by qonnx on {report['segments']} segments: the BinaryLSTM node's "
          f"{report['lstm_bits_compared']:,} input and output bits and every prediction equal the reference.")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bcrnn", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("predict", help="emotion of wav files, with the packed integer model (numpy only)")
    pr.add_argument("files", nargs="+")
    pr.add_argument("--model", required=True, action="append",
                    help="run folder (or a model.packed.npz file); repeat it for an ensemble (posteriors averaged)")
    pr.add_argument("--top", type=int, default=3, help="how many class scores to print")
    ve = sub.add_parser("verify", help="reference vs the deployed Brevitas model, layer by layer")
    ve.add_argument("run_dir")
    ve.add_argument("--data-dir", help="corpus folder, if not the one the run used")
    ve.add_argument("--speakers", nargs="+", help="only these speakers (default: every utterance)")
    ve.add_argument("--limit", type=int, help="at most this many utterances")
    ve.add_argument("--qonnx-segments", type=int, default=16,
                    help="segments also run through the exported QONNX graph with qonnx (0: skip)")
    en = sub.add_parser("enrol", help="a model's thresholds from one speaker's own files (speaker batch norm; "
                                      "AdaBN for other models)")
    en.add_argument("run_dir", help="run folder (model.pt) or fold folder (best.pt) of a BCRNN run (trained with "
                                    "--speaker-batch-norm, or any: AdaBN)")
    en.add_argument("files", nargs="+", help="wav files of one speaker (several utterances, ideally varied)")
    en.add_argument("--out", required=True, help="the enrolled model.packed.npz to write")
    en.add_argument("--speaker", help="a name for the speaker, recorded in the file")
    args = p.parse_args(argv)
    if args.command == "enrol":
        return enrol(args.run_dir, args.files, args.out, args.speaker)
    if args.command == "predict":
        return predict(args.files, args.model, args.top)
    return verify(args.run_dir, args.data_dir, args.speakers, args.limit, args.qonnx_segments)


if __name__ == "__main__":
    sys.exit(main())
