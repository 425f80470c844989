"""bcrnn.run_folder: a run opens from its own folder or any fold folder, a folder that is no run says so, and every
checkpoint carries the experiment it was trained in."""

import json

import pytest
import torch

from bcrnn.config import ExperimentConfig, load_config
from bcrnn.experiment import run_experiment
from bcrnn.run_folder import FoldFolder, RunFolder, RunFolderError


def _layout(root):
    """A run folder's skeleton: config.json, two finished folds of seed 0 and 1, one unfinished of seed 0."""
    (root).mkdir()
    (root / "config.json").write_text(json.dumps({"experiment": {"dataset": "synth"}, "classes": ["a", "b"]}))
    for seed, name, done in ((0, "fold00-test_s01-val_s02", True), (0, "fold01-test_s02-val_s03", False),
                             (1, "fold00-test_s01-val_s02", True)):
        fold = root / "folds" / f"seed{seed}" / name
        fold.mkdir(parents=True)
        if done:
            (fold / "result.json").write_text(json.dumps({"seed": seed}))
    return root


def test_a_fold_folder_and_its_run_folder_open_to_the_same_run(tmp_path, monkeypatch):
    root = _layout(tmp_path / "run")
    fold_dir = root / "folds" / "seed0" / "fold00-test_s01-val_s02"
    run, at_fold = RunFolder.open(root), RunFolder.open(fold_dir)
    assert run.path == root and run.fold is None
    assert at_fold.path == root and at_fold.fold == FoldFolder(fold_dir)
    assert at_fold.experiment == run.experiment == {"dataset": "synth"}
    # the model each one means: the run's (model.pt) or the fold's (best.pt), with the packed file beside it
    assert (run.checkpoint, run.packed) == (root / "model.pt", root / "model.packed.npz")
    assert (at_fold.checkpoint, at_fold.packed) == (fold_dir / "best.pt", fold_dir / "model.packed.npz")
    monkeypatch.chdir(fold_dir.parent)  # a fold given relative to the working folder
    assert RunFolder.open(fold_dir.name).path.resolve() == root.resolve()
    with pytest.raises(RunFolderError, match="is a fold of the run .*give the run folder"):
        RunFolder.open(fold_dir, allow_fold=False)


def test_the_finished_folds_are_listed(tmp_path):
    run = RunFolder.open(_layout(tmp_path / "run"))
    done = run.finished_folds()
    assert [(f.seed, f.name) for f in done] == [(0, "fold00-test_s01-val_s02"), (1, "fold00-test_s01-val_s02")]
    assert [f.seed for f in run.finished_folds(seeds={1})] == [1] and run.seeds() == [0, 1]
    assert done[0].read_result() == {"seed": 0} and not run.fold_folder(0, "fold01-test_s02-val_s03").done


def test_a_folder_that_is_no_run_says_what_is_missing(tmp_path):
    with pytest.raises(RunFolderError, match=r"not a run folder: .*nothing \(config.json missing"):
        RunFolder.open(tmp_path / "nothing")
    root = _layout(tmp_path / "run")
    with pytest.raises(RunFolderError, match="not a run folder: .*seed0 .config.json missing"):
        RunFolder.open(root / "folds" / "seed0")  # a seed's folder is neither a run nor a fold


def test_a_checkpoint_carries_its_experiment(tmp_path):
    """best.pt, last.pt and model.pt say how they were trained; a checkpoint without that is loaded with the run's
    config.json instead."""
    cfg = load_config(None, {"dataset": "synth", "preset": "tiny", "folds": 1, "epochs": 1, "batch_size": 16})
    out = tmp_path / "run"
    run_experiment(cfg, out, cache_dir=tmp_path / "cache", progress=False, quiet=True)
    run = RunFolder.open(out)
    (fold,) = run.finished_folds()
    for path in (fold.best, fold.last, run.checkpoint):
        stored = torch.load(path, weights_only=False)["experiment"]
        assert ExperimentConfig.from_dict(stored) == cfg, path.name
    _, ckpt = run.at(fold).load_model()
    assert ckpt["experiment"] == cfg.to_dict() and ckpt["fold"]["test"] == fold.read_result()["test_speaker"]
    bare = torch.load(run.checkpoint, weights_only=False)
    del bare["experiment"]
    torch.save(bare, run.checkpoint)
    config = json.loads((out / "config.json").read_text())
    config["experiment"]["train"]["epochs"] = 7  # so that the run's configuration is seen to be the one used
    (out / "config.json").write_text(json.dumps(config))
    model, ckpt = RunFolder.open(out).load_model()
    assert ckpt["experiment"]["train"]["epochs"] == 7 and not model.training
