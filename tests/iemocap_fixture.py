"""A tiny fake IEMOCAP tree in the official release layout, so the loader is tested without the corpus.

Each session has one improvised dialog per gender and one scripted dialog, utterances by both
speakers in every dialog, every kind of label the loader must handle, and (in the first session)
one labelled utterance whose wav file is missing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import soundfile

SR = 16_000
HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
FULL_NAMES = {
    "ang": "Anger", "hap": "Happiness", "exc": "Excited", "sad": "Sadness",
    "neu": "Neutral", "fru": "Frustration", "xxx": "Other",
}
# (speaker gender, label) per dialog kind; the dialog letter is who wore the markers, both people speak.
IMPRO_F = [
    ("F", "ang"), ("M", "hap"), ("F", "exc"), ("M", "sad"), ("F", "neu"), ("M", "fru"), ("F", "xxx"), ("M", "neu"),
]
IMPRO_M = [
    ("M", "ang"), ("F", "sad"), ("M", "exc"), ("F", "hap"), ("M", "neu"), ("F", "fru"), ("M", "xxx"), ("F", "ang"),
]
SCRIPT = [("F", "ang"), ("M", "hap"), ("F", "sad"), ("M", "neu"), ("F", "exc")]
TO_CLASS = {"ang": "angry", "hap": "happy", "sad": "sad", "neu": "neutral"}


def _write_dialog(session_dir: Path, dialog: str, turns, rng, missing: set[int]) -> list[tuple[str, str, bool]]:
    """Write the wav files and the EmoEvaluation file of one dialog; return (utt_id, label, has_wav)."""
    wav_dir = session_dir / "sentences" / "wav" / dialog
    wav_dir.mkdir(parents=True, exist_ok=True)
    numbers = Counter()
    lines, facts, start = [HEADER], [], 1.0 + rng.random()
    for i, (gender, label) in enumerate(turns):
        utt_id = f"{dialog}_{gender}{numbers[gender]:03d}"
        numbers[gender] += 1
        seconds = float(rng.uniform(0.5, 1.0))
        n = int(seconds * SR)
        if i not in missing:
            t = np.arange(n) / SR
            tone = 0.3 * np.sin(2 * np.pi * rng.uniform(120, 300) * t) + 0.05 * rng.standard_normal(n)
            soundfile.write(str(wav_dir / f"{utt_id}.wav"), tone.astype(np.float32), SR, subtype="PCM_16")
        vad = ", ".join(f"{v:.4f}" for v in rng.uniform(1.5, 4.5, size=3))
        lines.append(f"[{start:.4f} - {start + seconds:.4f}]\t{utt_id}\t{label}\t[{vad}]\n")
        name = FULL_NAMES[label]
        lines += [f"C-E1:\t{name};\t()\n", f"C-E2:\t{name}; Neutral;\t()\n", f"C-F1:\t{name};\t(tone)\n"]
        lines += ["A-E1:\tval 3; act 2; dom  2;\t()\n", "A-F1:\tval 3; act 3; dom  3;\t()\n", "\n"]
        facts.append((utt_id, label, i not in missing))
        start += seconds + rng.uniform(0.2, 1.5)
    eval_dir = session_dir / "dialog" / "EmoEvaluation"
    eval_dir.mkdir(parents=True, exist_ok=True)
    (eval_dir / f"{dialog}.txt").write_text("".join(lines), encoding="utf-8")
    return facts


def make_iemocap_fixture(root: Path, sessions=(1, 2), seed: int = 0) -> dict:
    """Write the fake tree under `root` and return the facts a correct loader must find.

    Keys: counts / counts_merged (class -> improvised utterances with a wav, without / with exc as happy),
    speakers, improvised / scripted (utterance ids), by_id (utt_id -> (label, speaker)), missing
    (utterance id whose wav is absent), unused (label -> improvised utterances outside the classes).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    facts = []  # (utt_id, label, has_wav, improvised)
    for k, s in enumerate(sessions):
        session_dir = root / f"Session{s}"
        impro_f = IMPRO_F + ([("M", "ang")] if k == 0 else [])  # the last one gets no wav file
        missing = {len(impro_f) - 1} if k == 0 else set()
        for dialog, turns, miss in (
            (f"Ses{s:02d}F_impro01", impro_f, missing),
            (f"Ses{s:02d}M_impro02", IMPRO_M, set()),
            (f"Ses{s:02d}F_script01_1", SCRIPT, set()),
        ):
            facts += [(*f, "_impro" in dialog) for f in _write_dialog(session_dir, dialog, turns, rng, miss)]
        # Things the loader must ignore: per-annotator files in a subfolder and a macOS resource fork.
        categorical = session_dir / "dialog" / "EmoEvaluation" / "Categorical"
        categorical.mkdir(exist_ok=True)
        (categorical / f"Ses{s:02d}F_impro01_e1_cat.txt").write_text(f"Ses{s:02d}F_impro01_F000 :Anger; ()\n")
        resource_fork = session_dir / "dialog" / "EmoEvaluation" / f"._Ses{s:02d}F_impro01.txt"
        resource_fork.write_bytes(b"\x00\x05\x16\x07junk")

    def speaker(utt_id: str) -> str:
        return utt_id[:5] + utt_id.rsplit("_", 1)[1][0]

    impro = [f for f in facts if f[3]]
    usable = [f for f in impro if f[2]]
    counts = Counter(TO_CLASS[f[1]] for f in usable if f[1] in TO_CLASS)
    counts_merged = Counter(TO_CLASS.get(f[1], "happy") for f in usable if f[1] in TO_CLASS or f[1] == "exc")
    return {
        "counts": dict(counts),
        "counts_merged": dict(counts_merged),
        "speakers": sorted({speaker(f[0]) for f in usable}),
        "improvised": [f[0] for f in impro],
        "scripted": [f[0] for f in facts if not f[3]],
        "by_id": {f[0]: (f[1], speaker(f[0])) for f in facts},
        "missing": [f[0] for f in facts if not f[2]],
        "unused": dict(Counter(f[1] for f in impro if f[1] not in TO_CLASS)),
    }
