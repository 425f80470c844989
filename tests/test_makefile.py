"""The Makefile's issue-6 targets, read with `make -n` (what would run, nothing run): the BCRNN pair trains its
distillation teacher first where it is missing, as on a new machine, and leaves a finished one alone."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(folder: Path, *args: str) -> str:
    r = subprocess.run(["make", "-n", *args, "EMODB=/corpus"], cwd=folder, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_the_pair_trains_its_teacher_first_where_it_is_missing(tmp_path):
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "requirements-nodeps.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".installed").touch()  # newer than the files it depends on: set up already

    fresh = _dry_run(tmp_path, "emodb-bcrnn-pair")
    teacher = fresh.index("--model crnn --data-dir /corpus --out runs/s-crnn-spk-avg  --jobs 2 --resume")
    assert teacher < fresh.index("emodb_bcrnn_fast_sbn.yaml --data-dir /corpus --out runs/bcrnn-fast-sbn ")
    assert "ensemble.py runs/bcrnn-fast runs/bcrnn-fast-sbn --out runs/bcrnn-fast-pair.json" in fresh

    (tmp_path / "runs" / "s-crnn-spk-avg").mkdir(parents=True)
    (tmp_path / "runs" / "s-crnn-spk-avg" / "metrics.json").write_text("{}")  # a finished teacher run
    repeated = _dry_run(tmp_path, "emodb-bcrnn-pair", "SEED=4")
    assert "--model crnn" not in repeated
    assert "emodb_bcrnn_fast.yaml --data-dir /corpus --out runs/bcrnn-fast-s4 --seed 4 " in repeated
    assert "ensemble.py runs/bcrnn-fast-s4 runs/bcrnn-fast-sbn-s4 --out runs/bcrnn-fast-s4-pair.json" in repeated
