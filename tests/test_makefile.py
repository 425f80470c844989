"""The Makefile's targets of the reported models, read with `make -n` (what would run, nothing run): thin calls of
`bcrnn reproduce` on the named recipes (which trains a missing teacher first: tests/test_reproduce.py), with the
seeds the docs name; the earlier mixed pair, the repetitions' inputs and the FINN pair in the recipes' run folders."""

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


def test_the_reported_models_are_reproduce_calls_of_their_recipes(project):
    table = _dry_run(project, "emodb-reproduce")
    assert "bin/bcrnn reproduce --data-dir /corpus --runs runs --jobs 2 emodb\n" in table
    crnn = _dry_run(project, "emodb-crnn")
    assert "bcrnn reproduce --data-dir /corpus --runs runs --jobs 2 emodb-crnn" in crnn and "--seeds" not in crnn
    assert "reproduce --data-dir /corpus --runs runs --jobs 2 emodb-crnn --seeds 1" in _dry_run(project, "emodb-crnn",
                                                                                                 "SEED=1")
    pair = _dry_run(project, "emodb-bcrnn-pair")
    assert "bcrnn reproduce --data-dir /corpus --runs runs --jobs 2 emodb-bcrnn-pair --seeds 6 7" in pair
    assert "train" not in pair.replace("test ", "")  # reproduce trains the teacher and the members itself
    assert "emodb-bcrnn-pair --seeds 8 9" in _dry_run(project, "emodb-bcrnn-pair", "PAIR_SEEDS=8 9")
    assert "--runs elsewhere " in _dry_run(project, "emodb-reproduce", "RUNS=elsewhere")
    baseline = _dry_run(project, "emodb-baseline")
    assert "bcrnn train --recipe emodb-plain --model crnn --data-dir /corpus --out runs/emodb-crnn-small" in baseline
    assert "bcrnn train --recipe emodb-plain --data-dir /corpus --out runs/emodb-bcrnn-small" in baseline


@pytest.mark.parametrize("seeds", ["8", "8 8", "6 7 8"])
def test_the_pair_needs_two_different_seeds(project, seeds):
    r = _make(project, "emodb-bcrnn-pair", f"PAIR_SEEDS={seeds}", dry=False)
    assert r.returncode != 0 and "PAIR_SEEDS takes two different seeds" in r.stderr
    assert not (project / "runs").exists()  # stopped before training


def test_the_mixed_pair_and_the_repetitions(project):
    mixed = _dry_run(project, "emodb-mixed-pair", "SEED=4")
    teacher = mixed.index("reproduce --data-dir /corpus --runs runs --jobs 2 emodb-crnn")  # its teacher, where missing
    first = mixed.index("--teacher runs/emodb-crnn-s0 --threads 1 --no-progress --seed 4  --config "
                        "training/configs/emodb_bcrnn_fast.yaml --out runs/bcrnn-fast-s4 &")
    assert teacher < first
    assert "--config training/configs/emodb_bcrnn_fast_sbn.yaml --out runs/bcrnn-fast-sbn-s4;" in mixed
    assert "bcrnn ensemble runs/bcrnn-fast-s4 runs/bcrnn-fast-sbn-s4 --out runs/bcrnn-fast-s4-pair.json" in mixed

    r = _make(project, "emodb-repetitions", dry=False)  # no pair scored yet
    assert r.returncode != 0 and "make emodb-bcrnn-pair first" in r.stderr
    (project / "runs").mkdir()
    for name in ("emodb-bcrnn-pair-s6-s7.json", "emodb-bcrnn-pair-s8-s9.json", "bcrnn-fast-s4-pair.json"):
        (project / "runs" / name).write_text("{}")
    r = _make(project, "emodb-repetitions", dry=False)  # no CRNN run to compare with
    assert r.returncode != 0 and "make emodb-crnn first" in r.stderr
    for seed in (0, 1):
        (project / "runs" / f"emodb-crnn-s{seed}").mkdir()
        (project / "runs" / f"emodb-crnn-s{seed}" / "config.json").write_text("{}")
    lines = [line for line in _dry_run(project, "emodb-repetitions").replace("\\\n", " ").splitlines()
             if "bcrnn repetitions" in line]
    assert len(lines) == 2
    pairs, mixed_line = lines
    assert "runs/emodb-bcrnn-pair-s6-s7.json runs/emodb-bcrnn-pair-s8-s9.json --label \"BCRNN pair\"" in pairs
    assert "bcrnn-fast-s4-pair.json" not in pairs and "emodb-bcrnn-pair" not in mixed_line
    assert "repetitions runs/bcrnn-fast-s4-pair.json --label \"mixed pair\"" in mixed_line
    for line in (pairs, mixed_line):
        assert "--reference runs/emodb-crnn-s0 runs/emodb-crnn-s1 " in line


def test_finn_pair_builds_the_reported_seeds(project):
    assert "build.py runs/emodb-bcrnn-s6 runs/emodb-bcrnn-s7 --folding zu3eg-fast" in _dry_run(project, "finn-pair")
    assert "build.py runs/emodb-bcrnn-s8 runs/emodb-bcrnn-s9 " in _dry_run(project, "finn-pair", "PAIR_SEEDS=8 9")
