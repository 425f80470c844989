"""`bcrnn ensemble` (training/ensemble.py, its alias): an ensemble of BCRNN runs scored with the integer reference;
`bcrnn summarize` and `bcrnn repetitions` over such scores."""

import json

import pytest

from bcrnn.config import load_config
from bcrnn.experiment import run_experiment
from bcrnn.run_export import member_folder
from bcrnn.run_folder import RunFolder, RunFolderError
from script_loader import load_script


def _ensemble_module():
    return load_script("training/ensemble.py")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    runs = []
    for seed in (0, 1):
        cfg = load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1, "batch_size": 16,
                                 "seed": seed})
        run_experiment(cfg, root / f"seed{seed}", cache_dir=root / "cache", progress=False, quiet=True)
        runs.append(root / f"seed{seed}")
    return root, runs


def test_one_member_reproduces_the_runs_integer_scores(two_runs, capsys):
    root, (a, b) = two_runs
    ensemble = _ensemble_module()
    out = root / "a.json"
    assert ensemble.main([str(a), "--cache-dir", str(root / "cache"), "--out", str(out), "--no-progress"]) == 0
    alone = json.loads(out.read_text())
    metrics = json.loads((a / "metrics.json").read_text())  # the integer reference's, written by training
    assert alone["n"] == 1 and alone["uar_mean"] == pytest.approx(metrics["uar_mean"])
    assert alone["confusion"] == metrics["confusion_sum"]
    # a member twice is the member itself; two members weigh as both packed files
    assert ensemble.main([str(a), str(a), "--cache-dir", str(root / "cache"), "--out", str(out), "--no-progress"]) == 0
    twice = json.loads(out.read_text())
    assert twice["confusion"] == alone["confusion"]
    assert ensemble.main([str(a), str(b), "--cache-dir", str(root / "cache"), "--out", str(out), "--no-progress"]) == 0
    both = json.loads(out.read_text())
    sizes = [next(r.glob("folds/seed*/*/model.packed.npz")).stat().st_size for r in (a, b)]
    assert both["packed_mb"] == pytest.approx(sum(sizes) / 1e6) and both["n"] == 1
    assert "ensemble of 2 models" in capsys.readouterr().out


def test_bad_members_are_refused(two_runs, tmp_path, capsys):
    root, (a, _) = two_runs
    ensemble = _ensemble_module()
    assert ensemble.main([str(a), str(tmp_path), "--cache-dir", str(root / "cache"), "--no-progress"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    crnn = root / "crnn"
    run_experiment(load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1,
                                      "batch_size": 16, "model": "crnn"}),
                   crnn, cache_dir=root / "cache", progress=False, quiet=True)
    assert ensemble.main([str(a), str(crnn), "--cache-dir", str(root / "cache"), "--no-progress"]) == 2
    assert "only BCRNN runs" in capsys.readouterr().err


@pytest.fixture(scope="module")
def two_seed_run(two_runs):
    root, _ = two_runs
    run = root / "two-seeds"
    run_experiment(load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1,
                                      "batch_size": 16, "seeds": 2}),
                   run, cache_dir=root / "cache", progress=False, quiet=True)
    return root, run


def test_seed_selection_and_confusion_plot(two_seed_run, tmp_path, capsys):
    root, run = two_seed_run
    ensemble = _ensemble_module()
    common = ["--cache-dir", str(root / "cache"), "--no-progress"]
    assert ensemble.main([str(run), "--seeds", "1", "--out", str(tmp_path / "s1.json")] + common) == 0
    picked = json.loads((tmp_path / "s1.json").read_text())
    seed1 = json.loads(next(run.glob("folds/seed1/*/result.json")).read_text())
    assert picked["models_per_fold"] == [1] and picked["seeds"] == [1]
    assert picked["confusion"] == seed1["test_integer"]["confusion"]
    assert (tmp_path / "s1.png").stat().st_size > 0
    assert "confusion summed over the folds" in capsys.readouterr().out
    assert ensemble.main([str(run), "--seeds", "0,1", "--threads", "1", "--out", str(tmp_path / "both.json")]
                         + common) == 0
    both = json.loads((tmp_path / "both.json").read_text())
    assert both["models_per_fold"] == [2]
    # the run scored its own seed ensemble when it ended: the same figures
    own = json.loads((run / "ensemble.json").read_text())
    assert own["confusion"] == both["confusion"] and own["uar_mean"] == both["uar_mean"]
    assert json.loads((run / "metrics.json").read_text())["seed_ensemble"]["uar_mean"] == own["uar_mean"]
    assert (run / "ensemble.png").stat().st_size > 0
    assert "seed ensemble of 2 models" in (run / "train.log").read_text()
    assert ensemble.main([str(run), "--seeds", "7"] + common) == 2
    assert "no finished fold in common with these seeds" in capsys.readouterr().err
    assert ensemble.main([str(run), "--seeds", "one"] + common) == 2
    assert "comma-separated integers" in capsys.readouterr().err
    assert ensemble.main([str(run), "--threads", "0"] + common) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_member_folder_is_a_run_folder_of_one_seed(two_seed_run):
    """What the FINN build's --seed takes: seed 1's first fold as a run folder, its QONNX export checked."""
    root, run = two_seed_run
    member = member_folder(RunFolder.open(run), 1, cache_dir=root / "cache", log=lambda _: None).path
    assert member == run / "members" / "seed1"
    fold = next(run.glob("folds/seed1/*/result.json")).parent
    assert (member / "model.packed.npz").read_bytes() == (fold / "model.packed.npz").read_bytes()
    assert (member / "model.packed.npz").read_bytes() != (run / "model.packed.npz").read_bytes()  # not seed 0's
    check = json.loads((member / "export_check.json").read_text())
    assert check["segments"] > 0 and (member / "model.qonnx.onnx").stat().st_size > 0
    with pytest.raises(RunFolderError, match="no finished BCRNN fold of seed 4 .seeds here: seed0, seed1"):
        member_folder(RunFolder.open(run), 4, cache_dir=root / "cache")


