"""A generated corpus of emotional prosody: the default corpus, so that training runs with no data at all.

It is a smoke test, not speech. Each utterance is made by source-filter synthesis: a Rosenberg glottal pulse
train that follows an F0 contour, "syllables" (vowels from a small formant table, scaled by the speaker's
vocal-tract length) with amplitude envelopes and pauses, formant resonators, aspiration noise, a few fricative
bursts and low background noise. The four emotions change the prosody the way the literature describes
(anger: loud, raised pitch, fast, bright, pressed voice with more jitter; happiness: high and widely varying
pitch, rising accents, fast-ish; sadness: low, narrow, slow, quiet, breathy and dark; neutral: in between).
Every parameter varies randomly around these means, speakers differ in pitch, tract length, loudness, tilt and
expressiveness, so the classes overlap and a speaker-independent classifier has something to learn but
cannot be perfect.

Everything is derived from numpy Generators seeded from (seed, speaker, class, index): the same arguments
always give bit-identical waveforms, and nothing is written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

from bcrnn.audio import SAMPLE_RATE
from bcrnn.corpora.base import Corpus, Utterance

CLASSES = ("angry", "happy", "sad", "neutral")
N_SPEAKERS = 6
PER_CLASS = 10
SYNTH_VERSION = 1  # bump whenever the generated audio changes, so that cached features are recomputed

MIN_SECONDS, MAX_SECONDS = 1.2, 3.5
_SR = SAMPLE_RATE

# Vowel formants F1-F3 in Hz for an adult male tract (after Peterson & Barney / Hillenbrand et al.).
_VOWELS = np.array(
    [
        [270, 2290, 3010],  # i
        [390, 1990, 2550],  # I
        [530, 1840, 2480],  # E
        [660, 1720, 2410],  # ae
        [730, 1090, 2440],  # a
        [570, 840, 2410],  # o
        [440, 1020, 2240],  # U
        [300, 870, 2240],  # u
        [640, 1190, 2390],  # V
        [490, 1350, 1690],  # er
    ],
    dtype=np.float64,
)
_SCHWA = np.array([500.0, 1500.0, 2500.0])
_F4 = 3500.0
_BANDWIDTHS = np.array([70.0, 100.0, 140.0, 200.0])

# Mean prosody of each emotion, in CLASSES order (angry, happy, sad, neutral). Deviations from neutral are
# scaled by the speaker's expressiveness; every value gets per-utterance noise (see `_SPREAD`).
_EMOTION = {
    "pitch_st": (3.5, 4.5, -2.0, 0.0),  # mean F0 relative to the speaker's base, semitones
    "range_st": (5.0, 7.5, 2.0, 3.5),  # height of pitch accents, semitones
    "accent_p": (0.5, 0.6, 0.2, 0.35),  # probability that a syllable carries a pitch accent
    "accent_peak": (0.3, 0.75, 0.5, 0.5),  # where in the syllable the accent peaks (late = rising)
    "declination_st": (-3.0, -0.5, -1.5, -2.0),  # F0 drift over the utterance, semitones
    "final_st": (-3.0, 3.0, -2.0, -1.5),  # final rise (+) or fall (-) on the last syllable
    "level_db": (7.0, 4.0, -6.0, 0.0),  # loudness relative to neutral
    "rate": (5.6, 5.0, 3.0, 4.2),  # syllables per second
    "pause_p": (0.15, 0.2, 0.4, 0.25),  # probability of a phrase pause after a syllable
    "tilt": (0.45, 0.25, -0.45, 0.0),  # >0 brighter (pre-emphasis), <0 darker (one-pole low-pass)
    "jitter": (0.02, 0.01, 0.012, 0.006),  # relative F0 perturbation per period
    "shimmer": (0.12, 0.07, 0.08, 0.05),  # relative amplitude perturbation per period
    "breath": (0.04, 0.06, 0.3, 0.1),  # aspiration noise relative to the voiced source
    "closing": (0.07, 0.12, 0.26, 0.16),  # Rosenberg closing phase (fraction of a period): short = pressed
    "formant_scale": (1.03, 1.04, 0.98, 1.0),  # raised F1/F2 when shouting or smiling
    "centralize": (0.05, 0.1, 0.35, 0.15),  # vowel reduction towards schwa (sloppy, sad articulation)
    "attack": (0.25, 0.4, 0.85, 0.55),  # Tukey taper of syllable envelopes: small = abrupt onsets
}
_SPREAD = {  # per-utterance standard deviation of each parameter
    "pitch_st": 1.8,
    "range_st": 1.5,
    "accent_p": 0.1,
    "accent_peak": 0.1,
    "declination_st": 1.0,
    "final_st": 1.5,
    "level_db": 2.5,
    "rate": 0.6,
    "pause_p": 0.08,
    "tilt": 0.18,
    "jitter": 0.004,
    "shimmer": 0.025,
    "breath": 0.05,
    "closing": 0.03,
    "formant_scale": 0.015,
    "centralize": 0.07,
    "attack": 0.12,
}
_NEUTRAL = CLASSES.index("neutral")
_NEUTRAL_DBFS = -26.0  # active-speech RMS of a neutral utterance of an average speaker


@dataclass(frozen=True)
class _Speaker:
    f0: float  # base pitch in Hz
    tract: float  # formant scale: >1 shorter vocal tract
    level_db: float  # loudness offset
    tilt: float  # added to the emotion's spectral tilt
    expressiveness: float  # how strongly this speaker's emotions deviate from neutral
    noise_dbfs: float  # background noise level of the speaker's "room"


def _speaker(speaker_index: int, seed: int) -> _Speaker:
    """Voice of one speaker: even indices (s01, s03, s05) are low voices, odd indices high ones."""
    rng = np.random.default_rng([seed, 0, speaker_index])
    high = speaker_index % 2 == 1
    slot = (speaker_index // 2) % 3  # spread the three voices of each group over thirds of the range
    lo, width = (180.0, 60.0) if high else (100.0, 40.0)
    f0 = lo + width * (slot + rng.uniform(0.1, 0.9)) / 3
    tract = rng.uniform(1.02, 1.15) if high else rng.uniform(0.85, 0.98)
    return _Speaker(
        f0=f0,
        tract=tract,
        level_db=rng.uniform(-2.5, 2.5),
        tilt=rng.uniform(-0.15, 0.15),
        expressiveness=rng.uniform(0.7, 1.25),
        noise_dbfs=rng.uniform(-66.0, -56.0),
    )


def _emotion_params(label: int, spk: _Speaker, rng: np.random.Generator) -> dict[str, float]:
    """The emotion's means, scaled by the speaker's expressiveness, plus per-utterance noise."""
    params = {}
    for name, means in _EMOTION.items():
        mean = means[_NEUTRAL] + spk.expressiveness * (means[label] - means[_NEUTRAL])
        params[name] = mean + _SPREAD[name] * rng.standard_normal()
    params["accent_p"] = float(np.clip(params["accent_p"], 0.05, 0.9))
    params["accent_peak"] = float(np.clip(params["accent_peak"], 0.15, 0.85))
    params["range_st"] = max(params["range_st"], 0.5)
    params["rate"] = float(np.clip(params["rate"], 2.2, 7.0))
    params["pause_p"] = float(np.clip(params["pause_p"], 0.0, 0.6))
    params["tilt"] = float(np.clip(params["tilt"] + spk.tilt, -0.85, 0.85))
    params["jitter"] = max(params["jitter"], 0.001)
    params["shimmer"] = max(params["shimmer"], 0.01)
    params["breath"] = float(np.clip(params["breath"], 0.01, 0.6))
    params["closing"] = float(np.clip(params["closing"], 0.04, 0.35))
    params["centralize"] = float(np.clip(params["centralize"], 0.0, 0.7))
    params["attack"] = float(np.clip(params["attack"], 0.1, 1.0))
    return params


@lru_cache(maxsize=None)
def _fricative_filters() -> tuple[np.ndarray, ...]:
    """Band-pass filters for /s/, /sh/ and /f/-like noise bursts (computed once)."""
    bands = ((4000, 7500), (2000, 5000), (1200, 7000))
    return tuple(signal.butter(2, band, btype="bandpass", fs=_SR, output="sos") for band in bands)


def _formant_sos(formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Cascade of 2nd-order resonators with unit gain at 0 Hz (Klatt-style), as second-order sections."""
    r = np.exp(-np.pi * bandwidths / _SR)
    theta = 2 * np.pi * formants / _SR
    a1, a2 = -2 * r * np.cos(theta), r**2
    sos = np.zeros((len(formants), 6))
    sos[:, 0] = 1 + a1 + a2
    sos[:, 3], sos[:, 4], sos[:, 5] = 1.0, a1, a2
    return sos


