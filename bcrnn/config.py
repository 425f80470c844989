"""Experiment configuration: one dataclass, optionally read from an experiment file (`training/configs/<name>.yaml`)
or a named recipe's `experiment:` (bcrnn.recipes), then overridden by command-line flags. Per-dataset defaults fill
what neither sets. Every option is declared once, as a field (bcrnn.options): its flag, its YAML key and its
config.json entry follow from it, and so does its check."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from bcrnn.features import NORMALIZATIONS
from bcrnn.models import PRESETS, CRNNConfig
from bcrnn.options import check_options, flag, option, options
from bcrnn.training import TrainConfig

DATASETS = ("synth", "emodb", "iemocap")

# What a run on each corpus uses unless told otherwise: the synthetic corpus is a quick smoke test.
DATASET_DEFAULTS = {
    "synth": {"folds": 3, "epochs": 12, "patience": 12},
    "emodb": {"folds": None, "epochs": 40},
    "iemocap": {"folds": None, "epochs": 40},
}


def dataset_notes() -> dict[str, str]:
    """Option -> the datasets whose default differs from the field's ("synth: 12"), for the help of its flag."""
    defaults = ExperimentConfig().to_dict()
    defaults.update(defaults.pop("train"))
    notes = {}
    for dataset, values in DATASET_DEFAULTS.items():
        for name, value in values.items():
            if value != defaults[name]:
                notes[name] = "; ".join(filter(None, [notes.get(name), f"{dataset}: {value}"]))
    return notes


@dataclass
class ExperimentConfig:
    """One experiment. Each field but the last two is an option (bcrnn.options): a `bcrnn train` flag, a key of an
    experiment file, an entry of config.json."""

    dataset: str = option("synth", "corpus: synth is generated (a smoke test, not speech), emodb and iemocap are "
                                   "read from --data-dir", choices=DATASETS)
    data_dir: str | None = option(None, "corpus folder (Emo-DB: its wav files, or the folder holding wav/; IEMOCAP: "
                                        "the folder of Session1..5)")
    model: str = option("bcrnn", "full-precision CRNN or binary BCRNN", choices=("crnn", "bcrnn"))
    preset: str = option(
        "small", "model size: paper = the 3-D ACRNN's 1-conv sizes (128 maps, dense 768, BiLSTM 128; ~1.9 M "
        "parameters); small = 64 maps, dense 256, BiLSTM 64 (~0.34 M); wide = the small conv with dense 768 and "
        "BiLSTM 128 (~1.4 M), the most accurate BCRNN measured; hw = wide, the network that fits a ZU3EG at "
        ">= 1,000 segments/s by FINN's estimate; tiny = tests", choices=tuple(PRESETS))
    folds: int | None = option(None, "number of speaker folds, the first K", minimum=1, unset="one per speaker")
    seeds: int = option(1, "repeat every fold with this many seeds", minimum=1)
    seed: int = option(0, "first seed; the seeds run seed, seed + 1, ...")
    merge_excited: bool = option(False, "IEMOCAP: excited counts as happy")
    threads: int = option(0, "torch threads; 0 = all cores")
    normalization: str = option(
        "global", "feature z-scoring: global = the training speakers' statistics for everybody; speaker = every "
        "speaker with its own utterances' statistics (test speaker included; unsupervised), also at inference "
        "(bcrnn predict); utterance = every utterance with its own frames' statistics (no enrolment, independent "
        "of the microphone's gain)", choices=NORMALIZATIONS)
    teacher: str | None = option(None, "run folder of a finished run of the same folds (e.g. the CRNN) whose fold "
                                       "models teach this run's (--distill-weight, --init-from-teacher)")
    init_from_teacher: bool = option(False, "start each fold's BCRNN from the --teacher run's CRNN weights (a "
                                            "full-precision CRNN of the same sizes)")
    teacher_seeds: int = option(1, "distil from the mean logits of this many teacher runs of consecutive seeds: "
                                   "--teacher RUN, named <name>-s<k> as bcrnn reproduce names runs, and its "
                                   "siblings <name>-s<k+1>, ... (an ensemble teacher)", minimum=1)
    model_overrides: dict = field(default_factory=dict)  # model settings (CRNNConfig options) replacing the preset's
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        check_options(self)
        if self.train.distill_weight > 0 and not self.teacher:
            raise ValueError("distill_weight > 0 distils from a teacher run: give --teacher RUN")
        if self.init_from_teacher and not (self.teacher and self.model == "bcrnn"):
            raise ValueError("init_from_teacher starts a BCRNN from its teacher run's CRNN: give --model bcrnn and "
                             "--teacher RUN")
        if self.teacher_seeds > 1 and (self.init_from_teacher or not self.train.distill_weight > 0):
            raise ValueError("teacher_seeds > 1 distils from an ensemble of teacher runs: give --distill-weight > 0, "
                             "and no --init-from-teacher (one set of weights to start from)")
        if self.train.real_weight_epochs and self.model != "bcrnn":
            raise ValueError(f"{flag('real_weight_epochs')} is two-stage training of the binary model (--model bcrnn)")
        for name in ("first_conv_weight_bits", "head_weight_bits"):
            if name in self.model_overrides:
                if not 1 <= self.model_overrides[name] <= 8:
                    raise ValueError(f"{flag(name)} must be 1 (binary) to 8")
                if self.model != "bcrnn":
                    raise ValueError(f"{flag(name)} applies to the binary model (--model bcrnn)")

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
    """YAML file (if any), then `overrides` (flat keys: experiment, training and model-setting options; None = not
    given), then the dataset's defaults for what neither set; checked as it is built."""
    data = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
    return build_config(data, overrides)


def build_config(data: dict, overrides: dict) -> ExperimentConfig:
    """An experiment file's content (a recipe's `experiment:`; not modified), then `overrides`, then the dataset's
    defaults, as load_config."""
    data = copy.deepcopy(data)
    data.setdefault("train", {})
    train_keys = {f.name for f in fields(TrainConfig)}
    model_keys = {f.name for f in options(CRNNConfig)}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in train_keys:
            data["train"][key] = value
        elif key in model_keys:
            data["model_overrides"] = {**data.get("model_overrides", {}), key: value}
        else:
            data[key] = value
    for key, value in DATASET_DEFAULTS.get(data.get("dataset", ExperimentConfig.dataset), {}).items():
        (data["train"] if key in train_keys else data).setdefault(key, value)
    return ExperimentConfig.from_dict(data)