def test_run_features_reads_the_runs_corpus(two_seed_run, tmp_path):
    """The ensemble scorer, member folders and the FINN build's verification all load a run's corpus this way."""
    root, run = two_seed_run
    config = json.loads((run / "config.json").read_text())["experiment"]
    fs = RunFolder.open(run).features(cache_dir=root / "cache", progress=False)
    assert config["dataset"] == "synth" and len(fs.speakers) > 0
    with pytest.raises(RunFolderError, match="not a run folder"):
        RunFolder.open(tmp_path)


def test_summarize_picks_seeds(two_seed_run):
    """`bcrnn summarize --seeds`: one seed's fold runs of a multi-seed run."""
    from bcrnn.run_summary import summarize

    _, run = two_seed_run
    both, one = summarize(RunFolder.open(run)), summarize(RunFolder.open(run), seeds={1})
    seed1 = json.loads(next(run.glob("folds/seed1/*/result.json")).read_text())
    assert both["n"] == 2 and one["n"] == 1
    assert one["uar_mean"] == pytest.approx(seed1["test_integer"]["uar"])


def test_speaker_batch_norm_members_are_enrolled_on_each_scored_speaker(tmp_path):
    """A member trained with speaker batch norm scores its validation speaker with that speaker's own batch-norm
    statistics (its stored packed model holds the test speaker's): the validation score is the adapted float
    model's, and the test score the run's own integer score."""
    import numpy as np

    from bcrnn.ensemble import enrolled_engine, score_ensemble
    from bcrnn.fold_data import segment_data
    from bcrnn.features import Normalizer
    from bcrnn.models import load_checkpoint
    from bcrnn.training import adapt_batch_norm, evaluate

    run = tmp_path / "sbn"
    cfg = load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 2, "batch_size": 16,
                             "normalization": "speaker", "speaker_batch_norm": True})
    run_experiment(cfg, run, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    fs = RunFolder.open(run).features(cache_dir=tmp_path / "cache", progress=False)
    scores = score_ensemble([RunFolder.open(run)], fs, progress=False)
    fold_dir = next(run.glob("folds/seed0/fold*"))
    result = json.loads((fold_dir / "result.json").read_text())
    assert scores["folds"][0]["test"]["uar"] == pytest.approx(result["test_integer"]["uar"])
    model, ckpt = load_checkpoint(fold_dir / "best.pt")
    val = segment_data(fs, [result["validation_speaker"]], Normalizer.from_dict(ckpt["normalizer"]))
    float_val = evaluate(adapt_batch_norm(model, val.x), val, len(fs.classes))
    assert scores["folds"][0]["validation"]["uar"] == pytest.approx(float_val["uar"])
    stored = enrolled_engine(RunFolder.open(fold_dir), fs, result["test_speaker"])
    enrolled = enrolled_engine(RunFolder.open(fold_dir), fs, result["validation_speaker"])
    assert not np.array_equal(stored.ref.params["dense_threshold"], enrolled.ref.params["dense_threshold"])
    assert enrolled.ref.meta["batch_norm_speaker"] == result["validation_speaker"]


def test_adapt_batch_norm_enrols_members_trained_without_it(two_runs):
    """--adapt-batch-norm: a plain member scores every speaker with that speaker's own batch-norm statistics
    (thresholds re-estimated on its unlabelled segments), exactly as its enrolled integer network does."""
    import numpy as np

    from bcrnn.engine import PackedEngine
    from bcrnn.ensemble import enrolled_engine, score_ensemble, speaker_posteriors

    root, (a, _) = two_runs
    fs = RunFolder.open(a).features(cache_dir=root / "cache", progress=False)
    plain = score_ensemble([RunFolder.open(a)], fs, progress=False)
    adapted = score_ensemble([RunFolder.open(a)], fs, False, adapt_batch_norm=True)
    assert plain["enrolled"] == [] and adapted["enrolled"] == [str(a)]
    fold_dir = next(a.glob("folds/seed0/fold*"))
    result = json.loads((fold_dir / "result.json").read_text())
    assert plain["folds"][0]["test"]["uar"] == pytest.approx(result["test_integer"]["uar"])
    stored = PackedEngine.load(fold_dir / "model.packed.npz")  # the training speakers' thresholds
    for role in ("test", "validation"):
        speaker = result[f"{role}_speaker"]
        engine = enrolled_engine(RunFolder.open(fold_dir), fs, speaker)
        assert engine.ref.meta["batch_norm_speaker"] == speaker
        assert not np.array_equal(stored.ref.params["dense_threshold"], engine.ref.params["dense_threshold"])
        y_pred = speaker_posteriors([engine], fs, speaker).argmax(axis=1)
        y_true = fs.labels[fs.select([speaker])]
        assert adapted["folds"][0][role]["confusion"] == np.bincount(
            y_true * len(fs.classes) + y_pred, minlength=len(fs.classes) ** 2).reshape(len(fs.classes), -1).tolist()


def _repetitions_module():
    from bcrnn import repetitions

    return repetitions


def _ensemble_json(path, fold_uars, wa=0.5, val=0.6):
    """The fields of a `bcrnn ensemble --out` file that `bcrnn repetitions` reads."""
    folds = [{"fold": f, "test_speaker": f"{10 + f}", "test": {"uar": u}} for f, u in fold_uars.items()]
    path.write_text(json.dumps({"members": ["a", "b"], "folds": folds, "wa_mean": wa, "val_uar_mean": val}))
    return str(path)


def test_repetitions_mean_std_and_gap(tmp_path, capsys):
    """Mean +- std over repetition means, the pooled fold std, and the gap to a reference, by hand."""
    repetitions = _repetitions_module()
    a = _ensemble_json(tmp_path / "a.json", {0: 0.8, 1: 0.6})
    b = _ensemble_json(tmp_path / "b.json", {0: 0.9, 1: 0.7})
    c = _ensemble_json(tmp_path / "c.json", {0: 0.85, 1: 0.75})
    out, png = tmp_path / "rep.json", tmp_path / "rep.png"
    assert repetitions.main([a, b, "--reference", c, "--out", str(out), "--plot", str(png)]) == 0
    s = json.loads(out.read_text())
    assert s["recipe"]["n"] == 2 and s["recipe"]["uar_mean"] == pytest.approx(0.75)
    assert s["recipe"]["uar_std"] == pytest.approx(0.05)
    assert s["recipe"]["fold_runs"] == 4 and s["recipe"]["fold_uar_std"] == pytest.approx(0.0125 ** 0.5)
    assert s["gap_points"] == pytest.approx(-5.0)
    assert "gap: recipe - reference = -5.0 UAR points" in capsys.readouterr().out
    assert png.stat().st_size > 0


def test_repetitions_refuse_other_folds_and_other_files(tmp_path, capsys):
    repetitions = _repetitions_module()
    a = _ensemble_json(tmp_path / "a.json", {0: 0.8, 1: 0.6})
    partial = _ensemble_json(tmp_path / "partial.json", {0: 0.8})
    assert repetitions.main([a, partial]) == 2
    assert "covers folds [0]" in capsys.readouterr().err
    assert repetitions.main([a, "--reference", partial]) == 2  # a gap over other folds is refused too
    (tmp_path / "other.json").write_text(json.dumps({"uar_mean": 0.8}))
    assert repetitions.main([str(tmp_path / "other.json")]) == 2
    assert "not an ensemble JSON" in capsys.readouterr().err
    assert repetitions.main([str(tmp_path)]) == 2
    assert "neither a run folder" in capsys.readouterr().err


def test_repetitions_read_every_seed_of_a_run_folder(two_seed_run, tmp_path):
    """A run folder of two seeds is two repetitions, each scored as its seed's integer reference."""
    _, run = two_seed_run
    repetitions = _repetitions_module()
    reps = repetitions.read_repetitions(run)
    scores = [json.loads(next(run.glob(f"folds/seed{s}/*/result.json")).read_text())["test_integer"]["uar"]
              for s in (0, 1)]
    assert [r.name for r in reps] == [f"{run.name} seed 0", f"{run.name} seed 1"]
    assert [r.mean for r in reps] == pytest.approx(scores)
    out = tmp_path / "rep.json"
    assert repetitions.main([str(run), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["recipe"]["uar_mean"] == pytest.approx(sum(scores) / 2)
