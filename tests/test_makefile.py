"""The Makefile's targets of the reported models, read with `make -n` (what would run, nothing run): the reported BCRNN pair trains
its distillation teacher first where it is missing, as on a new machine, and leaves a finished one alone; its
seeds, the earlier mixed pair's and the repetitions' inputs are the ones the docs name."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _make(folder: Path, *args: str, dry: bool = True) -> subprocess.CompletedProcess:
    # a top-level make, also when the tests themselves run under `make test` (a sub-make would print
    # "Entering directory" lines and take the parent's flags)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    return subprocess.run(["make", *(["-n"] if dry else []), *args, "EMODB=/corpus"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)


def _dry_run(folder: Path, *args: str) -> str:
    r = _make(folder, *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def project(tmp_path):
    """A copy of the Makefile and what it depends on, set up already (the stamp newer than its inputs)."""
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "requirements-nodeps.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".installed").touch()
    return tmp_path


def _finish_teacher(project: Path) -> None:
    (project / "runs" / "s-crnn-spk-avg").mkdir(parents=True, exist_ok=True)
    (project / "runs" / "s-crnn-spk-avg" / "metrics.json").write_text("{}")  # a finished teacher run


def test_the_pair_trains_its_teacher_first_where_it_is_missing(project):
    fresh = _dry_run(project, "emodb-bcrnn-pair")
    teacher = fresh.index("--model crnn --data-dir /corpus --out runs/s-crnn-spk-avg  --jobs 2 --resume")
    first = fresh.index("emodb_bcrnn_fast_sbn.yaml --data-dir /corpus --threads 1 --no-progress  --seed 6 "
                        "--out runs/bcrnn-fast-sbn-s6 &")
    assert teacher < first
    assert "--seed 7 --out runs/bcrnn-fast-sbn-s7;" in fresh
    assert "ensemble.py runs/bcrnn-fast-sbn-s6 runs/bcrnn-fast-sbn-s7 --out runs/bcrnn-sbn-pair-s6-s7.json" in fresh

    _finish_teacher(project)
    repeated = _dry_run(project, "emodb-bcrnn-pair", "PAIR_SEEDS=8 9")
    assert "--model crnn" not in repeated
    assert "--seed 8 --out runs/bcrnn-fast-sbn-s8 &" in repeated and "--seed 9 --out runs/bcrnn-fast-sbn-s9;" in repeated
    assert "--out runs/bcrnn-sbn-pair-s8-s9.json" in repeated


@pytest.mark.parametrize("seeds", ["8", "8 8", "6 7 8"])
def test_the_pair_needs_two_different_seeds(project, seeds):
    _finish_teacher(project)
    r = _make(project, "emodb-bcrnn-pair", f"PAIR_SEEDS={seeds}", dry=False)
    assert r.returncode != 0 and "PAIR_SEEDS takes two different seeds" in r.stderr
    assert not (project / "runs" / "bcrnn-fast-sbn-s8").exists()  # stopped before training


def test_the_mixed_pair_and_the_repetitions(project):
    _finish_teacher(project)
    mixed = _dry_run(project, "emodb-mixed-pair", "SEED=4")
    assert "emodb_bcrnn_fast.yaml --data-dir /corpus --out runs/bcrnn-fast-s4 --seed 4 " in mixed
    assert "emodb_bcrnn_fast_sbn.yaml --data-dir /corpus --threads 1 --no-progress  --out runs/bcrnn-fast-sbn-s4 " \
           "--seed 4" in mixed
    assert "ensemble.py runs/bcrnn-fast-s4 runs/bcrnn-fast-sbn-s4 --out runs/bcrnn-fast-s4-pair.json" in mixed

    r = _make(project, "emodb-repetitions", dry=False)  # no pair scored yet
    assert r.returncode != 0 and "make emodb-bcrnn-pair first" in r.stderr
    for name in ("bcrnn-sbn-pair-s6-s7.json", "bcrnn-sbn-pair-s8-s9.json", "bcrnn-fast-s4-pair.json"):
        (project / "runs" / name).write_text("{}")
    (project / "runs" / "s-crnn-spk-avg-s1").mkdir()
    (project / "runs" / "s-crnn-spk-avg-s1" / "config.json").write_text("{}")
    lines = [line for line in _dry_run(project, "emodb-repetitions").replace("\\\n", " ").splitlines()
             if "repetitions.py" in line]
    assert len(lines) == 2
    sbn, mixed_line = lines
    assert "runs/bcrnn-sbn-pair-s6-s7.json runs/bcrnn-sbn-pair-s8-s9.json --label \"BCRNN pair\"" in sbn
    assert "bcrnn-fast-s4-pair.json" not in sbn and "bcrnn-sbn-pair" not in mixed_line
    assert "repetitions.py runs/bcrnn-fast-s4-pair.json --label \"mixed pair\"" in mixed_line
    for line in (sbn, mixed_line):
        assert "--reference runs/s-crnn-spk-avg runs/s-crnn-spk-avg-s1 " in line


def test_finn_pair_builds_the_reported_seeds(project):
    assert "build.py runs/bcrnn-fast-sbn-s6 runs/bcrnn-fast-sbn-s7 --folding zu3eg-fast" in _dry_run(project, "finn-pair")
    assert "build.py runs/bcrnn-fast-sbn-s8 runs/bcrnn-fast-sbn-s9 " in _dry_run(project, "finn-pair", "PAIR_SEEDS=8 9")
