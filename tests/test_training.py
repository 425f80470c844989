"""Training loop: determinism, resume after a kill, and the run folder's reports."""

import json
import shutil
from dataclasses import replace
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from bcrnn.config import ExperimentConfig, load_config
from bcrnn.experiment import run_experiment
from bcrnn.features import Normalizer
from bcrnn.fold_data import segment_data
from bcrnn.models import build_model
from bcrnn.run_folder import RunFolder, RunFolderError
from bcrnn.training import TrainConfig, fit


def _fold_data(fs):
    norm = Normalizer.fit(fs, fs.select(["s01", "s02"]))
    return segment_data(fs, ["s01", "s02"], norm), segment_data(fs, ["s03"], norm)


def _fit(fs, tmp, epochs=3, log=lambda m: None, teacher=None, **train_kw):
    torch.manual_seed(0)
    model = build_model("bcrnn", "tiny", len(fs.classes))
    train, val = _fold_data(fs)
    cfg = TrainConfig(**{"epochs": epochs, "batch_size": 8, "patience": 10, "time_masks": 1, "freq_masks": 1,
                         **train_kw})
    return fit(model, train, val, len(fs.classes), cfg, tmp, seed=3, log=log, progress=False, teacher=teacher)


def test_same_seed_same_numbers(synth_features, tmp_path):
    best_a, hist_a = _fit(synth_features, tmp_path / "a")
    best_b, hist_b = _fit(synth_features, tmp_path / "b")
    assert hist_a.train_loss == hist_b.train_loss and hist_a.val_uar == hist_b.val_uar
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)


@pytest.mark.parametrize("train_kw", [{}, {"selection": "average", "average_epochs": 2, "mixup": 0.4},
                                      {"speed_perturb": 0.1}])
def test_resume_after_a_kill_gives_the_uninterrupted_result(synth_features, tmp_path, train_kw):
    best_a, hist_a = _fit(synth_features, tmp_path / "a", **train_kw)

    def killer(msg):
        if "epoch   3" in msg:
            raise KeyboardInterrupt  # dies during epoch 3, before its checkpoint is written

    with pytest.raises(KeyboardInterrupt):
        _fit(synth_features, tmp_path / "b", log=killer, **train_kw)
    state = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert state["epoch"] == 1  # epochs 1 and 2 were saved (with average_epochs 2: one of them in the sum)
    best_b, hist_b = _fit(synth_features, tmp_path / "b", **train_kw)
    assert hist_a.train_loss == hist_b.train_loss and hist_a.val_uar == hist_b.val_uar
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)


def test_fixed_budget_selections_keep_the_last_or_averaged_weights(synth_features, tmp_path):
    best, hist = _fit(synth_features, tmp_path / "last", epochs=3, selection="last", patience=1)
    assert len(hist.val_uar) == 3 and hist.selected_epoch == 3  # patience ignored: no early stopping
    state = torch.load(tmp_path / "last" / "last.pt", weights_only=False)
    assert all(torch.equal(best[k], state["model"][k]) for k in best)
    avg, hist = _fit(synth_features, tmp_path / "avg", epochs=3, selection="average", average_epochs=2)
    state = torch.load(tmp_path / "avg" / "last.pt", weights_only=False)
    assert state["avg_count"] == 2 and hist.selected_epoch == 3
    # the kept weights' validation UAR is the average's (what result.json reports), not the last epoch's
    from bcrnn.training import evaluate

    model = build_model("bcrnn", "tiny", len(synth_features.classes))
    model.load_state_dict(avg)
    assert hist.selected_val_uar == pytest.approx(evaluate(model, _fold_data(synth_features)[1],
                                                           len(synth_features.classes))["uar"])
    k = "dense.fc.weight"
    assert torch.allclose(avg[k].double(), state["avg_sum"][k] / 2)
    assert not torch.equal(avg["dense.bn.running_mean"], state["model"]["dense.bn.running_mean"])  # re-estimated
    with pytest.raises(ValueError, match="selection"):
        _fit(synth_features, tmp_path / "bad", selection="best-of-three")


