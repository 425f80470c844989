"""Fold runs on Ray (bcrnn.parallel): --jobs 2 on a local two-CPU Ray gives the per-fold results of --jobs 1 (one
torch thread each), a killed sweep resumes on a cluster named by --ray-address (only the missing fold trained), a
task on another node sends its fold folder back, and --jobs 1 never loads Ray."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import torch

from bcrnn.config import ExperimentConfig, load_config
from bcrnn.experiment import run_experiment
from bcrnn.parallel import FoldJob, ParallelOptions, job_inputs, merge_fold_files, train_fold_job
from bcrnn.run_folder import RunFolder
from bcrnn.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--preset", "tiny", "--folds", "2", "--epochs", "1", "--batch-size", "16", "--threads", "1", "--no-progress"]
TIMINGS = ("seconds", "train_seconds")


def _env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0", **extra}


def _train(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "training" / "train.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=env or _env())


def _untimed(result: dict) -> dict:
    """A fold's result.json without what measures time (the rest is the same in any process)."""
    out = {k: v for k, v in result.items() if k not in TIMINGS}
    out["history"] = {k: v for k, v in result["history"].items() if k != "seconds"}
    return out


def _files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())


def _same_fold(a: Path, b: Path) -> None:
    """Two fold folders of the same fold run: the same files, scores, predictions, weights and packed model."""
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    assert _untimed(json.loads((a / "result.json").read_text())) == _untimed(json.loads((b / "result.json")
                                                                                         .read_text()))
    wa, wb = (torch.load(f / "best.pt", weights_only=False)["model"] for f in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    if (a / "model.packed.npz").exists():
        assert (a / "model.packed.npz").read_bytes() == (b / "model.packed.npz").read_bytes()


@pytest.mark.slow
def test_jobs_2_on_ray_trains_what_jobs_1_trains(tmp_path):
    """The same tiny run of 2 folds, once in one process (which never imports Ray) and once as two Ray tasks on a
    local Ray of 2 CPUs started by the command: the same files and, fold by fold, the same results."""
    cache = ["--cache-dir", str(tmp_path / "cache")]
    one = subprocess.run([sys.executable, "-c", "import sys; from bcrnn.train_command import main; code = main("
                          "sys.argv[1:]); print('ray loaded:', 'ray' in sys.modules); sys.exit(code)",
                          *TINY, *cache, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env=_env(), cwd=ROOT)
    assert one.returncode == 0, one.stderr[-2000:]
    assert "ray loaded: False" in one.stdout and "Ray tasks" not in one.stdout
    two = _train(*TINY, *cache, "--out", str(tmp_path / "two"), "--jobs", "2")
    assert two.returncode == 0, two.stderr[-2000:]
    assert "2 fold run(s) as Ray tasks, 2 at a time (Ray on this machine, 2 CPUs)" in two.stdout
    run_one, run_two = tmp_path / "one", tmp_path / "two"
    assert _files(run_one) == _files(run_two)
    folds = [f.path.relative_to(run_one) for f in RunFolder(run_one).finished_folds()]
    assert len(folds) == 2 and [f.path.relative_to(run_two) for f in RunFolder(run_two).finished_folds()] == folds
    for fold in folds:
        _same_fold(run_one / fold, run_two / fold)
    config_one, config_two = (json.loads((r / "config.json").read_text()) for r in (run_one, run_two))
    assert config_one == config_two and config_two["torch_threads"] == 1
    metrics_one, metrics_two = (json.loads((r / "metrics.json").read_text()) for r in (run_one, run_two))
    assert metrics_two["n_runs"] == 2 and metrics_one["uar_mean"] == metrics_two["uar_mean"]
    log = (run_two / "train.log").read_text()
    assert log.count(": train ") == 2 and log.count(": done (") == 2  # each fold trained once, by a task


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_head(temp_dir: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """`ray start --head --block` of 2 CPUs on loopback, in a process group of its own (ended by its id)."""
    port = _free_port()
    ray = Path(sys.executable).with_name("ray")
    head = subprocess.Popen([str(ray), "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
                             "--temp-dir", str(temp_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, process_group=0)
    deadline, seen = time.time() + 120, []
    while time.time() < deadline:
        line = head.stdout.readline()
        seen.append(line)
        if "Ray runtime started" in line or not line:
            break
    assert "Ray runtime started" in "".join(seen), "".join(seen)[-2000:]
    return head, f"127.0.0.1:{port}"


@pytest.mark.slow
def test_a_killed_sweep_resumes_on_a_cluster_training_only_the_missing_fold(tmp_path):
    """A run folder with one finished fold (the sweep was killed before the other finished): --resume --jobs 2
    on a running head node (--ray-address) trains only the other fold, then writes the reports."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    # = TINY, with the CRNN: no BCRNN export after the folds, which this test is not about
    cfg = load_config(None, {"preset": "tiny", "folds": 2, "epochs": 1, "batch_size": 16, "threads": 1, "model": "crnn"})
    assert run_experiment(cfg, out, cache_dir=cache, progress=False, quiet=True, only_folds="0") is None
    done = RunFolder(out).finished_folds()
    assert len(done) == 1 and not (out / "metrics.json").exists()
    before = (done[0].result.read_bytes(), done[0].result.stat().st_mtime_ns, done[0].best.stat().st_mtime_ns)
    # a head node with a token of its own; the driver names it and takes the same token
    env = _env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=uuid.uuid4().hex)
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths live under it
    head, address = _start_head(temp_dir, env)
    try:
        r = _train(*TINY, "--model", "crnn", "--cache-dir", str(cache), "--out", str(out), "--resume", "--jobs", "2",
                   "--ray-address", address, env=env)
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert f"1 fold run(s) as Ray tasks, 2 at a time (cluster {address}, 2 CPUs)" in r.stdout
    assert f"seed 0 {done[0].name}: done earlier" in r.stdout
    assert (done[0].result.read_bytes(), done[0].result.stat().st_mtime_ns, done[0].best.stat().st_mtime_ns) == before
    log = (out / "train.log").read_text()
    assert log.count(": train ") == 2 and log.count(f"{done[0].name}: train ") == 1  # the other fold, once
    assert json.loads((out / "metrics.json").read_text())["n_runs"] == 2


@pytest.mark.slow
def test_a_task_on_another_node_sends_its_fold_folder_back(tmp_path):
    """Where the run folder is out of reach (another node), a task trains from the files it was given (the
    teacher run's, here) in a scratch folder and returns the fold folder; merged, it is the fold trained in place."""
    cache = tmp_path / "cache"
    tiny = {"preset": "tiny", "folds": 1, "threads": 1}
    teacher = tmp_path / "teacher"
    run_experiment(ExperimentConfig(**tiny, train=TrainConfig(epochs=1, batch_size=16)), teacher, cache_dir=cache,
                   progress=False, quiet=True)
    cfg = ExperimentConfig(**tiny, teacher=str(teacher), train=TrainConfig(epochs=1, batch_size=16,
                                                                           distill_weight=0.5))
    run_experiment(cfg, tmp_path / "here", cache_dir=cache, progress=False, quiet=True)
    here = RunFolder(tmp_path / "here").finished_folds()[0]

    from bcrnn.corpora import load_corpus
    from bcrnn.features import FeatureConfig, extract_features
    from bcrnn.folds import speaker_folds

    fs = extract_features(load_corpus("synth", None), FeatureConfig(), cache_dir=cache, progress=False)
    fold = speaker_folds(fs.speakers, 1)[0]
    away = RunFolder(tmp_path / "away")
    folder = away.fold_folder(0, fold.name)
    own, teacher_files = job_inputs(cfg, folder, fold, 0)
    assert own == {} and sorted(teacher_files) == ["0/config.json", f"0/folds/seed0/{fold.name}/best.pt"]
    job = FoldJob(0, fold, str(folder.path.absolute()), own, teacher_files)
    teacher.rename(tmp_path / "teacher-elsewhere")  # as on another node: the teacher run is not there
    sent = train_fold_job(cfg.to_dict(), fs, job, None, quiet=True, scratch=True)
    assert not away.path.exists()  # nothing written where the caller's run folder would be
    assert sent["files"].keys() == {p.name for p in here.path.iterdir()}
    assert any("distillation weight 0.5" in line for line in sent["log"])
    merge_fold_files(folder, sent["files"])
    _same_fold(here.path, folder.path)


def test_parallel_options_and_errors(tmp_path, monkeypatch, capsys):
    """--jobs and --ray-address are checked before anything is written, and an address where no cluster listens is
    said at once (Ray itself would retry it for minutes)."""
    from bcrnn.train_command import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = str(tmp_path / "r")
    for args, message in ((["--jobs", "0"], "jobs must be an integer >= 1"),
                          (["--ray-address", "127.0.0.1:1"], "give --jobs N > 1"),
                          (["--jobs", "2", "--ray-address", f"127.0.0.1:{_free_port()}"], "no Ray cluster answers"),
                          (["--jobs", "2", "--ray-address", "ray://127.0.0.1:1"], "Ray Client address")):
        assert main([*TINY, "--out", out, *args]) == 2
        assert message in capsys.readouterr().err
        assert not Path(out).exists()
    assert ParallelOptions().flags() == ["--jobs", "1"] and not ParallelOptions().uses_ray
    assert ParallelOptions(3, "h:1").flags() == ["--jobs", "3", "--ray-address", "h:1"]
    monkeypatch.setenv("RAY_ADDRESS", "h:2")
    assert ParallelOptions(2).address == "h:2" and ParallelOptions(2, "h:1").address == "h:1"
    # an existing run without --resume: refused before Ray starts, as with --jobs 1
    Path(out).mkdir()
    (Path(out) / "config.json").write_text("{}")
    monkeypatch.delenv("RAY_ADDRESS")
    assert main([*TINY, "--out", out, "--jobs", "2", "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "pass --resume" in capsys.readouterr().err


def test_reproduce_passes_the_cluster_to_runs_that_use_ray():
    """bcrnn reproduce: --jobs N > 1 for one run goes to that run (with --ray-address); runs side by side train
    in their own process each; with a cluster the runs go one after another, N fold runs each."""
    from argparse import Namespace

    from bcrnn.recipes import load_recipe
    from bcrnn.reproduce import Reproduction, plan_train

    args = Namespace(runs="runs", data_dir=None, folds=1, epochs=1, cache_dir="c")
    crnn = load_recipe("emodb-crnn")
    t0, t1 = plan_train(crnn, Path("runs"), seed=0), plan_train(crnn, Path("runs"), seed=1)
    states = {t0.path: "missing", t1.path: "missing"}
    cluster = Reproduction(args, ParallelOptions(2, "h:1"))
    assert " --jobs 2 --ray-address h:1 " in " ".join(cluster.train_command(t0, 2, 0, False))
    assert " --jobs 1 " in " ".join(cluster.train_command(t0, 1, 1, False))
    assert "--ray-address" not in cluster.train_command(t0, 1, 1, False)
    batches = []
    for job in (cluster, Reproduction(args, ParallelOptions(2))):
        job.run = lambda cmds: batches.append([" ".join(c) for c in cmds]) or 1  # the first batch "fails"
        assert job.train([[t0, t1]], dict(states)) == 1
    on_cluster, here = batches
    assert len(on_cluster) == 1 and " --jobs 2 --ray-address h:1 " in on_cluster[0]  # one run at a time, there
    assert len(here) == 2 and all(" --jobs 1 " in c and "--ray-address" not in c for c in here)  # side by side


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
