"""Is there speech in a recording at all? A network trained on emotional speech answers with an emotion whatever it
is given (digital silence, a constant, faint noise); `find_speech` tells such input apart first, so that a caller
reports "no speech found" instead of a confident emotion.

The rule is an energy check on 25 ms frames every 10 ms (the features' framing), after removing the DC offset:
speech needs at least MIN_ACTIVE_SECONDS of frames above ACTIVE_DBFS. Every Emo-DB utterance passes with a wide
margin (its quietest file has 1.1 s above -45 dBFS and peaks at -15 dBFS); silence, a constant signal and noise
far below speech level do not. Loud non-speech (music, loud noise) is not caught: this is a level check, not a
speech detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcrnn.audio import SAMPLE_RATE

FRAME, HOP = 400, 160          # 25 ms and 10 ms at 16 kHz
ACTIVE_DBFS = -50.0            # a frame's RMS level counted as sound
MIN_ACTIVE_SECONDS = 0.2


@dataclass(frozen=True)
class SpeechCheck:
    found: bool
    active_seconds: float      # time in frames above ACTIVE_DBFS
    peak_dbfs: float           # the loudest frame's RMS level

    def reason(self) -> str:
        peak = "digital silence" if self.peak_dbfs == -np.inf else f"loudest 25 ms at {self.peak_dbfs:.0f} dBFS"
        return (f"{self.active_seconds:.2f} s above {ACTIVE_DBFS:.0f} dBFS ({peak}); speech needs "
                f">= {MIN_ACTIVE_SECONDS} s")


def find_speech(samples: np.ndarray) -> SpeechCheck:
    """The energy check of a 16 kHz mono waveform (bcrnn.audio.read_audio's output)."""
    x = np.asarray(samples, dtype=np.float64)
    x = x - x.mean()
    if x.size < FRAME:
        x = np.pad(x, (0, FRAME - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP]
    power = (frames ** 2).mean(axis=1)
    with np.errstate(divide="ignore"):
        dbfs = 10 * np.log10(power)
    active = float((dbfs > ACTIVE_DBFS).sum() * HOP / SAMPLE_RATE)
    return SpeechCheck(found=active >= MIN_ACTIVE_SECONDS, active_seconds=active, peak_dbfs=float(dbfs.max()))


def read_speech_files(files, out=print, err=None) -> tuple[list[tuple[str, np.ndarray]], int]:
    """Read audio files for a model to judge: an unreadable file is an error (on `err`, stderr by default), a file
    with no speech a result ("no speech found", on `out`); returns ((name, 16 kHz samples) of the others, errors)."""
    import sys

    from bcrnn.audio import AudioError, read_audio

    loaded, failures = [], 0
    for name in files:
        try:
            samples = read_audio(name)
        except AudioError as error:
            print(f"{name}: error: {error}", file=err or sys.stderr)
            failures += 1
            continue
        check = find_speech(samples)
        if not check.found:  # a result, not an error: nothing here for the model to judge
            out(f"{name}: no speech found ({check.reason()})")
            continue
        loaded.append((name, samples))
    return loaded, failures
