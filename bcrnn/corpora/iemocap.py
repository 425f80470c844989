"""IEMOCAP in its official release layout, reduced to the usual 4 classes.

    <root>/Session{1..5}/sentences/wav/<dialog>/<utterance>.wav
    <root>/Session{1..5}/dialog/EmoEvaluation/<dialog>.txt

Labels come from the summary line of each utterance in the EmoEvaluation files. Utterances whose
label is outside the 4 classes (frustrated, surprised, "xxx" = no agreement, ...) are normal in
IEMOCAP, not problems: they are counted in `IemocapCorpus.unused_labels` and shown by `summary()`,
so that `skipped` keeps listing only real problems such as a missing wav file.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bcrnn.corpora.base import Corpus, CorpusError, Utterance

IEMOCAP_CLASSES = ("angry", "happy", "sad", "neutral")
LABELS = {"ang": "angry", "hap": "happy", "sad": "sad", "neu": "neutral"}

# "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]"
_SUMMARY_RE = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(\S+)\t(\S+)\t\[")
# Session number, then the gender letter of the last part (who speaks); the letter after the
# session number is only who wore the motion-capture markers in that dialog.
_SPEAKER_RE = re.compile(r"^(Ses\d\d)[FM]_.*_([FM])\d+$")
_SESSION_RE = re.compile(r"^Session(\d+)$")
_LAYOUT = (
    "expected the official IEMOCAP layout <root>/Session1..5/sentences/wav/<dialog>/<utterance>.wav "
    "and <root>/Session1..5/dialog/EmoEvaluation/<dialog>.txt; pass the IEMOCAP_full_release folder"
)


@dataclass
class IemocapCorpus(Corpus):
    """A `Corpus` that also counts the utterances left out on purpose (other labels, scripted dialogs)."""

    unused_labels: Counter = field(default_factory=Counter)  # label -> utterances outside the classes
    scripted_excluded: int = 0  # utterances of scripted dialogs left out by improvised_only

    def summary(self) -> str:
        text = super().summary()
        notes = []
        if self.unused_labels:
            counts = ", ".join(f"{label} {n}" for label, n in sorted(self.unused_labels.items()))
            notes.append(f"labels outside the {len(self.classes)} classes: {counts}")
        if self.scripted_excluded:
            notes.append(f"{self.scripted_excluded} scripted utterances (improvised only)")
        return text + ("\n  not used: " + "; ".join(notes) if notes else "")


def parse_emo_evaluation(path: Path) -> list[tuple[str, str]]:
    """(utterance id, label) of each summary line; annotator lines (C-E1:, A-E2:, ...) and headers are ignored."""
    pairs = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _SUMMARY_RE.match(line.strip("\r\n"))
        if match:
            pairs.append((match.group(1), match.group(2).lower()))
    return pairs


def _session_dirs(root: Path) -> list[Path]:
    """Session folders sorted by number; also accepts the parent of IEMOCAP_full_release."""
    if not root.is_dir():
        raise CorpusError(f"IEMOCAP folder {root} does not exist; {_LAYOUT}")
    for base in (root, root / "IEMOCAP_full_release"):
        sessions = [p for p in base.iterdir() if p.is_dir() and _SESSION_RE.match(p.name)] if base.is_dir() else []
        if sessions:
            return sorted(sessions, key=lambda p: int(_SESSION_RE.match(p.name).group(1)))
    raise CorpusError(f"no Session folder in {root}; {_LAYOUT}")


def load_iemocap(root: str | Path, improvised_only: bool = True, merge_excited: bool = False) -> IemocapCorpus:
    """Index IEMOCAP utterances of the 4 classes; speakers are session + gender (10 speakers in all).

    `improvised_only` keeps the improvised dialogs, the common choice since scripted ones repeat texts.
    `merge_excited` counts "exc" as happy, as many papers do to balance the classes.
    """
    root = Path(root).expanduser()
    labels = dict(LABELS, exc="happy") if merge_excited else LABELS
    corpus = IemocapCorpus(name="iemocap", classes=IEMOCAP_CLASSES, utterances=[])
    seen: set[str] = set()
    n_files = 0
    for session in _session_dirs(root):
        eval_dir = session / "dialog" / "EmoEvaluation"
        txt_files = sorted(eval_dir.glob("*.txt")) if eval_dir.is_dir() else []
        for txt in (t for t in txt_files if not t.name.startswith(".")):  # skip macOS "._" files
            n_files += 1
            dialog = txt.stem
            for utt_id, label in parse_emo_evaluation(txt):
                if improvised_only and "_impro" not in utt_id:
                    corpus.scripted_excluded += 1
                    continue
                if label not in labels:
                    corpus.unused_labels[label] += 1
                    continue
                speaker = _SPEAKER_RE.match(utt_id)
                if speaker is None:
                    corpus.skipped.append((utt_id, f"utterance id not like Ses01F_impro01_F000 in {txt.name}"))
                    continue
                if utt_id in seen:
                    corpus.skipped.append((utt_id, f"labelled twice (again in {txt.name})"))
                    continue
                seen.add(utt_id)
                wav = session / "sentences" / "wav" / dialog / f"{utt_id}.wav"
                if not wav.is_file():
                    corpus.skipped.append((utt_id, f"labelled in {txt.name} but {wav} is missing"))
                    continue
                corpus.utterances.append(
                    Utterance(
                        utt_id=utt_id,
                        speaker=speaker.group(1) + speaker.group(2),
                        label=IEMOCAP_CLASSES.index(labels[label]),
                        path=wav,
                    )
                )
    if n_files == 0:
        raise CorpusError(f"no EmoEvaluation .txt file under {root}; {_LAYOUT}")
    if not corpus.utterances:
        raise CorpusError(f"no usable IEMOCAP utterance of the classes {IEMOCAP_CLASSES} under {root}; {_LAYOUT}")
    return corpus


__all__ = ["IEMOCAP_CLASSES", "IemocapCorpus", "load_iemocap", "parse_emo_evaluation"]
