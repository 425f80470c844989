"""`bcrnn predict` runs on numpy alone; `bcrnn verify` passes on a trained run and pinpoints a corrupted one."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile

from bcrnn.config import load_config
from bcrnn.corpora.synth import synth_waveform
from bcrnn.ensemble import enrolled_engine
from bcrnn.experiment import run_experiment
from bcrnn.reference.packed_file import load_packed, save_packed
from bcrnn.run_folder import RunFolder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    cfg = load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1, "batch_size": 16})
    run_experiment(cfg, tmp / "run", cache_dir=tmp / "cache", progress=False, quiet=True)
    return tmp / "run"


def test_predict_uses_numpy_only_and_survives_bad_files(tiny_run, tmp_path):
    good = tmp_path / "angry.wav"
    soundfile.write(good, synth_waveform(0, 0, 0), 16000)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    code = ("import sys; from bcrnn.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "predict", str(good), str(empty), str(tmp_path / "no.wav"),
                        "--model", str(tiny_run)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr  # some files failed
    line = [x for x in r.stdout.splitlines() if x.startswith(str(good))]
    assert len(line) == 1 and any(c in line[0] for c in ("angry", "happy", "sad", "neutral"))
    probs = [float(tok) for tok in line[0].split("(")[1].rstrip(")").split()[1::2]]
    assert len(probs) == 3 and all(0 <= p <= 1 for p in probs) and probs == sorted(probs, reverse=True)
    assert "empty.wav: error" in r.stderr and "no.wav: error" in r.stderr and "Traceback" not in r.stderr


def test_predict_finds_no_speech_in_silence_constants_and_faint_noise(tiny_run, tmp_path, capsys, emodb_dir):
    """Input with nothing to judge gets "no speech found", not an emotion; a real Emo-DB utterance still gets one;
    a folder given as a file is named as a folder."""
    from bcrnn.cli import main

    rng = np.random.default_rng(0)
    inputs = {"silence": np.zeros(32000, np.float32), "constant": np.full(32000, 0.3, np.float32),
              "faint_noise": (rng.normal(size=32000) * 10 ** (-75 / 20)).astype(np.float32)}
    for name, samples in inputs.items():
        soundfile.write(tmp_path / f"{name}.wav", samples, 16000)
    speech = sorted((emodb_dir / "wav").glob("*.wav") if (emodb_dir / "wav").is_dir() else emodb_dir.glob("*.wav"))
    files = [str(tmp_path / f"{n}.wav") for n in inputs] + [str(speech[0])]
    assert main(["predict", *files, "--model", str(tiny_run)]) == 0
    out = capsys.readouterr().out.splitlines()
    for name in inputs:
        line = next(x for x in out if x.startswith(str(tmp_path / f"{name}.wav")))
        assert "no speech found" in line and not any(c in line for c in ("angry", "happy", "sad", "neutral")), line
    line = next(x for x in out if x.startswith(str(speech[0])))
    assert "no speech found" not in line and any(c in line for c in ("angry", "happy", "sad", "neutral")), line
    assert main(["predict", str(tmp_path), "--model", str(tiny_run)]) == 1
    assert "a folder, not an audio file" in capsys.readouterr().err


def test_speech_check_on_levels():
    from bcrnn.speech import ACTIVE_DBFS, find_speech

    t = np.arange(16000) / 16000
    tone = 0.1 * np.sin(2 * np.pi * 220 * t)                     # -23 dBFS for a second
    assert find_speech(tone).found and find_speech(tone).active_seconds > 0.9
    assert not find_speech(tone[:1600]).found                     # 0.1 s is too short
    quiet = tone * 10 ** ((ACTIVE_DBFS - 10 + 23) / 20)            # 10 dB under the threshold
    assert not find_speech(quiet).found and find_speech(quiet).peak_dbfs < ACTIVE_DBFS
    assert find_speech(np.zeros(100)).peak_dbfs == -np.inf and "digital silence" in find_speech(np.zeros(100)).reason()


def test_predict_without_a_model_is_a_clear_error(tmp_path):
    from bcrnn.cli import main

    assert main(["predict", "x.wav", "--model", str(tmp_path)]) == 2


def test_predict_and_verify_refuse_bad_input_clearly(tiny_run, tmp_path, capsys):
    from bcrnn.cli import main

    broken = tmp_path / "broken.npz"
    broken.write_bytes((tiny_run / "model.packed.npz").read_bytes()[:500])
    assert main(["predict", "x.wav", "--model", str(broken)]) == 2
    assert main(["verify", str(tiny_run), "--speakers", "nobody"]) == 2
    assert main(["verify", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot load the model" in err and "no utterance to verify" in err and "not a run folder" in err


def test_verify_passes_then_finds_a_flipped_threshold(tiny_run, tmp_path, capsys):
    import shutil

    from bcrnn.cli import main

    run = tmp_path / "run"  # a copy: the module's run stays intact for the other tests
    shutil.copytree(tiny_run, run)
    tiny_run = run
    assert main(["verify", str(tiny_run), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "reference == deployed Brevitas model everywhere" in out and "QONNX export executed by qonnx" in out
    arrays = load_packed(tiny_run / "model.packed.npz")
    arrays["dense_direction"] = -arrays["dense_direction"]  # what a wrong BN fold would look like
    save_packed(tiny_run / "model.packed.npz", arrays)
    assert main(["verify", str(tiny_run), "--limit", "3"]) == 1
    err = capsys.readouterr().err
    assert "MISMATCH" in err and "layer dense" in err


def test_export_writes_the_qonnx_model_again_and_checks_it(tiny_run, tmp_path, capsys):
    """`bcrnn export`: the run's model exported afresh and executed by qonnx against the packed model; a packed model
    the export does not compute is an error, and so is a folder that is not a run."""
    import json
    import shutil

    from bcrnn.cli import main

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for name in ("model.qonnx.onnx", "export_check.json"):
        (run / name).unlink()
    assert main(["export", str(run), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert json.loads((run / "export_check.json").read_text())["segments"] > 0 and (run / "model.qonnx.onnx").is_file()
    arrays = load_packed(run / "model.packed.npz")
    arrays["dense_direction"] = -arrays["dense_direction"]
    save_packed(run / "model.packed.npz", arrays)
    assert main(["export", str(run), "--cache-dir", str(tmp_path / "cache")]) == 1
    assert "does not compute what the model computes" in capsys.readouterr().err
    assert main(["export", str(tmp_path)]) == 2 and "not a run folder" in capsys.readouterr().err


def test_predict_averages_an_ensemble(tiny_run, tmp_path, capsys):
    from bcrnn.cli import main

    other = tmp_path / "seed1"
    cfg = load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1, "batch_size": 16,
                             "seed": 1})
    run_experiment(cfg, other, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    wavs = []
    for emotion in range(2):
        wavs.append(tmp_path / f"e{emotion}.wav")
        soundfile.write(wavs[-1], synth_waveform(0, emotion, 1), 16000)

    def scores(*models):
        argv = ["predict", *map(str, wavs), "--top", "4"]
        for m in models:
            argv += ["--model", str(m)]
        assert main(argv) == 0
        captured = capsys.readouterr()
        assert ("ensemble of 2 models" in captured.err) == (len(models) == 2)
        out = {}
        for line in captured.out.splitlines():
            name, rest = line.split(": ", 1)
            tokens = rest.split("(")[1].rstrip(")").split()
            out[name] = dict(zip(tokens[0::2], map(float, tokens[1::2])))
        return out

    a, b, both = scores(tiny_run), scores(other), scores(tiny_run, other)
    assert a != b  # two different members
    for name in both:
        for cls, p in both[name].items():
            assert p == pytest.approx((a[name][cls] + b[name][cls]) / 2, abs=1.5e-3)  # printed with 3 decimals


def test_enrol_gives_a_speaker_batch_norm_model_that_speakers_thresholds(tmp_path, capsys):
    """`bcrnn enrol` on the test speaker's wav files writes the same integer model that training packed for that
    speaker (its thresholds from the speaker's own statistics); predict then names whose thresholds it runs with.
    A model trained without speaker batch norm is adapted the same way (AdaBN), as ensemble.py scores it."""
    from bcrnn.cli import main
    from bcrnn.corpora.synth import CLASSES, PER_CLASS, load_synth

    cfg = load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1, "batch_size": 16,
                             "normalization": "speaker", "speaker_batch_norm": True})
    run = tmp_path / "sbn"
    run_experiment(cfg, run, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    fold = next(run.glob("folds/seed0/fold*"))
    test_speaker = fold.name.split("test_")[1].split("-")[0]
    corpus = load_synth()
    files = []
    for utt in corpus.utterances:
        if utt.speaker == test_speaker:
            files.append(tmp_path / f"{utt.utt_id}.wav")
            soundfile.write(files[-1], corpus.load_waveform(utt), 16000, subtype="FLOAT")  # lossless
    assert len(files) == len(CLASSES) * PER_CLASS
    out = tmp_path / "enrolled.npz"
    assert main(["enrol", str(fold), *map(str, files), "--out", str(out), "--speaker", test_speaker]) == 0
    enrolled, trained = load_packed(out), load_packed(fold / "model.packed.npz")
    assert set(enrolled) == set(trained)
    for name in trained:
        if name != "meta":
            assert np.array_equal(enrolled[name], trained[name]), name
    assert main(["predict", str(files[0]), "--model", str(out)]) == 0
    assert f"thresholds belong to speaker '{test_speaker}'" in capsys.readouterr().err
    plain = tmp_path / "plain"
    run_experiment(load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1,
                                      "batch_size": 16}), plain, cache_dir=tmp_path / "cache", progress=False,
                   quiet=True)
    # a model trained without speaker batch norm is adapted (AdaBN): the thresholds ensemble.py scores it with
    plain_fold = next(plain.glob("folds/seed0/fold*"))
    assert main(["enrol", str(plain_fold), *map(str, files), "--out", str(tmp_path / "x.npz")]) == 0
    assert "trained without speaker batch norm" in capsys.readouterr().err
    fs = RunFolder.open(plain).features(cache_dir=tmp_path / "cache", progress=False)
    adapted = enrolled_engine(RunFolder.open(plain_fold), fs, test_speaker)
    stored, enrolled = load_packed(plain_fold / "model.packed.npz"), load_packed(tmp_path / "x.npz")
    assert not np.array_equal(enrolled["dense_threshold"], stored["dense_threshold"])
    for name in stored:
        if name != "meta":
            assert np.array_equal(enrolled[name], adapted.ref.params[name]), name


def test_an_utterance_normalized_run_is_scored_verified_and_predicts_one_file_alone(tmp_path, capsys):
    """normalization: utterance end to end: the integer scores, the QONNX check and `bcrnn verify` take every
    utterance's own statistics, and `bcrnn predict` on one file (by the reference, the packed engine and the C
    engine's wrapper) gives what the reference gives that file alone, whatever other files come with it."""
    from bcrnn.cli import main
    from bcrnn.engine import PackedEngine
    from bcrnn.features import FeatureConfig, Normalizer, log_mel_deltas, segment
    from bcrnn.recipes import run_state
    from bcrnn.reference.model import ReferenceBCRNN, quantize_features

    cfg = load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1, "batch_size": 16,
                             "normalization": "utterance"})
    run = tmp_path / "run"
    summary = run_experiment(cfg, run, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    assert summary["scored_by"].startswith("integer") and run_state(run) == "done"
    ref = ReferenceBCRNN.load(run / "model.packed.npz")
    assert ref.normalization == "utterance"
    assert main(["verify", str(run), "--limit", "3"]) == 0
    assert "reference == deployed Brevitas model everywhere" in capsys.readouterr().out
    files = []
    for k, gain in enumerate((1.0, 0.25)):
        files.append(tmp_path / f"u{k}.wav")
        soundfile.write(files[-1], gain * synth_waveform(1, 2, 3), 16000)
    features = log_mel_deltas(soundfile.read(files[0], dtype="float32")[0], FeatureConfig())
    own = Normalizer.from_features([features], "utterance")
    by_hand = ref.probabilities(np.stack([ref.forward(quantize_features(own(s)))
                                          for s in segment(features, FeatureConfig())])).mean(axis=0)
    assert np.array_equal(ref.predict_features(features), by_hand)
    assert np.allclose(PackedEngine(ref).predict_features(features), by_hand)
    assert main(["predict", str(files[0]), "--model", str(run)]) == 0
    alone = capsys.readouterr().out
    assert main(["predict", str(files[0]), str(files[1]), "--model", str(run)]) == 0
    both = capsys.readouterr().out
    assert both.splitlines()[0] == alone.strip()  # the other file does not change this one's statistics
    assert alone.split(": ")[1].split()[0] == ref.classes[int(np.argmax(by_hand))]
