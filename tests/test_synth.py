"""The synthetic default corpus: deterministic, well-formed, and with real emotion and speaker differences."""

from collections import Counter

import numpy as np
import pytest
from scipy import signal

from bcrnn.audio import SAMPLE_RATE
from bcrnn.corpora.base import Corpus
from bcrnn.corpora.synth import CLASSES, SYNTH_VERSION, SynthCorpus, load_synth, synth_waveform

ANGRY, HAPPY, SAD, NEUTRAL = (CLASSES.index(c) for c in ("angry", "happy", "sad", "neutral"))


def median_f0(wave: np.ndarray, fmin: float = 70.0, fmax: float = 450.0) -> float:
    """Median autocorrelation pitch over the loud, clearly periodic 40 ms frames."""
    x = signal.sosfilt(signal.butter(4, 900, fs=SAMPLE_RATE, output="sos"), wave.astype(np.float64))
    frame, hop = 640, 320
    lo, hi = int(SAMPLE_RATE / fmax), int(SAMPLE_RATE / fmin)
    loud = 0.03 * np.max(np.abs(x))
    estimates = []
    for start in range(0, len(x) - frame, hop):
        f = x[start : start + frame] - x[start : start + frame].mean()
        if np.sqrt(np.mean(f**2)) < loud:
            continue
        ac = np.correlate(f, f, "full")[frame - 1 :]
        ac = ac / ac[0]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            estimates.append(SAMPLE_RATE / lag)
    assert estimates, "no voiced frame found"
    return float(np.median(estimates))


def rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))


@pytest.fixture(scope="module")
def corpus() -> SynthCorpus:
    return load_synth()


@pytest.fixture(scope="module")
def items(corpus):
    """All 240 (wave, label, speaker, utt_id) tuples, generated once (about 1.5 s)."""
    return list(corpus)


def test_same_arguments_give_identical_samples_and_another_seed_does_not():
    a = synth_waveform(2, ANGRY, 3, seed=0)
    b = synth_waveform(2, ANGRY, 3, seed=0)
    assert a.tobytes() == b.tobytes()
    c = synth_waveform(2, ANGRY, 3, seed=1)
    assert a.shape != c.shape or not np.array_equal(a, c)
    # another utterance index of the same speaker and class is a different utterance too
    assert not np.array_equal(a[:1000], synth_waveform(2, ANGRY, 4, seed=0)[:1000])


def test_waveforms_are_float32_mono_finite_in_range_and_of_the_promised_length(items):
    for wave, _, _, utt_id in items:
        assert wave.dtype == np.float32 and wave.ndim == 1, utt_id
        assert 1.2 <= len(wave) / SAMPLE_RATE <= 3.5, utt_id
        assert np.all(np.isfinite(wave)), utt_id
        assert np.max(np.abs(wave)) < 1.0, utt_id
        assert rms(wave) > 1e-3, f"{utt_id} is (nearly) silent"


def test_loudness_is_not_normalized_away(items):
    peaks = np.array([np.max(np.abs(w)) for w, *_ in items])
    assert peaks.max() / peaks.min() > 4  # quiet utterances stay quiet


def test_corpus_structure(corpus, items):
    assert isinstance(corpus, Corpus) and corpus.name == "synth" and corpus.classes == CLASSES
    assert len(corpus) == 240
    assert corpus.speakers == [f"s{i:02d}" for i in range(1, 7)]
    ids = [u.utt_id for u in corpus.utterances]
    assert len(set(ids)) == len(ids)
    assert all(0 <= u.label < len(CLASSES) and u.path is None for u in corpus.utterances)
    counts = Counter((u.speaker, u.label) for u in corpus.utterances)
    assert set(counts.values()) == {10} and len(counts) == 6 * 4
    assert "s01_angry_03" in ids
    assert len(items) == 240 and not corpus.skipped
    wave, label, speaker, utt_id = items[0]
    assert isinstance(wave, np.ndarray) and (label, speaker, utt_id) == (ANGRY, "s01", "s01_angry_01")


def test_corpus_waveforms_are_synth_waveform(corpus):
    utt = next(u for u in corpus.utterances if u.utt_id == "s03_sad_07")
    assert np.array_equal(corpus.load_waveform(utt), synth_waveform(2, SAD, 6, seed=0))


def test_cache_key_names_the_generator_and_its_parameters():
    key = load_synth().cache_key()
    assert key == load_synth().cache_key()
    assert f"{SYNTH_VERSION}" in repr(key)
    assert key != load_synth(seed=1).cache_key()
    assert key != load_synth(per_class=9).cache_key()
    assert key != load_synth(n_speakers=5).cache_key()


def test_small_corpora_and_bad_arguments():
    small = load_synth(n_speakers=2, per_class=3, seed=5)
    assert len(small) == 2 * 4 * 3 and small.speakers == ["s01", "s02"]
    with pytest.raises(ValueError):
        load_synth(per_class=0)
    with pytest.raises(ValueError):
        synth_waveform(0, len(CLASSES), 0)


def test_angry_is_louder_than_neutral_and_neutral_louder_than_sad(items):
    by_class = {k: np.mean([rms(w) for w, label, *_ in items if label == k]) for k in range(len(CLASSES))}
    assert by_class[ANGRY] > by_class[NEUTRAL] > by_class[SAD]


def test_happy_is_higher_pitched_than_sad_for_every_speaker(items):
    for speaker in sorted({s for _, _, s, _ in items}):
        happy = np.median([median_f0(w) for w, label, s, _ in items if s == speaker and label == HAPPY])
        sad = np.median([median_f0(w) for w, label, s, _ in items if s == speaker and label == SAD])
        assert happy > 1.1 * sad, (speaker, happy, sad)


def test_low_voice_is_below_high_voice(items):
    def neutral_f0(speaker):
        return np.median([median_f0(w) for w, label, s, _ in items if s == speaker and label == NEUTRAL])

    low, high = neutral_f0("s01"), neutral_f0("s02")
    assert 90 < low < 150 < 170 < high < 260, (low, high)
