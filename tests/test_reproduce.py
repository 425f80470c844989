"""The named recipes (bcrnn/recipes/) and `bcrnn reproduce`: the reported models as data, teachers named by recipe;
a whole table reproduced on real Emo-DB in dependency order (the teacher before its students), its table written
and printed, and a second call that trains nothing, a third that resumes a cut-short run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_recipes_are_the_reported_models():
    """The table's rows, the pair's member and seeds, the teacher by name, and the experiment files of the same
    recipes (training/configs/, which name their teacher by run folder) unchanged but for the teacher."""
    from bcrnn.config import load_config
    from bcrnn.recipes import default_recipe, ensemble_file, experiment_config, load_recipe, recipe_names, run_folder

    assert recipe_names() == ["emodb", "emodb-bcrnn", "emodb-bcrnn-crnn3", "emodb-bcrnn-e40", "emodb-bcrnn-global",
                              "emodb-bcrnn-pair", "emodb-bcrnn-two-stage", "emodb-bcrnn-utterance",
                              "emodb-bcrnn-utterance-speed", "emodb-crnn", "emodb-crnn-global", "emodb-crnn-utterance",
                              "emodb-plain"]
    table = load_recipe("emodb")
    assert table.kind == "table" and table.repeats == 3 and [r.name for r in table.rows] == [
        "emodb-crnn", "emodb-bcrnn", "emodb-crnn-utterance", "emodb-bcrnn-utterance"]
    pair = load_recipe("emodb-bcrnn-pair")
    assert pair.kind == "ensemble" and pair.member.name == "emodb-bcrnn" and pair.seeds == (6, 7)
    member = pair.member
    assert member.teacher.name == "emodb-crnn" and member.teacher.teacher is None
    root = Path("somewhere")
    cfg = experiment_config(member, root)
    assert cfg.teacher == str(root / "emodb-crnn-s0") == str(run_folder(root, member.teacher))
    assert run_folder(root, member) == root / "emodb-bcrnn-s3"
    assert run_folder(root, member, 6) == root / "emodb-bcrnn-s6"
    assert ensemble_file(root, pair) == root / "emodb-bcrnn-pair-s6-s7.json"
    # bcrnn train --dataset emodb [--model crnn]: the best single model's recipe, not the plain one
    assert default_recipe("emodb", "bcrnn").name == "emodb-bcrnn"
    assert default_recipe("emodb", "crnn").name == "emodb-crnn"
    assert default_recipe("iemocap", "bcrnn") is None
    configs = ROOT / "training" / "configs"
    for name, config, model in (("emodb-crnn", "emodb_best", "crnn"), ("emodb-bcrnn", "emodb_bcrnn_fast_sbn", None),
                                ("emodb-plain", "emodb_small", None)):
        from_config = load_config(configs / f"{config}.yaml", {"model": model, "teacher": "runs/t"
                                                              if name == "emodb-bcrnn" else None})
        assert experiment_config(load_recipe(name), root, {"teacher": "runs/t" if name == "emodb-bcrnn" else None}) \
            == from_config, name
    assert yaml.safe_load((configs / "emodb_bcrnn_fast_sbn.yaml").read_text())["teacher"] == "runs/s-crnn-spk-avg"
    # the no-enrolment recipes: their enrolled twins with training-set (or each utterance's own) statistics and no
    # speaker batch norm
    for name, mode in (("emodb-crnn", "global"), ("emodb-bcrnn", "global"), ("emodb-crnn", "utterance"),
                       ("emodb-bcrnn", "utterance")):
        teacher = f"emodb-crnn-{mode}" if name == "emodb-bcrnn" else None
        enrolled = experiment_config(load_recipe(name), root)
        alone = experiment_config(load_recipe(f"{name}-{mode}"), root)
        assert enrolled.normalization == "speaker" and alone.normalization == mode
        assert not alone.train.speaker_batch_norm
        assert alone.teacher == (str(root / f"{teacher}-s0") if teacher else None)
        enrolled.normalization, enrolled.teacher = alone.normalization, alone.teacher
        enrolled.train.speaker_batch_norm = alone.train.speaker_batch_norm
        assert enrolled == alone, name
    # a lever of the no-enrolment BCRNN: the same recipe with every training segment speed-perturbed
    speed = experiment_config(load_recipe("emodb-bcrnn-utterance-speed"), root)
    alone = experiment_config(load_recipe("emodb-bcrnn-utterance"), root)
    assert speed.train.speed_perturb == 0.1 and alone.train.speed_perturb == 0.0
    alone.train.speed_perturb = speed.train.speed_perturb
    assert speed == alone


def test_train_picks_a_recipe_and_says_at_once_what_its_missing_teacher_needs(tmp_path, monkeypatch, capsys,
                                                                              emodb_dir):
    from bcrnn.recipes import experiment_config
    from bcrnn.train_command import chosen_recipe, is_recipe_run, main, parser

    assert chosen_recipe(parser().parse_args(["--dataset", "emodb"])).name == "emodb-bcrnn"
    assert chosen_recipe(parser().parse_args(["--dataset", "emodb", "--model", "crnn"])).name == "emodb-crnn"
    assert chosen_recipe(parser().parse_args(["--dataset", "emodb", "--config", "x.yaml"])) is None
    assert chosen_recipe(parser().parse_args([])) is None  # the synthetic smoke test stays as it was
    crnn, runs = chosen_recipe(parser().parse_args(["--recipe", "emodb-crnn"])), Path("runs")
    # only the recipe's own experiment (any seed, corpus folder, threads) trains into its run folder, a teacher's
    assert is_recipe_run(crnn, experiment_config(crnn, runs, {"seed": 1, "data_dir": "d", "threads": 1}), runs)
    for changed in ({"preset": "paper"}, {"folds": 1}, {"epochs": 3}):
        assert not is_recipe_run(crnn, experiment_config(crnn, runs, changed), runs)
    monkeypatch.chdir(tmp_path)
    code = main(["--dataset", "emodb", "--data-dir", str(emodb_dir), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and "recipe emodb-bcrnn" in out
    assert "runs/emodb-crnn-s0" in err and "is missing" in err
    assert f"bcrnn train --recipe emodb-crnn --data-dir {emodb_dir}" in err
    assert f"bcrnn reproduce emodb-bcrnn --data-dir {emodb_dir}" in err
    assert not (tmp_path / "runs").exists()  # nothing written
    (tmp_path / "runs" / "emodb-crnn-s0").mkdir(parents=True)
    (tmp_path / "runs" / "emodb-crnn-s0" / "config.json").write_text(json.dumps({"experiment": {"model": "crnn"}}))
    assert main(["--recipe", "emodb-bcrnn", "--data-dir", str(emodb_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is not finished" in err and "bcrnn train --recipe emodb-crnn" in err and " --resume" in err
    assert not (tmp_path / "runs" / "emodb-bcrnn-s3").exists()
    assert main(["--recipe", "emodb-bcrnn-pair"]) == 2
    assert "`bcrnn reproduce emodb-bcrnn-pair` trains and scores it" in capsys.readouterr().err


def test_a_recipe_naming_a_missing_teacher_recipe_is_a_clear_error(tmp_path, capsys):
    from bcrnn.reproduce import main as reproduce
    from bcrnn.train_command import main as train

    recipe = yaml.safe_load((ROOT / "bcrnn" / "recipes" / "emodb-bcrnn.yaml").read_text())
    recipe["teacher"] = "emodb-crnm"
    (tmp_path / "student.yaml").write_text(yaml.safe_dump(recipe))
    shutil.copy(ROOT / "bcrnn" / "recipes" / "emodb-crnn.yaml", tmp_path)
    for main, args in ((reproduce, [str(tmp_path / "student.yaml"), "--data-dir", str(tmp_path)]),
                       (train, ["--recipe", str(tmp_path / "student.yaml"), "--runs", str(tmp_path / "runs")])):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "recipe student" in err and "its teacher names the recipe 'emodb-crnm', which does not exist" in err
        assert "emodb-crnn" in err.split("does not exist")[1]  # the known recipes, listed
        assert "Traceback" not in err and not (tmp_path / "runs").exists()
    recipe["experiment"]["teacher"] = "runs/some-run"  # a run folder is not a teacher's name
    (tmp_path / "student.yaml").write_text(yaml.safe_dump(recipe))
    assert reproduce([str(tmp_path / "student.yaml"), "--data-dir", str(tmp_path)]) == 2
    assert "name the teacher by its recipe" in capsys.readouterr().err


def test_a_recipe_based_on_another_states_only_what_it_changes(tmp_path):
    """base: merges the base recipe's settings under the variant's (mappings key by key; label and default not
    inherited); a variant in the user's own folder finds a package recipe as its base; bad bases are clear errors."""
    from bcrnn.recipes import RecipeError, experiment_config, load_recipe

    root = tmp_path / "runs"
    e40, bcrnn = load_recipe("emodb-bcrnn-e40"), load_recipe("emodb-bcrnn")
    assert e40.teacher.name == "emodb-crnn" and not e40.default and e40.label != bcrnn.label
    assert experiment_config(e40, root).train.epochs == 40
    assert experiment_config(e40, root) == experiment_config(bcrnn, root, {"epochs": 40})
    # three levels: emodb-bcrnn -> -global -> -utterance -> -utterance-speed, each with its own teacher
    speed = load_recipe("emodb-bcrnn-utterance-speed")
    assert speed.teacher.name == "emodb-crnn-utterance" and speed.experiment["normalization"] == "utterance"
    assert speed.experiment["train"]["speaker_batch_norm"] is False and speed.experiment["train"]["lr"] == 0.001

    (tmp_path / "mine.yaml").write_text("label: my variant\nbase: emodb-bcrnn\nexperiment: {train: {lr: 0.002}}\n")
    mine = load_recipe(tmp_path / "mine.yaml")
    assert mine.teacher.name == "emodb-crnn" and mine.experiment["train"]["lr"] == 0.002
    assert mine.experiment["train"]["epochs"] == 26 and mine.experiment["preset"] == "hw"
    for text, message in (("base: emodb-bcrnm", "its base names the recipe 'emodb-bcrnm', which does not exist"),
                          ("base: [emodb-bcrnn]", "base: is the name of the recipe it varies"),
                          ("base: loop", "it depends on itself"),
                          ("base: emodb-bcrnn-pair", "exactly one of")):
        (tmp_path / "loop.yaml").write_text(f"label: x\n{text}\nexperiment: {{seed: 1}}\n")
        with pytest.raises(RecipeError, match=message):
            load_recipe(tmp_path / "loop.yaml")