def _layout(n: int, p: dict[str, float], rng: np.random.Generator) -> list[tuple[int, int]]:
    """Syllable (start, end) sample positions: speaking rate, phrase pauses, leading and trailing silence."""
    start = int(rng.uniform(0.05, 0.2) * _SR)
    stop = n - int(rng.uniform(0.05, 0.25) * _SR)
    syllables = []
    t = start
    while True:
        period = _SR / p["rate"] * rng.uniform(0.7, 1.3)
        length = int(period * rng.uniform(0.7, 0.85))  # the rest is a consonant closure
        if t + length > stop:  # shorten the last syllable rather than leave a long silence at the end
            if stop - t >= int(0.1 * _SR):
                syllables.append((t, stop))
            break
        syllables.append((t, t + length))
        t += int(period)
        if rng.random() < p["pause_p"]:
            t += int(rng.uniform(0.08, 0.3) * _SR * 4.2 / p["rate"])  # slow speakers pause longer
    if not syllables:  # never happens with >= 1.2 s, but keep the waveform non-empty anyway
        syllables.append((start, stop))
    return syllables


def _f0_contour(n: int, syllables: list[tuple[int, int]], base: float, p: dict, rng) -> np.ndarray:
    """F0 in Hz per sample: level, declination, pitch accents on syllables, a final rise or fall, slow wander."""
    st = np.full(n, p["pitch_st"])
    st += p["declination_st"] * (np.arange(n) / n - 0.5)
    for k, (s, e) in enumerate(syllables):
        x = np.linspace(0.0, 1.0, e - s, endpoint=False)
        if k == len(syllables) - 1:
            st[s:e] += p["final_st"] * x**1.5
            st[e:] += p["final_st"]
        elif rng.random() < p["accent_p"]:
            peak = p["accent_peak"]
            bump = np.where(x < peak, np.sin(0.5 * np.pi * x / peak), np.cos(0.5 * np.pi * (x - peak) / (1 - peak)))
            st[s:e] += p["range_st"] * rng.uniform(0.5, 1.0) * bump
    knots = rng.standard_normal(n // 1600 + 2) * 0.4  # +-0.4 semitone drift, one knot per 100 ms
    st += np.interp(np.arange(n), np.arange(len(knots)) * 1600, knots)
    return base * 2.0 ** (st / 12.0)


def _glottal_source(f0: np.ndarray, p: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Differentiated Rosenberg pulses with jitter and shimmer; returns (source, glottal flow)."""
    n = len(f0)
    block = max(int(_SR / float(np.mean(f0))), 1)  # jitter changes about once per period
    jit = np.repeat(rng.standard_normal(n // block + 1), block)[:n]
    phase = np.cumsum(f0 * (1.0 + p["jitter"] * jit)) / _SR
    frac = phase % 1.0
    opening, closing = 0.4, p["closing"]
    flow = np.where(
        frac < opening,
        0.5 * (1 - np.cos(np.pi * frac / opening)),
        np.where(frac < opening + closing, np.cos(0.5 * np.pi * (frac - opening) / closing), 0.0),
    )
    shimmer = 1.0 + p["shimmer"] * rng.standard_normal(int(phase[-1]) + 2)
    flow = flow * shimmer[phase.astype(np.int64)]
    source = np.diff(flow, prepend=0.0)  # lip radiation: +6 dB/octave
    return source / (np.std(source) + 1e-12), flow


def synth_waveform(speaker_index: int, label: int, index: int, seed: int = 0) -> np.ndarray:
    """One utterance as float32 mono 16 kHz samples; the same arguments always give the same samples.

    speaker_index counts from 0 (speaker "s01"), label indexes CLASSES, index numbers the utterance of
    that speaker and class; seed selects a different corpus altogether.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f"label {label} is not in 0..{len(CLASSES) - 1}")
    spk = _speaker(speaker_index, seed)
    rng = np.random.default_rng([seed, 1, speaker_index, label, index])
    p = _emotion_params(label, spk, rng)
    n = int(rng.uniform(MIN_SECONDS + 0.1, MAX_SECONDS - 0.1) * _SR)
    syllables = _layout(n, p, rng)
    f0 = _f0_contour(n, syllables, spk.f0, p, rng)
    source, flow = _glottal_source(f0, p, rng)

    # Aspiration: noise modulated by the glottal flow, mixed into the excitation before the vocal tract.
    aspiration = rng.standard_normal(n) * (0.4 + 0.6 * flow / (flow.max() + 1e-12))
    excitation = source + p["breath"] * 3.0 * aspiration
    tilt = p["tilt"]
    if tilt > 0:
        excitation = signal.lfilter([1.0, -tilt], [1.0], excitation)
    elif tilt < 0:
        excitation = signal.lfilter([1.0 + tilt], [1.0, tilt], excitation)

    voice = np.zeros(n)
    active = np.zeros(n, dtype=bool)
    tail = int(0.04 * _SR)
    scale = spk.tract * p["formant_scale"]
    bandwidths = _BANDWIDTHS * (1.0 + 1.2 * p["breath"])
    fricatives = _fricative_filters()
    for s, e in syllables:
        vowel = _VOWELS[rng.integers(len(_VOWELS))]
        vowel = (1 - p["centralize"]) * vowel + p["centralize"] * _SCHWA
        formants = np.append(vowel * scale * rng.uniform(0.97, 1.03, 3), _F4 * scale)
        env = signal.windows.tukey(e - s, p["attack"]) * rng.uniform(0.6, 1.0)
        seg = np.zeros(e - s + tail)
        seg[: e - s] = excitation[s:e] * env
        end = min(e + tail, n)
        voice[s:end] += signal.sosfilt(_formant_sos(formants, bandwidths), seg)[: end - s]
        active[s:e] = True
        if rng.random() < 0.35:  # a fricative onset before the vowel
            length = int(rng.uniform(0.04, 0.09) * _SR)
            f_start = max(s - length, 0)
            burst = rng.standard_normal(s - f_start + 1) * signal.windows.hann(s - f_start + 1)
            burst = signal.sosfilt(fricatives[rng.integers(len(fricatives))], burst)
            voice[f_start : s + 1] += burst * rng.uniform(0.1, 0.3)

    # Loudness: the emotion's level relative to neutral (not a fixed peak), then the speaker's room noise.
    rms = np.sqrt(np.mean(voice[active] ** 2)) + 1e-12
    target = 10 ** ((_NEUTRAL_DBFS + p["level_db"] + spk.level_db) / 20)
    voice *= target / rms
    room = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(n))
    voice += room / np.std(room) * 10 ** (spk.noise_dbfs / 20)
    peak = np.max(np.abs(voice))
    if peak > 0.97:  # rare: protect against clipping only when needed
        voice *= 0.97 / peak
    return voice.astype(np.float32)


