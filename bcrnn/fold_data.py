"""Speakers' utterances as the normalized segments training and scoring take (bcrnn.training.SegmentData)."""

from __future__ import annotations

import numpy as np

from bcrnn.features import FeatureSet, Normalizer
from bcrnn.training import SegmentData


def segment_data(fs: FeatureSet, speakers, norm: Normalizer) -> SegmentData:
    """Normalized segments of `speakers`' utterances; in speaker mode each speaker with its own statistics, in
    utterance mode each utterance with its own."""
    parts = []
    for speaker in speakers:
        idx = fs.select([speaker])
        x, y, owner = norm.normalized_segments(fs, idx)
        parts.append((x, y, owner, idx, np.full(len(y), str(speaker))))
    idx = np.concatenate([p[3] for p in parts])
    return SegmentData(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                       np.concatenate([p[2] for p in parts]), {int(i): int(fs.labels[i]) for i in idx},
                       np.concatenate([p[4] for p in parts]))