def test_an_ensemble_teacher_is_trained_for_each_of_its_seeds_first(tmp_path):
    """A recipe with teacher_seeds 3 is taught by its teacher recipe's runs of seeds k, k+1, k+2: all three are
    planned in the group before the student, whose experiment names the first and the count."""
    from bcrnn.recipes import experiment_config, load_recipe
    from bcrnn.reproduce import plan, trainings

    recipe = yaml.safe_load((ROOT / "bcrnn" / "recipes" / "emodb-bcrnn-global.yaml").read_text())
    recipe["experiment"]["teacher_seeds"] = 3
    (tmp_path / "student.yaml").write_text(yaml.safe_dump(recipe))
    shutil.copy(ROOT / "bcrnn" / "recipes" / "emodb-crnn-global.yaml", tmp_path)
    student = load_recipe(tmp_path / "student.yaml")
    groups = trainings(plan(student, tmp_path / "runs"))
    assert [[t.path.name for t in g] for g in groups] == [
        ["emodb-crnn-global-s0", "emodb-crnn-global-s1", "emodb-crnn-global-s2"], ["student-s3"]]
    cfg = experiment_config(student, tmp_path / "runs")
    assert cfg.teacher == str(tmp_path / "runs" / "emodb-crnn-global-s0") and cfg.teacher_seeds == 3


