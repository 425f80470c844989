"""Experiment configuration: one dataclass, optionally read from `training/configs/<name>.yaml`, then
overridden by command-line flags. Per-dataset defaults fill what neither sets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from bcrnn.training import TrainConfig

DATASETS = ("synth", "emodb", "iemocap")

# What a run on each corpus uses unless told otherwise: the synthetic corpus is a quick smoke test.
DATASET_DEFAULTS = {
    "synth": {"folds": 3, "epochs": 12, "patience": 12},
    "emodb": {"folds": None, "epochs": 40},
    "iemocap": {"folds": None, "epochs": 40},
}


@dataclass
class ExperimentConfig:
    dataset: str = "synth"
    data_dir: str | None = None
    model: str = "bcrnn"  # "crnn" (full precision) or "bcrnn" (binary)
    preset: str = "small"
    folds: int | None = None  # None: one fold per speaker
    seeds: int = 1
    seed: int = 0  # first seed; seeds run seed, seed+1, ...
    merge_excited: bool = False  # IEMOCAP: count "excited" as happy
    threads: int = 0  # torch threads; 0 = all cores
    # feature z-scoring: "global" = training speakers' statistics for everybody; "speaker" = every speaker with
    # its own utterances' statistics (test speaker included; unsupervised), also at inference (bcrnn predict)
    normalization: str = "global"
    # knowledge distillation: a finished run (e.g. the CRNN) with the same folds, whose fold model teaches this
    # fold's model (train.distill_weight, train.distill_temperature); None: no teacher
    teacher: str | None = None
    # start each fold's BCRNN from the teacher's (a full-precision CRNN of the same sizes) trained weights
    init_from_teacher: bool = False
    model_overrides: dict = field(default_factory=dict)  # CRNNConfig fields replacing the preset's
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        d = dict(d)
        train = TrainConfig(**d.pop("train", {}))
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        return cls(train=train, **d)


def load_config(path: str | Path | None, overrides: dict) -> ExperimentConfig:
    """YAML file (if any), then `overrides` (flat keys; TrainConfig keys allowed), then dataset defaults."""
    data = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
    data.setdefault("train", {})
    train_keys = {f.name for f in fields(TrainConfig)}
    explicit = set(data) | set(data["train"])
    for key, value in overrides.items():
        if value is None:
            continue
        explicit.add(key)
        if key in train_keys:
            data["train"][key] = value
        else:
            data[key] = value
    cfg = ExperimentConfig.from_dict(data)
    if cfg.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}: choose one of {', '.join(DATASETS)}")
    for key, value in DATASET_DEFAULTS[cfg.dataset].items():
        if key not in explicit:
            if key in train_keys:
                setattr(cfg.train, key, value)
            else:
                setattr(cfg, key, value)
    checks = [("epochs", cfg.train.epochs, 1), ("patience", cfg.train.patience, 1), ("seeds", cfg.seeds, 1),
              ("batch_size", cfg.train.batch_size, 2), ("folds", cfg.folds if cfg.folds is not None else 1, 1)]
    for name, value, minimum in checks:
        if not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum} (batch norm needs batches of two), got {value!r}"
                             if name == "batch_size" else f"{name} must be an integer >= {minimum}, got {value!r}")
    from bcrnn.features import NORMALIZATIONS

    if cfg.normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {cfg.normalization!r}")
    if not cfg.train.lr > 0:
        raise ValueError(f"lr must be positive, got {cfg.train.lr}")
    if cfg.train.distill_weight > 0 and not cfg.teacher:
        raise ValueError("distill_weight > 0 distils from a teacher run: give --teacher RUN")
    if cfg.init_from_teacher and not (cfg.teacher and cfg.model == "bcrnn"):
        raise ValueError("init_from_teacher starts a BCRNN from its teacher run's CRNN: give --model bcrnn and "
                         "--teacher RUN")
    return cfg
