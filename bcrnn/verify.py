"""`bcrnn verify`: the integer reference against the Brevitas model in deployment mode, layer by layer, on every
segment of the corpus, then the QONNX export executed by qonnx; the first differing value is named."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bcrnn.run_folder import FEATURE_CACHE, RunFolder, RunFolderError


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

    def norm_of(i):  # the stored statistics, those of utterance i's speaker, or utterance i's own
        if stored.mode == "utterance":
            return stored.for_utterances([fs.features[i]])
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


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--data-dir", help="corpus folder, if not the one the run used")
    p.add_argument("--speakers", nargs="+", help="only these speakers (default: every utterance)")
    p.add_argument("--limit", type=int, help="at most this many utterances")
    p.add_argument("--qonnx-segments", type=int, default=16,
                   help="segments also run through the exported QONNX graph with qonnx (0: skip)")
    args = p.parse_args(argv)
    return verify(args.run_dir, args.data_dir, args.speakers, args.limit, args.qonnx_segments)


if __name__ == "__main__":
    sys.exit(main())