@dataclass
class SynthCorpus(Corpus):
    """The generated corpus: waveforms are synthesized on demand instead of read from files."""

    n_speakers: int = N_SPEAKERS
    per_class: int = PER_CLASS
    seed: int = 0

    def load_waveform(self, utt: Utterance) -> np.ndarray:
        speaker_index = int(utt.speaker[1:]) - 1
        index = int(utt.utt_id.rsplit("_", 1)[1]) - 1
        return synth_waveform(speaker_index, utt.label, index, self.seed)

    def cache_key(self) -> list:
        """The generator's version and parameters identify the audio (there are no files to stat)."""
        params = {"synth_version": SYNTH_VERSION, "n_speakers": self.n_speakers, "per_class": self.per_class}
        return super().cache_key() + [{**params, "seed": self.seed}]


def load_synth(n_speakers: int = N_SPEAKERS, per_class: int = PER_CLASS, seed: int = 0) -> SynthCorpus:
    """The synthetic corpus: speakers "s01".., ids like "s01_angry_03" (both numbered from 1)."""
    if n_speakers < 1 or per_class < 1:
        raise ValueError(f"need at least one speaker and one utterance per class, got {n_speakers}, {per_class}")
    utterances = [
        Utterance(utt_id=f"s{s + 1:02d}_{name}_{i + 1:02d}", speaker=f"s{s + 1:02d}", label=label)
        for s in range(n_speakers)
        for label, name in enumerate(CLASSES)
        for i in range(per_class)
    ]
    return SynthCorpus(
        name="synth", classes=CLASSES, utterances=utterances, n_speakers=n_speakers, per_class=per_class, seed=seed
    )