def test_a_run_recipe_with_several_seeds_is_one_row_over_all_their_runs(tmp_path):
    """--seeds A B C of a run recipe, or a table's repeats: N, trains one run per seed (a student's teacher once)
    and reports them as one row; repeated seeds and a bad repeats: are refused."""
    from bcrnn.recipes import RecipeError, load_recipe
    from bcrnn.reproduce import Repeats, plan, trainings

    root = tmp_path / "runs"
    (row,) = plan(load_recipe("emodb-bcrnn"), root, (3, 4, 5))
    assert isinstance(row, Repeats) and [t.path.name for t in row.runs] == [
        "emodb-bcrnn-s3", "emodb-bcrnn-s4", "emodb-bcrnn-s5"]
    assert [[t.path.name for t in g] for g in trainings([row])] == [
        ["emodb-crnn-s0"], ["emodb-bcrnn-s3", "emodb-bcrnn-s4", "emodb-bcrnn-s5"]]
    with pytest.raises(RecipeError, match="repeat one"):
        plan(load_recipe("emodb-crnn"), root, (1, 1))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({"label": "t", "rows": ["emodb-crnn-global", "emodb-bcrnn-pair"],
                                                      "repeats": 2}))
    shutil.copy(ROOT / "bcrnn" / "recipes" / "emodb-crnn-global.yaml", tmp_path)
    for name in ("emodb-bcrnn-pair", "emodb-bcrnn", "emodb-crnn"):
        shutil.copy(ROOT / "bcrnn" / "recipes" / f"{name}.yaml", tmp_path)
    crnn, pair = plan(load_recipe(tmp_path / "t.yaml"), root)
    assert [t.seed for t in crnn.runs] == [0, 1] and [m.seed for m in pair.members] == [6, 7]
    for bad in (0, "3", True):
        (tmp_path / "t.yaml").write_text(yaml.safe_dump({"label": "t", "rows": ["emodb-crnn"], "repeats": bad}))
        with pytest.raises(RecipeError, match="repeats: is a table's count of seeds per run row"):
            load_recipe(tmp_path / "t.yaml")


