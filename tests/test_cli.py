"""The command line: `bcrnn` and its subcommands, every training option declared once (flag, experiment file,
config.json), clear errors for bad input, and a complete run on the IEMOCAP layout."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def _train_in_process(*args, capsys) -> tuple[int, str]:
    """`bcrnn train` in this process (argument checks need no fresh interpreter): exit code and stderr."""
    from bcrnn.train_command import main

    try:
        code = main([*args, "--no-progress"])
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def test_bad_flags_are_rejected(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = str(tmp_path / "r")
    cases = [(["--preset", "huge"], "invalid choice"),
             (["--config", str(tmp_path / "missing.yaml")], "missing.yaml"),
             (["--folds", "99", "--epochs", "1", "--preset", "tiny", "--out", out], "--folds must be between"),
             (["--first-conv-weight-bits", "9", "--preset", "tiny", "--out", out], "1 (binary) to 8"),
             (["--model", "crnn", "--first-conv-weight-bits", "4", "--out", out], "binary model"),
             (["--head-weight-bits", "0", "--preset", "tiny", "--out", out],
              "--head-weight-bits must be 1 (binary) to 8")]
    for args, message in cases:
        code, err = _train_in_process(*args, capsys=capsys)
        assert code == 2 and message in err, (args, err[-500:])
    for jobs in ("1", "2"):  # a missing teacher run (a new machine): said at once, nothing written
        code, err = _train_in_process("--teacher", str(tmp_path / "no-crnn"), "--distill-weight", "0.5", "--preset",
                                      "tiny", "--jobs", jobs, "--out", str(tmp_path / "student"), capsys=capsys)
        assert code == 2 and "no-crnn not found" in err and "--model crnn" in err
        assert "Traceback" not in err and not (tmp_path / "student").exists()


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


def test_bcrnn_help_lists_every_subcommand():
    """`bcrnn --help` names every stage of the pipeline with its one line, and imports none of them."""
    code = "import sys; from bcrnn.cli import main\ntry: main(['--help'])\nfinally: assert 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    from bcrnn.cli import COMMANDS

    assert list(COMMANDS) == ["train", "reproduce", "ensemble", "summarize", "repetitions", "export", "export-c",
                              "c-emulate", "verify", "predict", "enrol", "finn", "rtl-sim", "synth", "pnr",
                              "gate-level", "board"]
    for name, (_, description) in COMMANDS.items():
        assert re.search(rf"^\s+{name}\s+{re.escape(description)}$", r.stdout, re.M), name
    r = subprocess.run([sys.executable, "-m", "bcrnn.cli", "trian"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "invalid choice: 'trian'" in r.stderr


def _help_after_usage(text: str) -> str:
    """A --help text without its usage lines (they wrap by the program's name)."""
    return text[text.index("\n\n"):]


ALIASES = {"train": "training/train.py", "ensemble": "training/ensemble.py", "summarize": "training/summarize.py",
           "repetitions": "training/repetitions.py", "finn": "finn_build/build.py", "rtl-sim": "sim/top.py",
           "gate-level": "sim/gate_level.py", "synth": "hw/synth/synth.py"}


@pytest.mark.parametrize("command", ["export", "export-c", "c-emulate", "verify", "predict", "enrol", "pnr", "board",
                                     *ALIASES])
def test_every_subcommand_parses_its_own_options(command, capsys, monkeypatch):
    """`bcrnn COMMAND --help` is the command's module's own parser; an old script is an alias printing the same."""
    from bcrnn.cli import main

    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: bcrnn {command} ")
    if command in ALIASES:
        r = subprocess.run([sys.executable, str(ROOT / ALIASES[command]), "--help"], capture_output=True, text=True,
                           timeout=300, cwd=ROOT, env={**os.environ, "COLUMNS": "120"})
        assert r.returncode == 0, r.stderr
        assert _help_after_usage(r.stdout) == _help_after_usage(text)


def _option_samples():
    """(option, a valid value other than its default, other options it needs) for every option of the train
    command: the experiment's, the training's and the model settings."""
    from bcrnn.config import ExperimentConfig
    from bcrnn.models import CRNNConfig
    from bcrnn.options import options
    from bcrnn.training import TrainConfig

    needs = {"validate_every": {"selection": "last"}, "distill_weight": {"teacher": "runs/t"},
             "init_from_teacher": {"teacher": "runs/t"}, "teacher_seeds": {"teacher": "runs/t-s0", "distill_weight": 0.5},
             "real_weight_epochs": {"selection": "last"}}
    samples = []
    for cls in (ExperimentConfig, TrainConfig, CRNNConfig):
        for f in options(cls):
            if f.metadata["choices"]:
                value = next(c for c in f.metadata["choices"] if c != f.default)
            elif f.type == "bool":
                value = not f.default
            elif f.type in ("int", "int | None"):
                value = (f.default or 0) + 2
            elif f.type == "float":
                value = f.default / 2 + 0.1
            else:
                value = "some/folder"
            samples.append(pytest.param(f.name, value, needs.get(f.name, {}), id=f.name))
    return samples


def _flags(values: dict) -> list[str]:
    from bcrnn.options import flag

    out = []
    for name, value in values.items():
        if isinstance(value, bool):
            out.append(flag(name) if value else flag(name).replace("--", "--no-"))
        else:
            out += [flag(name), str(value)]
    return out


def _yaml(values: dict) -> str:
    from bcrnn.config import ExperimentConfig
    from bcrnn.models import CRNNConfig
    from bcrnn.options import options
    from bcrnn.training import TrainConfig

    groups = {"": {f.name for f in options(ExperimentConfig)}, "train": {f.name for f in options(TrainConfig)},
              "model_overrides": {f.name for f in options(CRNNConfig)}}
    data = {}
    for name, value in values.items():
        group = next(g for g, names in groups.items() if name in names)
        (data.setdefault(group, {}) if group else data)[name] = value
    return yaml.safe_dump(data)


@pytest.mark.parametrize("name, value, needs", _option_samples())
def test_an_option_is_one_value_as_flag_yaml_and_config_json(name, value, needs, tmp_path):
    """Every option: given as a flag, or written in an experiment file, it is the same configuration, which
    config.json stores (ExperimentConfig.to_dict) and gives back."""
    from bcrnn.config import ExperimentConfig, load_config
    from bcrnn.models import CRNNConfig
    from bcrnn.options import given
    from bcrnn.train_command import parser
    from bcrnn.training import TrainConfig

    values = {**needs, name: value}
    args = parser().parse_args(_flags(values))
    from_flags = load_config(None, {**given(args, ExperimentConfig), **given(args, TrainConfig),
                                    **given(args, CRNNConfig)})
    path = tmp_path / "exp.yaml"
    path.write_text(_yaml(values))
    assert load_config(path, {}) == from_flags
    stored = json.loads(json.dumps(from_flags.to_dict()))  # config.json's "experiment"
    assert ExperimentConfig.from_dict(stored) == from_flags
    assert {**stored, **stored["train"], **stored["model_overrides"]}[name] == value


def test_flag_and_experiment_file_reach_config_json(tmp_path):
    """A real run of `bcrnn train`: an option from the experiment file and one from a flag are in its config.json."""
    (tmp_path / "exp.yaml").write_text("preset: tiny\nfolds: 1\ntrain:\n  epochs: 1\n  mixup: 0.2\n")
    r = subprocess.run([sys.executable, "-m", "bcrnn.cli", "train", "--config", str(tmp_path / "exp.yaml"),
                        "--batch-size", "16", "--out", str(tmp_path / "run"), "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["experiment"]
    assert stored["train"]["batch_size"] == 16 and stored["train"]["mixup"] == 0.2 and stored["preset"] == "tiny"
    assert stored["train"]["patience"] == 12  # synth's own default, neither set nor overridden


def test_an_invalid_value_gives_one_error_as_flag_yaml_or_field(tmp_path, capsys):
    """The check lives in the field's declaration: a flag, an experiment file and the dataclass itself give the
    same error."""
    from bcrnn.config import load_config
    from bcrnn.train_command import main
    from bcrnn.training import TrainConfig

    message = "batch_size must be an integer >= 2 (batch norm needs batches of two), got 1"
    assert main(["--batch-size", "1", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"
    (tmp_path / "exp.yaml").write_text("train:\n  batch_size: 1\n")
    with pytest.raises(ValueError) as from_yaml:
        load_config(tmp_path / "exp.yaml", {})
    with pytest.raises(ValueError) as from_field:
        TrainConfig(batch_size=1)
    assert str(from_yaml.value) == str(from_field.value) == message
    assert not (tmp_path / "r").exists()
