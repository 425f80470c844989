"""Log-Mel + delta + delta-delta features, 3-second segments, training-set normalization and a disk cache.

The front end of the 3-D ACRNN (Chen et al., 2018): 40 Mel bands from a 25 ms Hamming window every 10 ms, with
first and second time derivatives (N=2) as channels 2 and 3. Utterances are cut into 300-frame segments;
shorter ones are padded with *silence* (the -80 dB floor in the static channel, zero slope in the deltas)
rather than with zeros, which in the log domain would be a loud, flat spectrum.
"""

from __future__ import annotations

import hashlib
import os
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bcrnn.audio import SAMPLE_RATE
from bcrnn.corpora.base import Corpus, CorpusError

FEATURE_VERSION = 1  # bump when the arithmetic below changes: it invalidates the cache


@dataclass(frozen=True)
class FeatureConfig:
    n_mels: int = 40
    win_length: int = 400  # 25 ms at 16 kHz
    hop_length: int = 160  # 10 ms
    n_fft: int = 512
    floor_db: float = -80.0  # power floor re full scale; also the value of padded (silent) frames
    delta_n: int = 2  # deltas over +-2 frames (width 5)
    segment_frames: int = 300  # 3 s
    segment_hop: int = 100  # 1 s between segment starts of long utterances


def log_mel_deltas(wave: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """(3, frames, n_mels) float32: log-Mel in dB, its delta and delta-delta."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=wave, sr=SAMPLE_RATE, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.hop_length,
        window="hamming", n_mels=cfg.n_mels, fmin=0.0, fmax=SAMPLE_RATE / 2, power=2.0,
    )
    log_mel = librosa.power_to_db(mel, ref=1.0, amin=10 ** (cfg.floor_db / 10), top_db=None)
    width = 2 * cfg.delta_n + 1
    delta = librosa.feature.delta(log_mel, width=width, order=1, mode="nearest")
    delta2 = librosa.feature.delta(log_mel, width=width, order=2, mode="nearest")
    return np.stack([log_mel, delta, delta2]).transpose(0, 2, 1).astype(np.float32)


def segment(features: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Cut (3, frames, bands) into (n, 3, segment_frames, bands) segments, padding the last with silence."""
    n_frames = features.shape[1]
    length, hop = cfg.segment_frames, cfg.segment_hop
    starts = list(range(0, max(n_frames - length, 0) + 1, hop))
    if starts[-1] + length < n_frames:  # make sure the tail is covered
        starts.append(n_frames - length)
    out = np.zeros((len(starts), 3, length, features.shape[2]), dtype=np.float32)
    out[:, 0] = cfg.floor_db
    for i, s in enumerate(starts):
        chunk = features[:, s : s + length]
        out[i, :, : chunk.shape[1]] = chunk
    return out


@dataclass
class FeatureSet:
    """Features of a whole corpus: one (3, frames, bands) array per utterance, with labels and speakers."""

    features: list[np.ndarray]
    labels: np.ndarray
    speakers: np.ndarray
    utt_ids: np.ndarray
    classes: tuple[str, ...]
    config: FeatureConfig

    def select(self, speakers) -> np.ndarray:
        """Indices of the utterances spoken by any of `speakers`."""
        return np.flatnonzero(np.isin(self.speakers, list(speakers)))

    def segments(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segments of the given utterances: (segments, labels, owning utterance index)."""
        segs, labels, owner = [], [], []
        for i in indices:
            s = segment(self.features[i], self.config)
            segs.append(s)
            labels += [self.labels[i]] * len(s)
            owner += [i] * len(s)
        return np.concatenate(segs), np.asarray(labels, dtype=np.int64), np.asarray(owner, dtype=np.int64)


NORMALIZATIONS = ("global", "speaker", "utterance")


@dataclass
class Normalizer:
    """Per channel x band z-scoring.

    mode "global": one mean/std for everybody, from the training speakers' frames (the ACRNN recipe).
    mode "speaker": every speaker is z-scored with the statistics of its own utterances (training, validation
    and test speakers alike; unsupervised: frames only, never labels). `mean`/`std` then hold the training
    speakers' pooled statistics only as a fallback; at inference the caller supplies the speaker's statistics
    with `for_utterances` (e.g. `bcrnn predict` computes them over the files it is given).
    mode "utterance": every utterance is z-scored with the statistics of its own frames: nothing from another
    utterance, so one utterance of an unknown speaker is classified as it comes, whatever the microphone's gain
    (a constant in the log-Mel domain). `mean`/`std` are again a fallback only.
    """

    mean: np.ndarray  # (3, 1, bands)
    std: np.ndarray
    mode: str = "global"

    def __post_init__(self):
        if self.mode not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {self.mode!r}: use one of {', '.join(NORMALIZATIONS)}")

    @classmethod
    def fit(cls, feature_set: FeatureSet, indices, mode: str = "global") -> "Normalizer":
        return cls.from_features([feature_set.features[i] for i in indices], mode)

    @classmethod
    def from_features(cls, features: list[np.ndarray], mode: str = "global") -> "Normalizer":
        """Statistics over every frame of the given (3, frames, bands) utterances."""
        # float64 sums: float32 ones depend on memory layout (views of the feature cache vs freshly computed
        # arrays), enough to move a z-score across an 8-bit input step and flip a decision of the integer model
        frames = np.concatenate([np.asarray(f, np.float64) for f in features], axis=1)
        mean = frames.mean(axis=1, keepdims=True)
        std = frames.std(axis=1, keepdims=True) + 1e-5
        return cls(mean.astype(np.float32), std.astype(np.float32), mode)

    def for_utterances(self, features: list[np.ndarray]) -> "Normalizer":
        """The normalizer to apply to these utterances of ONE speaker: itself in global mode, the utterances' own
        statistics in speaker mode; in utterance mode, that of one utterance alone (several are an error: each
        takes its own, see `normalized_segments`)."""
        if self.mode == "utterance" and len(features) != 1:
            raise ValueError(f"utterance normalization z-scores each utterance with its own statistics: one "
                             f"utterance at a time, not {len(features)}")
        return self if self.mode == "global" else Normalizer.from_features(features, self.mode)

    def for_speaker(self, feature_set: FeatureSet, speaker) -> "Normalizer":
        return self.for_utterances([feature_set.features[i] for i in feature_set.select([speaker])])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def normalized_segments(self, fs: FeatureSet, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The z-scored segments of these utterances with their labels and owners, each with the statistics its
        mode gives it: the stored ones, its speaker's (over all the speaker's utterances in `fs`) or its own."""
        x, y, owner = fs.segments(indices)
        if self.mode == "global":
            return self(x), y, owner
        out = np.empty_like(x)
        if self.mode == "speaker":
            groups = {s: np.isin(owner, fs.select([s])) for s in dict.fromkeys(fs.speakers[i] for i in indices)}
            for speaker, rows in groups.items():
                out[rows] = self.for_speaker(fs, speaker)(x[rows])
        else:
            for i in dict.fromkeys(owner.tolist()):
                rows = owner == i
                out[rows] = self.for_utterances([fs.features[i]])(x[rows])
        return out, y, owner

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "mode": self.mode}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32), d.get("mode", "global"))


