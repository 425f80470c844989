import numpy as np
import pytest

from bcrnn.features import FeatureConfig, Normalizer, extract_features, log_mel_deltas, segment


def test_log_mel_deltas_shape_and_frame_rate():
    wave = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)  # 1 s
    f = log_mel_deltas(wave)
    assert f.shape == (3, 101, 40) and f.dtype == np.float32
    assert np.all(f[0] >= FeatureConfig().floor_db - 1e-3)


def test_segments_pad_with_silence_and_cover_long_utterances():
    cfg = FeatureConfig()
    short = np.ones((3, 120, 40), np.float32)
    s = segment(short, cfg)
    assert s.shape == (1, 3, 300, 40)
    assert np.all(s[0, 0, 120:] == cfg.floor_db) and np.all(s[0, 1:, 120:] == 0)
    assert np.all(s[0, :, :120] == 1)
    long = np.arange(3 * 650 * 40, dtype=np.float32).reshape(3, 650, 40)
    s = segment(long, cfg)
    assert len(s) == 5  # starts 0, 100, 200, 300, and 350 for the tail
    assert np.array_equal(s[-1], long[:, 350:650])


def test_normalizer_uses_training_speakers_only(synth_features):
    fs = synth_features
    train = fs.select(["s01", "s02"])
    norm = Normalizer.fit(fs, train)
    frames = np.concatenate([fs.features[i] for i in train], axis=1)
    z = norm(frames)
    assert np.allclose(z.mean(axis=1), 0, atol=1e-3) and np.allclose(z.std(axis=1), 1, atol=1e-2)
    other = Normalizer.fit(fs, fs.select(["s03"]))
    assert not np.allclose(other.mean, norm.mean)


def test_feature_cache_round_trip(tmp_path):
    from bcrnn.corpora.synth import load_synth

    a = extract_features(load_synth(n_speakers=3, per_class=1), cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    b = extract_features(load_synth(n_speakers=3, per_class=1), cache_dir=tmp_path, progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(a.features, b.features))
    assert list(a.utt_ids) == list(b.utt_ids) and np.array_equal(a.labels, b.labels)


def test_speaker_normalization_uses_each_speakers_own_frames_and_no_labels(synth_features):
    fs = synth_features
    norm = Normalizer.fit(fs, fs.select(["s01", "s02"]), mode="speaker")
    assert norm.mode == "speaker" and Normalizer.from_dict(norm.to_dict()).mode == "speaker"
    for speaker in ("s01", "s03"):  # a training speaker and one the model never trains on
        own = norm.for_speaker(fs, speaker)
        frames = np.concatenate([fs.features[i] for i in fs.select([speaker])], axis=1)
        z = own(frames)
        assert np.allclose(z.mean(axis=1), 0, atol=1e-3) and np.allclose(z.std(axis=1), 1, atol=1e-2)
    assert not np.allclose(norm.for_speaker(fs, "s01").mean, norm.for_speaker(fs, "s03").mean)
    # labels play no part: shuffled labels give the same statistics
    import dataclasses

    shuffled = dataclasses.replace(fs, labels=np.random.default_rng(0).permutation(fs.labels))
    assert np.array_equal(norm.for_speaker(shuffled, "s03").mean, norm.for_speaker(fs, "s03").mean)
    # global mode ignores the speaker
    glob = Normalizer.fit(fs, fs.select(["s01", "s02"]))
    assert glob.for_speaker(fs, "s03") is glob and Normalizer.from_dict({"mean": 0, "std": 1}).mode == "global"


def test_segment_data_normalizes_each_speaker_separately(synth_features):
    from bcrnn.fold_data import segment_data

    fs = synth_features
    norm = Normalizer.fit(fs, fs.select(["s01", "s02"]), mode="speaker")
    data = segment_data(fs, ["s01", "s03"], norm)
    for speaker in ("s01", "s03"):
        idx = fs.select([speaker])
        x, _, _ = fs.segments(idx)
        rows = np.isin(data.owner, idx)
        assert np.allclose(data.x[rows], norm.for_speaker(fs, speaker)(x))
    assert set(data.utt_labels) == set(fs.select(["s01", "s03"]).tolist())


def test_utterance_normalization_z_scores_each_utterance_alone(synth_features):
    """Utterance mode: every utterance with its own frames' statistics (nothing from the other utterances of its
    speaker), the same whoever asks (training segments, the reference on raw features); a gain change (a constant
    in the log-Mel channel) changes nothing; several utterances at once are refused."""
    from bcrnn.fold_data import segment_data

    fs = synth_features
    norm = Normalizer.fit(fs, fs.select(["s01", "s02"]), mode="utterance")
    assert Normalizer.from_dict(norm.to_dict()).mode == "utterance"
    data = segment_data(fs, ["s01", "s03"], norm)
    for i in fs.select(["s01", "s03"])[:6]:
        own = Normalizer.from_features([fs.features[i]], "utterance")
        z = own(fs.features[i])
        assert np.allclose(z.mean(axis=1), 0, atol=1e-3)
        x, _, _ = fs.segments([i])
        assert np.array_equal(data.x[data.owner == i], own(x))  # each utterance's segments, its own statistics
        louder = fs.features[i].copy()
        louder[0] += 12.0  # 12 dB of gain: the log-Mel channel shifts, the deltas do not
        again = Normalizer.from_features([louder], "utterance")
        assert np.allclose(again(louder), z, atol=1e-4)
    with pytest.raises(ValueError, match="one utterance at a time, not 2"):
        norm.for_utterances([fs.features[0], fs.features[1]])
    with pytest.raises(ValueError, match="one utterance at a time"):
        norm.for_speaker(fs, "s01")  # a speaker's utterances together: not this mode


def test_normalizer_statistics_do_not_depend_on_memory_layout():
    # an hour of frames at log-Mel magnitudes, in the two layouts met in practice: the feature cache's
    # (frames-major slices) and freshly computed features' (bands-major, as log_mel_deltas' transpose leaves it)
    rng = np.random.default_rng(0)
    views = [rng.normal(-40, 15, (3, 400, 40)).astype(np.float32) for _ in range(50)]
    copies = [f.transpose(0, 2, 1).copy().transpose(0, 2, 1) for f in views]
    f32 = [np.concatenate(x, axis=1).mean(axis=1) for x in (views, copies)]  # what float32 sums made of it
    assert not np.array_equal(*f32), "no float32 layout effect here any more: make the test harder"
    a, b = Normalizer.from_features(views, "speaker"), Normalizer.from_features(copies, "speaker")
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.std, b.std)