def test_validate_every_skips_monitoring_epochs_but_not_the_last(synth_features, tmp_path):
    logs = []
    avg, hist = _fit(synth_features, tmp_path / "avg", epochs=5, selection="average", average_epochs=2,
                     validate_every=2, log=logs.append)
    assert [v is None for v in hist.val_uar] == [True, False, True, False, False]  # epochs 2, 4 and the last
    assert [v is None for v in hist.val_loss] == [True, False, True, False, False]
    assert sum("(not validated)" in m for m in logs) == 2
    full, hist_full = _fit(synth_features, tmp_path / "full", epochs=5, selection="average", average_epochs=2)
    assert all(torch.equal(avg[k], full[k]) for k in avg)  # validation does not change what is trained
    assert [hist.val_uar[i] for i in (1, 3, 4)] == [hist_full.val_uar[i] for i in (1, 3, 4)]
    with pytest.raises(ValueError, match="validate_every"):
        TrainConfig(validate_every=2)  # selection "best" selects by validation
    with pytest.raises(ValueError, match="validate_every"):
        TrainConfig(validate_every=0, selection="last")
    with pytest.raises(ValueError, match="gradient_precision"):
        TrainConfig(gradient_precision="float16")


def test_two_stage_training_starts_binary_weights_from_real_ones(synth_features, tmp_path):
    """real_weight_epochs N: the first N epochs compute with the real-valued weights (activations still +-1), the
    learning rate restarts at the switch, and the kept weights are a normal BCRNN's; resumed across the switch it
    gives the uninterrupted result."""
    from bcrnn.training import lr_factor

    fs = synth_features
    model = build_model("bcrnn", "tiny", len(fs.classes)).eval()
    x = torch.from_numpy(_fold_data(fs)[1].x[:4])
    binary = model(x)
    model.use_real_weights(True)
    real = model(x)
    assert not torch.allclose(real, binary)
    model.use_real_weights(False)
    assert torch.equal(model(x), binary)  # the switch back changes nothing else
    # in the real stage the activations stay binary: every conv, dense, LSTM and FC output is +-1
    model.use_real_weights(True)
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=name: seen.__setitem__(n, o))
             for name, m in (("conv", model.convs[0]), ("dense", model.dense), ("lstm", model.lstm))]
    model(x)
    for h in hooks:
        h.remove()
    assert all(set(torch.unique(v).tolist()) <= {-1.0, 1.0} for v in seen.values()), seen.keys()
    with pytest.raises(ValueError, match="this is a CRNN"):
        build_model("crnn", "tiny", 4).use_real_weights(True)

    cfg = TrainConfig(epochs=5, real_weight_epochs=2, selection="average", average_epochs=2)
    assert [round(lr_factor(e, cfg), 3) for e in range(5)] == [0.5, 1.0, 0.5, 1.0, 0.05 + 0.95 * 0.5]
    logs = []
    kw = {"epochs": 5, "selection": "average", "average_epochs": 2, "real_weight_epochs": 2}
    best, hist = _fit(fs, tmp_path / "a", log=logs.append, **kw)
    assert sum("binarized from the real-valued ones" in m for m in logs) == 1
    assert hist.lr[2] == hist.lr[0] and hist.lr[2] < hist.lr[1]  # the schedule restarts at the switch
    one_stage, _ = _fit(fs, tmp_path / "b", **(kw | {"real_weight_epochs": 0}))
    assert not torch.equal(best["dense.fc.weight"], one_stage["dense.fc.weight"])

    def killer(msg):
        if "epoch   4" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(fs, tmp_path / "c", log=killer, **kw)
    resumed, hist_c = _fit(fs, tmp_path / "c", **kw)
    assert hist_c.train_loss == hist.train_loss and all(torch.equal(best[k], resumed[k]) for k in best)
    for bad, match in (({"selection": "best"}, "fixed budget"), ({"real_weight_epochs": 4}, "leaves 1 binary")):
        with pytest.raises(ValueError, match=match):
            TrainConfig(**(kw | bad))
    with pytest.raises(ValueError, match="two-stage training of the binary model"):
        load_config(None, {"model": "crnn", "selection": "last", "real_weight_epochs": 1})
    # a two-stage run ends as a deployable BCRNN: packed, scored by the integer reference, exported
    from bcrnn.recipes import run_state

    out = tmp_path / "run"
    run_experiment(_tiny_cfg(folds=1, epochs=3, selection="last", real_weight_epochs=1), out,
                   cache_dir=tmp_path / "cache", progress=False, quiet=True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["scored_by"].startswith("integer") and run_state(out) == "done"


def test_recipe_options_round_trip_through_config_json_and_resume(tmp_path):
    out = tmp_path / "run"
    cfg = _tiny_cfg(folds=1, epochs=2, normalization="speaker", selection="average", average_epochs=2, mixup=0.2)
    first = run_experiment(cfg, out, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    result_path = next(out.glob("folds/seed0/*/result.json"))
    logged = re.search(r"average of the last 2 epochs' weights.*val UAR ([0-9.]+)", (out / "train.log").read_text())
    assert f"{json.loads(result_path.read_text())['val_uar']:.3f}" == logged[1]  # the average's, not the last epoch's
    # summarize.py finds the same figure in the log (how runs older than that result.json field are scored)
    from bcrnn.run_summary import averaged_val_uars

    assert averaged_val_uars(RunFolder.open(out)) == {f"seed0/{result_path.parent.name}": float(logged[1])}
    stored = json.loads((out / "config.json").read_text())["experiment"]
    assert stored["normalization"] == "speaker" and stored["train"]["selection"] == "average"
    assert ExperimentConfig.from_dict(stored) == cfg
    again = run_experiment(cfg, out, resume=True, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    assert again["uar_mean"] == first["uar_mean"]
    with pytest.raises(RunFolderError, match="normalization"):
        run_experiment(_tiny_cfg(folds=1, epochs=2, selection="average", average_epochs=2, mixup=0.2), out,
                       resume=True, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    # the packed model says how to normalize, and the integer reference uses the test speaker's statistics
    from bcrnn.reference.model import ReferenceBCRNN

    ref = ReferenceBCRNN.load(out / "model.packed.npz")
    assert ref.normalization == "speaker"
    with pytest.raises(ValueError, match="normalization"):
        _tiny_cfg(normalization="per-utterance")


def _tiny_cfg(**kw):
    return load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 2, "epochs": 2, "batch_size": 16,
                              **kw})


def test_run_folder_has_every_report(tmp_path):
    out = tmp_path / "run"
    summary = run_experiment(_tiny_cfg(), out, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    for name in ("config.json", "metrics.json", "size.json", "confusion.png", "curves.png", "model.pt",
                 "train.log"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_runs"] == 2 and len(m["folds"]) == 2
    uars = [f["uar"] for f in m["folds"]]
    assert m["uar_mean"] == pytest.approx(np.mean(uars)) and m["uar_std"] == pytest.approx(np.std(uars))
    assert set(m["per_class_recall_mean"]) == {"angry", "happy", "sad", "neutral"}
    assert np.asarray(m["confusion_sum"]).sum() == 80  # 2 test speakers x 40 utterances
    for f in m["folds"]:  # no speaker in two roles, and the stored predictions give the stored UAR
        r = json.loads(next((out / "folds" / "seed0").glob(f"fold{f['fold']:02d}-*/result.json")).read_text())
        assert r["test_speaker"] != r["validation_speaker"]
        assert r["test_speaker"] not in r["train_speakers"] and r["validation_speaker"] not in r["train_speakers"]
        pred = np.asarray(r["predictions"]["y_pred"])
        true = np.asarray(r["predictions"]["y_true"])
        recalls = [np.mean(pred[true == c] == c) for c in np.unique(true)]
        assert np.mean(recalls) == pytest.approx(f["uar"])
        assert all(u.startswith(r["test_speaker"]) for u in r["predictions"]["utt_id"])
    # a BCRNN is scored by its integer reference, and the packed file is what size.json counts
    assert m["scored_by"].startswith("integer reference") and 0 <= m["integer_float_agreement"] <= 1
    assert "float_uar_mean" in m and (out / "model.packed.npz").is_file()
    assert (out / "model.qonnx.onnx").is_file()
    assert json.loads((out / "export_check.json").read_text())["predictions_equal"] > 0
    size = json.loads((out / "size.json").read_text())
    assert size["packed_file_bytes"] == (out / "model.packed.npz").stat().st_size
    assert size["packed_mb"] == size["packed_file_bytes"] / 1e6
    assert size["compression"] == pytest.approx(size["float32_mb"] / size["packed_mb"])
    assert size["binary"] and size["compression"] > 1  # tiny: the npz headers weigh as much as its bits
    assert summary["uar_mean"] == m["uar_mean"]
    # `bcrnn summarize` reads the folds' result files and agrees with metrics.json
    from bcrnn.run_summary import markdown, summarize

    s = summarize(RunFolder.open(out))
    assert s["n"] == 2 and s["integer"] and s["uar_mean"] == pytest.approx(m["uar_mean"])
    assert s["confusion"] == m["confusion_sum"] and s["packed_mb"] > 0
    assert s["val_uar_mean"] == pytest.approx(np.mean([f["val_uar"] for f in m["folds"]]))
    table = markdown(s, RunFolder.open(out))
    assert f"**{100 * m['uar_mean']:.1f} +- {100 * m['uar_std']:.1f}**" in table
    assert sum(line.startswith(("| ang", "| hap", "| sad", "| neu")) for line in table.splitlines()) == 4


def test_existing_run_needs_resume_and_resume_checks_the_config(tmp_path):
    out = tmp_path / "run"
    cfg = _tiny_cfg(folds=1, epochs=1)
    first = run_experiment(cfg, out, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    with pytest.raises(RunFolderError, match="--resume"):
        run_experiment(cfg, out, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    again = run_experiment(cfg, out, resume=True, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    assert again["uar_mean"] == first["uar_mean"]  # the done fold is read back, not retrained
    with pytest.raises(RunFolderError, match="preset"):
        run_experiment(_tiny_cfg(folds=1, epochs=1, preset="small"), out, resume=True,
                       cache_dir=tmp_path / "cache", progress=False, quiet=True)


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("dataset: emodb\npreset: paper\ntrain:\n  lr: 0.0005\n  epochs: 7\n")
    cfg = load_config(path, {"epochs": 9, "model": "crnn"})
    assert (cfg.dataset, cfg.preset, cfg.model, cfg.train.lr, cfg.train.epochs) == ("emodb", "paper", "crnn",
                                                                                     0.0005, 9)
    assert cfg.folds is None  # emodb default: one fold per speaker
    synth = load_config(None, {})
    assert synth.dataset == "synth" and synth.folds == 3
    for bad in ({"patience": 0}, {"epochs": 0}, {"batch_size": 1}, {"seeds": 0}, {"lr": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            load_config(None, bad)
    path.write_text("datset: emodb\n")
    with pytest.raises(ValueError, match="datset"):
        load_config(path, {})
    assert isinstance(ExperimentConfig.from_dict(cfg.to_dict()), ExperimentConfig)


def test_fold_selection_shares_a_run_folder(tmp_path):
    from bcrnn.experiment import parse_fold_selection

    assert parse_fold_selection("0,2-3", 5) == {0, 2, 3} and parse_fold_selection(None, 3) == {0, 1, 2}
    with pytest.raises(ValueError, match="from 0 to 4"):
        parse_fold_selection("3-7", 5)
    with pytest.raises(ValueError, match="indices like"):
        parse_fold_selection("a", 5)
    with pytest.raises(ValueError, match="selects no fold"):
        parse_fold_selection("5-3", None)
    out, cfg = tmp_path / "run", _tiny_cfg(epochs=1)
    assert run_experiment(cfg, out, cache_dir=tmp_path / "c", progress=False, quiet=True, only_folds="1") is None
    assert not (out / "metrics.json").exists()
    summary = run_experiment(cfg, out, resume=True, cache_dir=tmp_path / "c", progress=False, quiet=True,
                             only_folds="0")
    assert summary["n_runs"] == 2 and (out / "metrics.json").exists()


@pytest.mark.slow
def test_distillation_from_a_teacher_run(tmp_path):
    """--teacher RUN --distill-weight w: each fold's student learns from the teacher run's model of the same fold
    (same speakers, same normalization, checked); the loss term is the T^2-scaled KL of the soft targets."""
    from bcrnn.training import distillation_loss

    teacher_run = tmp_path / "crnn"
    run_experiment(_tiny_cfg(model="crnn", normalization="speaker"), teacher_run, cache_dir=tmp_path / "cache",
                   progress=False, quiet=True)
    student = _tiny_cfg(normalization="speaker", teacher=str(teacher_run), distill_weight=0.5)
    summary = run_experiment(student, tmp_path / "bcrnn", cache_dir=tmp_path / "cache", progress=False, quiet=True)
    log = (tmp_path / "bcrnn" / "train.log").read_text()
    assert log.count("distillation weight 0.5") == 2 and summary["n_runs"] == 2
    assert "initialized from the teacher" not in log
    started = _tiny_cfg(normalization="speaker", teacher=str(teacher_run), init_from_teacher=True)
    run_experiment(started, tmp_path / "started", cache_dir=tmp_path / "cache", progress=False, quiet=True)
    assert (tmp_path / "started" / "train.log").read_text().count("weights initialized from the teacher's") == 2
    with pytest.raises(ValueError, match="init_from_teacher"):
        _tiny_cfg(init_from_teacher=True)  # no teacher
    with pytest.raises(ValueError, match="distill_weight > 0 distils from a teacher run"):
        _tiny_cfg(distill_weight=0.5)  # no teacher
    run_experiment(_tiny_cfg(normalization="speaker"), tmp_path / "plain", cache_dir=tmp_path / "cache",
                   progress=False, quiet=True)
    losses = [json.loads(p.read_text())["history"]["train_loss"]
              for p in sorted((tmp_path / "bcrnn" / "folds").rglob("result.json"))]
    plain_losses = [json.loads(p.read_text())["history"]["train_loss"]
                    for p in sorted((tmp_path / "plain" / "folds").rglob("result.json"))]
    assert losses != plain_losses  # the teacher changes training
    with pytest.raises(ValueError, match="normalizes features differently"):  # global-normalized student
        run_experiment(_tiny_cfg(teacher=str(teacher_run), distill_weight=0.5), tmp_path / "bad",
                       cache_dir=tmp_path / "cache", progress=False, quiet=True)
    with pytest.raises(ValueError, match="teacher run .*nothing not found.*train it first"):
        run_experiment(_tiny_cfg(teacher=str(tmp_path / "nothing"), distill_weight=0.5), tmp_path / "bad2",
                       cache_dir=tmp_path / "cache", progress=False, quiet=True)
    assert not (tmp_path / "bad2").exists()  # said before anything was written
    unfinished = tmp_path / "crnn-unfinished"  # a teacher run still training (or killed): its fold 1 not there yet
    shutil.copytree(teacher_run, unfinished)
    (next(unfinished.rglob("fold01*")) / "best.pt").unlink()
    with pytest.raises(ValueError, match="no finished fold01.*--resume"):
        run_experiment(_tiny_cfg(normalization="speaker", teacher=str(unfinished), distill_weight=0.5),
                       tmp_path / "bad3", cache_dir=tmp_path / "cache", progress=False, quiet=True)
    x, y = torch.randn(4, 7), torch.randn(4, 7)
    assert float(distillation_loss(x, x, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(x, y, 3.0)) > 0
    # an ensemble teacher (teacher_seeds 2: the runs <name>-s0 and -s1): two identical teacher runs teach like one
    for k in (0, 1):
        shutil.copytree(teacher_run, tmp_path / f"crnn-s{k}")
    pair = _tiny_cfg(normalization="speaker", teacher=str(tmp_path / "crnn-s0"), teacher_seeds=2, distill_weight=0.5)
    run_experiment(pair, tmp_path / "by-pair", cache_dir=tmp_path / "cache", progress=False, quiet=True)
    assert (tmp_path / "by-pair" / "train.log").read_text().count("crnn-s1") == 2  # each fold read the second run
    pair_losses = [json.loads(p.read_text())["history"]["train_loss"]
                   for p in sorted((tmp_path / "by-pair" / "folds").rglob("result.json"))]
    assert np.allclose(pair_losses, losses, atol=1e-5)


def test_ensemble_teacher_is_the_runs_of_consecutive_seeds(tmp_path):
    """teacher_seeds N: --teacher <name>-s<k> and its siblings -s<k+1> ...; their fold models teach by mean logits."""
    from bcrnn.teacher import MeanLogits, teacher_runs

    cfg = _tiny_cfg(teacher=str(tmp_path / "crnn-s4"), teacher_seeds=3, distill_weight=0.5)
    assert teacher_runs(cfg) == [str(tmp_path / f"crnn-s{k}") for k in (4, 5, 6)]
    with pytest.raises(ValueError, match="named <name>-s<k>"):
        teacher_runs(_tiny_cfg(teacher=str(tmp_path / "crnn"), teacher_seeds=2, distill_weight=0.5))
    with pytest.raises(ValueError, match="teacher_seeds > 1 distils from an ensemble"):
        _tiny_cfg(teacher="runs/x-s0", teacher_seeds=2)  # no distillation
    with pytest.raises(ValueError, match="teacher run .*crnn-s4 not found"):
        run_experiment(cfg, tmp_path / "bad", cache_dir=tmp_path / "cache", progress=False, quiet=True)
    a, b = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    x = torch.randn(4, 5)
    assert torch.allclose(MeanLogits([a, b])(x), (a(x) + b(x)) / 2)


class _CountingTeacher(torch.nn.Module):
    """A fixed random linear teacher that counts the segments it has seen."""

    def __init__(self, n_classes):
        super().__init__()
        self.proj = torch.nn.LazyLinear(n_classes)
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return self.proj(x.flatten(1)) * 3


def test_distillation_computes_the_teacher_once_per_segment_without_augmentation(synth_features, tmp_path):
    """Without masks or mixup a segment's input is fixed, so its teacher logits are computed once per fold and
    reused every epoch; with masks the teacher sees each (masked) batch. Both reach the loss the same way."""
    from bcrnn.training import teacher_logits

    torch.manual_seed(1)
    n_classes = len(synth_features.classes)
    teacher = _CountingTeacher(n_classes).eval()
    train, _ = _fold_data(synth_features)
    with torch.no_grad():
        expected = teacher(torch.from_numpy(train.x))
    teacher.seen = 0
    assert torch.allclose(teacher_logits(teacher, train.x, 8), expected, atol=1e-5)
    assert teacher.seen == len(train)

    teacher.seen = 0
    _, hist = _fit(synth_features, tmp_path / "cached", epochs=3, time_masks=0, freq_masks=0, distill_weight=0.7,
                   teacher=teacher)
    assert teacher.seen == len(train)  # once, not once per epoch
    teacher.seen = 0
    _, hist_masked = _fit(synth_features, tmp_path / "masked", epochs=3, distill_weight=0.7, teacher=teacher)
    assert teacher.seen == 3 * (len(train) - (len(train) % 8 == 1))  # every epoch (a batch of 1 is dropped)
    teacher.seen = 0
    _, hist_speed = _fit(synth_features, tmp_path / "speed", epochs=3, time_masks=0, freq_masks=0,
                         speed_perturb=0.1, distill_weight=0.7, teacher=teacher)
    assert teacher.seen == 3 * (len(train) - (len(train) % 8 == 1))  # the teacher sees every perturbed batch
    assert hist_speed.train_loss != hist.train_loss
    _, hist_plain = _fit(synth_features, tmp_path / "plain", epochs=3, time_masks=0, freq_masks=0)
    assert hist.train_loss != hist_plain.train_loss  # the cached soft targets do reach the loss


def test_shipped_experiment_files_load():
    """Every YAML of training/configs/ is a valid experiment; the best BCRNN's names its teacher and the hw preset's
    architecture."""
    from bcrnn.config import load_config
    from bcrnn.models import PRESETS

    files = sorted((Path(__file__).resolve().parents[1] / "training" / "configs").glob("*.yaml"))
    assert len(files) >= 3
    configs = {f.stem: load_config(f, {}) for f in files}
    best = configs["emodb_bcrnn_best"]
    assert best.model == "bcrnn" and best.teacher and best.train.distill_weight == 0.5
    assert PRESETS[best.preset] == PRESETS["hw"]
    ensemble = configs["emodb_bcrnn_ensemble"]  # three seeds of the best BCRNN's recipe
    assert ensemble.preset == "hw" and ensemble.seeds == 3 and ensemble.teacher == best.teacher
    assert ensemble.train == best.train
    # the reported pair's two members: the best recipe cut to the 2-hour budget, with and without speaker BN
    fast, fast_sbn = configs["emodb_bcrnn_fast"], configs["emodb_bcrnn_fast_sbn"]
    assert fast.preset == fast_sbn.preset == "hw" and fast.teacher == fast_sbn.teacher == best.teacher
    assert fast.train.gradient_precision == "bfloat16" and fast.train.validate_every == 5 and fast.train.epochs == 26
    assert not fast.train.speaker_batch_norm and fast_sbn.train == replace(fast.train, speaker_batch_norm=True)


def test_speaker_batches_hold_one_speaker_each_and_cover_every_segment_once(synth_features):
    from bcrnn.training import speaker_batches

    train, _ = _fold_data(synth_features)
    batches = speaker_batches(train, 8, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(train)))
    assert all(len(set(train.speaker[b])) == 1 and 1 <= len(b) <= 8 for b in batches)
    assert len({train.speaker[b[0]] for b in batches}) == 2  # both training speakers
    first_speaker = [train.speaker[b[0]] for b in batches]
    assert first_speaker != sorted(first_speaker) or len(set(first_speaker[: len(batches) // 2])) == 2  # interleaved
    train.speaker = None
    with pytest.raises(ValueError, match="speaker of every training segment"):
        speaker_batches(train, 8, np.random.default_rng(0))


def test_adapt_batch_norm_takes_the_scored_speakers_statistics(synth_features):
    """After adaptation, every batch-norm layer normalizes the given segments to its own affine offset (the
    per-channel mean of its output over the data is beta); the original model is left as it was."""
    from bcrnn.training import adapt_batch_norm

    torch.manual_seed(0)
    model = build_model("bcrnn", "tiny", len(synth_features.classes)).eval()
    _, val = _fold_data(synth_features)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapted = adapt_batch_norm(model, val.x, batch_size=7)  # batches of unequal size: statistics over all segments
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not adapted.training
    bns = {n: m for n, m in adapted.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    assert set(bns) == {"convs.0.bn", "dense.bn", "fc_bn", "out_bn"}
    seen = {}
    handles = [m.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o.detach().double()))
               for n, m in bns.items()]
    with torch.no_grad():
        adapted(torch.from_numpy(val.x))  # one batch of every segment
    for h in handles:
        h.remove()
    for name, bn in bns.items():  # each layer's output over the data: mean beta, population std |gamma| (eps aside)
        out = seen[name].transpose(0, 1).reshape(bn.num_features, -1)
        assert torch.allclose(out.mean(1), bn.bias.detach().double(), atol=1e-5), name
        var = bn.running_var.double()
        expected_std = bn.weight.detach().double().abs() * torch.sqrt(var / (var + bn.eps))
        assert torch.allclose(out.std(1, unbiased=False), expected_std, rtol=1e-4), name
    bn = bns["convs.0.bn"]
    assert not torch.allclose(bn.running_mean, model.convs[0].bn.running_mean)


def test_speaker_batch_norm_run_scores_each_speaker_with_its_own_statistics(tmp_path):
    """--speaker-batch-norm end to end: logged adaptation to each test speaker, the packed (integer) model is the
    adapted one and makes the float model's decisions, best.pt records the speaker."""
    out = tmp_path / "run"
    run_experiment(_tiny_cfg(normalization="speaker", speaker_batch_norm=True), out, cache_dir=tmp_path / "cache",
                   progress=False, quiet=True)
    log = (out / "train.log").read_text()
    assert log.count("batch norm adapted to test speaker") == 2
    for result_file in sorted((out / "folds").rglob("result.json")):
        result = json.loads(result_file.read_text())
        assert result["integer_float_agreement"] == 1.0
        ckpt = torch.load(result_file.parent / "best.pt", weights_only=False)
        assert ckpt["batch_norm_speaker"] == result["test_speaker"]
    assert json.loads((out / "config.json").read_text())["experiment"]["train"]["speaker_batch_norm"] is True