def _tiny_recipes(folder: Path) -> Path:
    """The shipped recipes with the tiny preset: the same dependencies, a few seconds per fold."""
    folder.mkdir()
    for path in (ROOT / "bcrnn" / "recipes").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        if "experiment" in data:
            data["experiment"]["preset"] = "tiny"
        (folder / path.name).write_text(yaml.safe_dump(data))
    return folder


def _feature_cache(folder: Path) -> Path:
    """A feature cache for this test, holding the project's Emo-DB features where they were extracted already
    (hard links, nothing written into the project)."""
    folder.mkdir()
    for path in (ROOT / "runs" / "cache").glob("emodb-*.npz"):
        try:
            os.link(path, folder / path.name)
        except OSError:
            shutil.copy(path, folder / path.name)
    return folder


def _reproduce(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: the runs' figures do not depend on the machine's load
    return subprocess.run([sys.executable, "-m", "bcrnn.cli", "reproduce", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=1200)


def _files(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and not p.name.startswith("results-")}


def _pm(figures: dict) -> tuple[str, str]:
    return (f"{100 * figures['uar_mean']:.1f} +- {100 * figures['uar_std']:.1f}",
            f"{100 * figures['wa_mean']:.1f} +- {100 * figures['wa_std']:.1f}")


def _minutes(*runs: Path, per_run: bool = False) -> str:
    """A row's 10-fold time: its runs' fold times summed over 2 cores (an ensemble's members together), or of
    repeated seeds the fastest run's."""
    times = [json.loads((r / 'metrics.json').read_text())['fold_seconds_total'] / 2 / 60 for r in runs]
    return f"{min(times) if per_run else sum(times):.0f} min"


@pytest.mark.slow
def test_reproduce_the_emodb_table_in_order_then_resume(tmp_path, emodb_dir, capsys):
    """A table of the CRNN repeated with two seeds and the BCRNN pair: the teacher's runs first, then the members
    they teach, then the ensemble; the table from the runs' own figures; again: nothing trained; a cut-short run
    resumed."""
    recipes = _tiny_recipes(tmp_path / "recipes")
    (recipes / "emodb.yaml").write_text(yaml.safe_dump({"label": "a table", "repeats": 2,
                                                        "rows": ["emodb-crnn", "emodb-bcrnn-pair"]}))
    args = [str(recipes / "emodb.yaml"), "--data-dir", str(emodb_dir), "--folds", "1", "--epochs", "1",
            "--cache-dir", str(_feature_cache(tmp_path / "cache"))]
    r = _reproduce(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    root = tmp_path / "runs" / "quick-folds1-epochs1"  # a quick check's own runs root
    crnn, crnn1, s6, s7 = (root / name for name in ("emodb-crnn-s0", "emodb-crnn-s1", "emodb-bcrnn-s6",
                                                    "emodb-bcrnn-s7"))

    # the order: the teacher's runs first (the repeats of its row), then the members it teaches, then their ensemble
    out = r.stdout
    steps = [line for line in out.splitlines() if line.startswith("$ bcrnn ")]
    assert len(steps) == 5, steps
    assert steps[0].startswith(f"$ bcrnn train --recipe {recipes / 'emodb-crnn.yaml'} --runs "
                               f"{root.relative_to(tmp_path)} --seed 0 --out {crnn.relative_to(tmp_path)} ")
    assert steps[1].startswith(f"$ bcrnn train --recipe {recipes / 'emodb-crnn.yaml'} --runs "
                               f"{root.relative_to(tmp_path)} --seed 1 --out {crnn1.relative_to(tmp_path)} ")
    assert [s.split(" --seed ")[1].split()[0] for s in steps[2:4]] == ["6", "7"]
    assert all(f"--recipe {recipes / 'emodb-bcrnn.yaml'} " in s for s in steps[2:4])
    assert steps[4].startswith(f"$ bcrnn ensemble {s6.relative_to(tmp_path)} {s7.relative_to(tmp_path)} --out ")
    assert all(" --folds 1 --epochs 1" in s for s in steps[:4])
    for member in (s6, s7):
        assert json.loads((member / "config.json").read_text())["experiment"]["teacher"] == str(
            crnn.relative_to(tmp_path))
        assert (crnn / "metrics.json").stat().st_mtime_ns <= (member / "config.json").stat().st_mtime_ns
        assert f"teacher {crnn.relative_to(tmp_path)}/folds/seed0/" in (member / "train.log").read_text()

    # the table: written as markdown and JSON, printed, the poster's rows and ours from the runs' own figures
    md = (root / "results-emodb.md").read_text()
    table = json.loads((root / "results-emodb.json").read_text())
    assert md == table["markdown"] and md in out
    assert md.startswith("**Not the full protocol**: a quick check (--folds 1 --epochs 1)")
    assert table["full_protocol"] is False and table["overrides"] == {"folds": 1, "epochs": 1}
    lines = md.splitlines()
    assert lines[2:4] == ["| approach | command | Emo-DB UAR % | WA % | validation UAR % | size MB | 10-fold time |",
                          "|---|---|---|---|---|---|---|"]
    assert lines[4:8] == ["| DNN-ELM (poster) | | 71.6 | | | 12.33 | |", "| 3-D ACRNN (poster) | | 81.5 | | | 323.46 | |",
                          "| Full-precision CRNN (poster) | | 80.1 | | | 105.48 | |",
                          "| BCRNN (poster) | | 79.7 | | | 4.34 | |"]
    assert len(lines) == 10 and [row["recipe"] for row in table["rows"]] == ["emodb-crnn", "emodb-bcrnn-pair"]
    # the CRNN's row: both seeds' fold runs pooled
    folds = [f for r in (crnn, crnn1) for f in json.loads((r / "metrics.json").read_text())["folds"]]
    from bcrnn.metrics import mean_std

    pooled = {f"{k}_{s}": v for k in ("uar", "wa", "val_uar") for s, v in zip(("mean", "std"),
                                                                               mean_std([f[k] for f in folds]))}
    uar, wa = _pm(pooled)
    val = f"{100 * pooled['val_uar_mean']:.1f} +- {100 * pooled['val_uar_std']:.1f}"
    seeds = " / ".join(f"{100 * json.loads((r / 'metrics.json').read_text())['uar_mean']:.1f}" for r in (crnn, crnn1))
    size = json.loads((crnn / "size.json").read_text())
    assert table["rows"][0]["folds"] == 2 and table["rows"][0]["source"] == [str(crnn.relative_to(tmp_path)),
                                                                               str(crnn1.relative_to(tmp_path))]
    assert lines[8].startswith("| ours: CRNN small (float32; per-speaker normalization, average of the last 5 "
                               f"epochs); seeds 0 / 1: {seeds} (std over seeds ")
    assert lines[8].endswith(f" | `bcrnn reproduce {recipes / 'emodb-crnn.yaml'} --data-dir $EMODB --seeds 0 1 --folds "
                             f"1 --epochs 1` | {uar} | {wa} | {val} | {size['float32_mb']:.3f} | "
                             f"{_minutes(crnn, crnn1, per_run=True)} |")
    assert table["rows"][0]["minutes_10_folds"] == pytest.approx(min(
        json.loads((r / "metrics.json").read_text())["fold_seconds_total"] for r in (crnn, crnn1)) / 2 / 60)
    scores = json.loads((root / "emodb-bcrnn-pair-s6-s7.json").read_text())
    assert scores["members"] == [str(s6.relative_to(tmp_path)), str(s7.relative_to(tmp_path))] and scores["n"] == 1
    members = [json.loads((m / "metrics.json").read_text())["uar_mean"] for m in (s6, s7)]
    assert all(json.loads((m / "metrics.json").read_text())["scored_by"].startswith("integer") for m in (s6, s7))
    uar, wa = _pm(scores)
    assert lines[9] == (f"| ours: BCRNN pair, the reported BCRNN (2 x hw, both with speaker batch norm; integer "
                        f"reference); seeds 6 + 7 (members {100 * members[0]:.1f} / {100 * members[1]:.1f}) | "
                        f"`bcrnn reproduce {recipes / 'emodb-bcrnn-pair.yaml'} --data-dir $EMODB --folds 1 --epochs 1`"
                        f" | {uar} | {wa} |  | {scores['packed_mb']:.3f} packed | {_minutes(s6, s7)} |")

    # called again: everything done earlier, nothing trained or scored, the same table
    before = _files(root)
    again = _reproduce(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "$ bcrnn" not in again.stdout and again.stdout.count("done earlier: ") == 5
    assert "0 to train or finish" in again.stdout
    assert _files(root) == before and (root / "results-emodb.md").read_text() == md

    # a member cut short after its fold (no reports yet): resumed, its fold not trained again, nothing else touched
    (s7 / "metrics.json").unlink()
    best = (s7 / "folds" / "seed7" / "fold00-test_03-val_08" / "best.pt").stat().st_mtime_ns
    third = _reproduce(*args, cwd=tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    steps = [line for line in third.stdout.splitlines() if line.startswith("$ bcrnn ")]
    assert len(steps) == 1 and " --seed 7 " in steps[0] and steps[0].endswith(" --resume"), steps
    assert "seed 7 fold00-test_03-val_08: done earlier" in third.stdout
    assert (s7 / "folds" / "seed7" / "fold00-test_03-val_08" / "best.pt").stat().st_mtime_ns == best
    assert json.loads((s7 / "metrics.json").read_text())["uar_mean"] == members[1]
    assert all(_files(root)[p] == t for p, t in before.items() if s7 not in p.parents)

    # a quick check's teacher does not teach the protocol's run: said before anything is written
    from bcrnn.train_command import main as train

    student = tmp_path / "student"
    assert train(["--recipe", str(recipes / "emodb-bcrnn.yaml"), "--teacher", str(crnn), "--data-dir", str(emodb_dir),
                  "--out", str(student), "--no-progress"]) == 2
    assert f"teacher run {crnn} has only the first 1 folds, this run needs all" in capsys.readouterr().err
    assert not student.exists()
