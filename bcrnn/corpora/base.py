"""The corpus interface shared by Emo-DB, IEMOCAP and the built-in synthetic corpus.

A corpus is a list of `Utterance` records (who speaks, which emotion) plus a way to load each one's waveform.
Files that cannot be used are never fatal: they are collected in `Corpus.skipped` with a reason and reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from bcrnn.audio import AudioError, read_audio


class CorpusError(RuntimeError):
    """A corpus that cannot be used at all (missing folder, no usable file, ...)."""


@dataclass(frozen=True)
class Utterance:
    utt_id: str  # unique within the corpus, e.g. "03a01Fa"
    speaker: str  # speaker id used for the speaker-independent folds
    label: int  # index into Corpus.classes
    path: Path | None = None  # the audio file; None for generated corpora


@dataclass
class Corpus:
    """Utterances of one corpus; subclasses override `load_waveform` when audio is not a file."""

    name: str
    classes: tuple[str, ...]
    utterances: list[Utterance]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or id, reason)

    def load_waveform(self, utt: Utterance) -> np.ndarray:
        """float32 mono 16 kHz samples of one utterance; raises AudioError for unusable audio."""
        if utt.path is None:
            raise AudioError(f"{utt.utt_id}: no audio file")
        return read_audio(utt.path)

    def __iter__(self) -> Iterator[tuple[np.ndarray, int, str, str]]:
        """Yield (waveform, label, speaker, utt_id), skipping and recording unusable files."""
        for utt in self.utterances:
            try:
                wave = self.load_waveform(utt)
            except AudioError as err:
                self.skipped.append((utt.utt_id, str(err)))
                continue
            yield wave, utt.label, utt.speaker, utt.utt_id

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utterances})

    def cache_key(self) -> list:
        """What identifies this corpus' audio for the feature cache (file names, sizes, mtimes)."""
        key = []
        for u in self.utterances:
            if u.path is not None:
                st = u.path.stat()
                key.append((u.utt_id, str(u.path.resolve()), st.st_size, int(st.st_mtime)))
            else:
                key.append((u.utt_id,))
        return [self.name, list(self.classes), key]

    def summary(self) -> str:
        """One paragraph: size, speakers, class counts and skipped files with reasons."""
        counts = Counter(self.classes[u.label] for u in self.utterances)
        lines = [
            f"{self.name}: {len(self.utterances)} utterances, {len(self.speakers)} speakers, "
            + ", ".join(f"{c} {counts.get(c, 0)}" for c in self.classes)
        ]
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} item(s):")
            lines += [f"    {item}: {reason}" for item, reason in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(f"    ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)
