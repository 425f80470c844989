"""`bcrnn enrol`: a model's thresholds from one speaker's own files. It is the enrolment of a model trained with
speaker batch norm (whose thresholds belong to one speaker), and test-time adaptation (AdaBN) for any other BCRNN."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bcrnn.run_folder import RunFolder, RunFolderError


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
    stored = Normalizer.from_dict(ckpt["normalizer"])
    if stored.mode == "utterance":  # every file with its own statistics
        x = np.concatenate([stored.for_utterances([f])(segment(f, cfg)) for f in features])
    else:
        x = stored.for_utterances(features)(np.concatenate([segment(f, cfg) for f in features]))
    if len(x) < 2:
        print("error: enrolment needs at least 2 segments of the speaker: give more utterances", file=sys.stderr)
        return 2
    speaker = speaker or f"enrolled on {len(files)} file(s)"
    n_bytes = save_packed(Path(out), pack_enrolled(model, ckpt, x, speaker))
    print(f"{out}: {run_dir} enrolled on {len(files)} file(s) ({len(x)} segments) of speaker {speaker!r}, "
          f"{n_bytes:,} bytes; run `bcrnn predict --model {out}` on that speaker's files")
    return 0


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    p.add_argument("run_dir", help="run folder (model.pt) or fold folder (best.pt) of a BCRNN run (trained with "
                                   "--speaker-batch-norm, or any: AdaBN)")
    p.add_argument("files", nargs="+", help="wav files of one speaker (several utterances, ideally varied)")
    p.add_argument("--out", required=True, help="the enrolled model.packed.npz to write")
    p.add_argument("--speaker", help="a name for the speaker, recorded in the file")
    args = p.parse_args(argv)
    return enrol(args.run_dir, args.files, args.out, args.speaker)


if __name__ == "__main__":
    sys.exit(main())
