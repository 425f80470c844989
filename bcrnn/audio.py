"""Robust waveform loading: every corpus reads audio through `read_audio`.

Real corpora contain surprises (stereo files, other sample rates, empty or truncated files). Each is either
repaired (downmix, resample) or rejected with an `AudioError` whose message says what is wrong, so that a
corpus can skip the file, count it and report it instead of crashing a long run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE = 16_000
MIN_SAMPLES = 400  # one 25 ms analysis frame at 16 kHz: anything shorter has no feature frame


class AudioError(ValueError):
    """A file that cannot be turned into a usable 16 kHz mono waveform."""


def to_mono_16k(samples: np.ndarray, sample_rate: int, source: str = "<array>") -> np.ndarray:
    """Downmix to mono, resample to 16 kHz, and reject empty, silent-NaN or too-short signals."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:  # soundfile layout: (frames, channels)
        samples = samples.mean(axis=1)
    if samples.ndim != 1:
        raise AudioError(f"{source}: expected mono or multi-channel audio, got an array of shape {samples.shape}")
    if samples.size == 0:
        raise AudioError(f"{source}: the file holds no samples")
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{source}: the audio contains NaN or infinite samples")
    if sample_rate != SAMPLE_RATE:
        import librosa  # imported lazily: it costs seconds of start-up

        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=SAMPLE_RATE).astype(np.float32)
    if samples.size < MIN_SAMPLES:
        raise AudioError(
            f"{source}: {samples.size} samples at 16 kHz is shorter than one 25 ms frame ({MIN_SAMPLES} samples)"
        )
    return samples


def read_audio(path: str | Path) -> np.ndarray:
    """Read an audio file as float32 mono at 16 kHz, or raise `AudioError` saying why not."""
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: a folder, not an audio file (give the files in it, e.g. {path}/*.wav)")
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        samples, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=False)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioError(f"{path}: unreadable audio ({err})") from err
    return to_mono_16k(samples, sample_rate, source=str(path))