def _cache_path(corpus: Corpus, cfg: FeatureConfig, cache_dir: Path) -> Path:
    key = json.dumps([FEATURE_VERSION, asdict(cfg), corpus.cache_key()], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{corpus.name}-{digest}.npz"


def extract_features(corpus: Corpus, cfg: FeatureConfig = FeatureConfig(), cache_dir: Path | None = None,
                     progress: bool = True) -> FeatureSet:
    """Features of every usable utterance of `corpus`, read from / written to a cache when `cache_dir` is given.

    Unusable files are skipped and recorded in `corpus.skipped` (also when read back from the cache).
    """
    path = _cache_path(corpus, cfg, cache_dir) if cache_dir is not None else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            lengths = z["lengths"]
            flat = z["flat"]
            feats = np.split(flat, np.cumsum(lengths)[:-1], axis=1)
            corpus.skipped.extend(json.loads(str(z["skipped"])))
            return FeatureSet(feats, z["labels"], z["speakers"], z["utt_ids"], corpus.classes, cfg)
    feats, labels, speakers, ids = [], [], [], []
    n_skipped_before = len(corpus.skipped)
    for wave, label, speaker, utt_id in tqdm(corpus, total=len(corpus), desc=f"features {corpus.name}",
                                            disable=not progress, unit="utt"):
        feats.append(log_mel_deltas(wave, cfg))
        labels.append(label)
        speakers.append(speaker)
        ids.append(utt_id)
    if not feats:
        raise CorpusError(f"{corpus.name}: no usable utterance (skipped {len(corpus.skipped)})")
    fs = FeatureSet(feats, np.asarray(labels, np.int64), np.asarray(speakers), np.asarray(ids), corpus.classes, cfg)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")  # per process: runs may share a cache
        np.savez(tmp, flat=np.concatenate(feats, axis=1), lengths=np.asarray([f.shape[1] for f in feats]),
                 labels=fs.labels, speakers=fs.speakers, utt_ids=fs.utt_ids,
                 skipped=json.dumps(corpus.skipped[n_skipped_before:]))
        tmp.replace(path)  # atomic: a killed run never leaves a half-written cache
    return fs
