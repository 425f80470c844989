"""Speaker-independent cross-validation: per fold one test speaker, one validation speaker, the rest train."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fold:
    index: int
    test: str
    validation: str
    train: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"fold{self.index:02d}-test_{self.test}-val_{self.validation}"


def speaker_folds(speakers, n_folds: int | None = None) -> list[Fold]:
    """Fold k tests speaker k and validates on speaker k+1 (cyclically) of the sorted speaker list.

    With 10 speakers this is the 10-fold leave-one-speaker-out protocol of Emo-DB; `n_folds` < number of speakers runs the
    first `n_folds` of them. No speaker is ever in two roles of one fold.
    """
    speakers = sorted(set(speakers))
    if len(speakers) < 3:
        raise ValueError(f"speaker-independent folds need at least 3 speakers, got {len(speakers)}: {speakers}")
    n = len(speakers) if n_folds is None else n_folds
    if not 1 <= n <= len(speakers):
        raise ValueError(f"--folds must be between 1 and the number of speakers ({len(speakers)}), got {n}")
    folds = []
    for k in range(n):
        test, val = speakers[k], speakers[(k + 1) % len(speakers)]
        train = tuple(s for s in speakers if s not in (test, val))
        folds.append(Fold(k, test, val, train))
    return folds
