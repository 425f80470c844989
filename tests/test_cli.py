"""The command line: clear errors for bad input, and a complete run on the IEMOCAP layout."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _train(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "training" / "train.py"), *args, "--no-progress"],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_missing_data_dir_is_a_clear_error(tmp_path):
    r = _train("--dataset", "emodb", "--data-dir", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert r.returncode == 2
    assert "error:" in r.stderr and "nowhere" in r.stderr and "Traceback" not in r.stderr
    r = _train("--dataset", "emodb", cwd=tmp_path)
    assert r.returncode == 2 and "--data-dir" in r.stderr
    r = _train("--dataset", "iemocap", "--download", cwd=tmp_path)
    assert r.returncode == 2 and "cannot be downloaded" in r.stderr


def test_bad_flags_are_rejected(tmp_path):
    r = _train("--preset", "huge", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = _train("--config", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert r.returncode == 2 and "missing.yaml" in r.stderr
    r = _train("--folds", "99", "--epochs", "1", "--preset", "tiny", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert r.returncode == 2 and "--folds must be between" in r.stderr
    r = _train("--first-conv-weight-bits", "9", "--preset", "tiny", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert r.returncode == 2 and "1 (binary) to 8" in r.stderr
    r = _train("--model", "crnn", "--first-conv-weight-bits", "4", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert r.returncode == 2 and "binary model" in r.stderr
    r = _train("--head-weight-bits", "0", "--preset", "tiny", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert r.returncode == 2 and "--head-weight-bits must be 1 (binary) to 8" in r.stderr
    for jobs in ("1", "2"):  # a missing teacher run (a new machine): said at once, nothing written
        r = _train("--teacher", str(tmp_path / "no-crnn"), "--distill-weight", "0.5", "--preset", "tiny",
                   "--jobs", jobs, "--out", str(tmp_path / "student"), cwd=tmp_path)
        assert r.returncode == 2 and "no-crnn not found" in r.stderr and "--model crnn" in r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "student").exists()


def test_iemocap_layout_end_to_end(tmp_path):
    from iemocap_fixture import make_iemocap_fixture

    root = tmp_path / "IEMOCAP"
    make_iemocap_fixture(root, sessions=(1, 2))
    r = _train("--dataset", "iemocap", "--data-dir", str(root), "--preset", "tiny", "--folds", "1", "--epochs",
               "1", "--batch-size", "4", "--dense", "24", "--lstm-hidden", "12", "--fc", "10",
               "--first-conv-weight-bits", "4", "--head-weight-bits", "3", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "IEMOCAP" in r.stdout or "iemocap" in r.stdout
    assert "62.4" in r.stdout  # the poster's IEMOCAP row is printed beside ours
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["classes"] == ["angry", "happy", "sad", "neutral"] and m["n_runs"] == 1
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["experiment"]["model_overrides"] == {"dense": 24, "lstm_hidden": 12, "fc": 10,
                                                    "first_conv_weight_bits": 4, "head_weight_bits": 3}
    import numpy as np
    import torch

    from bcrnn.reference.packed_file import load_packed

    packed = load_packed(next((tmp_path / "run").rglob("model.packed.npz")))
    for layer, largest in (("conv0", 7), ("fc", 3), ("out", 3)):  # 4- and 3-bit codes, narrow range
        assert np.abs(packed[f"{layer}_weight_codes"]).max() == largest and f"{layer}_weight_bits" not in packed

    weights = torch.load(tmp_path / "run" / "model.pt", weights_only=False)["model"]
    assert weights["lstm.fwd.gates.weight"].shape == (4 * 12, 24 + 12)
    assert weights["fc.weight"].shape == (10, 2 * 12)
    assert any("missing" in reason or "no such file" in reason for _, reason in cfg["skipped_files"])
