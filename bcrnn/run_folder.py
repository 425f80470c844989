"""A run folder: every file one training run writes, where it lives, and how to open a run from any of its folders.

    runs/<name>/
        config.json, train.log                    the experiment, folds, git commit, skipped files; the epoch log
        metrics.json, size.json                   scores over folds x seeds; float32 vs packed size
        confusion.png, curves.png                 confusion summed over folds; loss and validation UAR per fold
        ensemble.json, ensemble.png               with several seeds: the seeds' ensemble (integer reference)
        model.pt, model.packed.npz                the deployed model: the first fold's best.pt and packed file
        model.qonnx.onnx (+ .json), export_check.json    its QONNX export, checked against the reference
        folds/seed<S>/<fold>/                     last.pt, best.pt, result.json (done), model.packed.npz
        members/seed<S>/                          seed S's first fold as a run folder of its own

Every station (training, reports, ensembles, the `bcrnn` command, the FINN build, the RTL simulation, benchmarks)
opens runs here, so the layout is written down once. Nothing here imports torch: `bcrnn predict` runs without it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.json"
PACKED = "model.packed.npz"

# The feature cache every run shares (bcrnn.features.extract_features), relative to the project folder.
FEATURE_CACHE = Path("runs/cache")


class RunFolderError(RuntimeError):
    """A folder is not a run, or the run cannot be used as asked (exists without --resume, another configuration)."""


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (a per-process temporary file, then rename): a kill never leaves half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def git_sha() -> str:
    """The commit of the code that writes a run (recorded in config.json and every best.pt)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass(frozen=True)
class FoldFolder:
    """folds/seed<S>/<fold>/: one seed's training and test of one fold. It is done when result.json exists."""

    path: Path

    @property
    def seed(self) -> int:
        return int(self.path.parent.name.removeprefix("seed"))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def last(self) -> Path:
        """The resume point, written after every epoch."""
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        """The selected model with its experiment, normaliser and scores."""
        return self.path / "best.pt"

    @property
    def result(self) -> Path:
        return self.path / "result.json"

    @property
    def packed(self) -> Path:
        return self.path / PACKED

    @property
    def done(self) -> bool:
        return self.result.exists()

    def read_result(self) -> dict:
        return json.loads(self.result.read_text())

    def write_result(self, result: dict) -> None:
        write_json(self.result, result)


@dataclass(frozen=True)
class RunFolder:
    """One run's folder. `fold` is set when the run was opened at one of its fold folders: `checkpoint` and
    `packed` are then that fold's model (best.pt) instead of the run's (model.pt)."""

    path: Path
    fold: FoldFolder | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    def open(cls, folder, allow_fold: bool = True) -> "RunFolder":
        """The run of `folder`: a run folder (it holds config.json) or, unless `allow_fold` is False (for what
        takes a whole run: summaries, ensembles, a teacher), one of its fold folders."""
        folder = Path(folder)
        if (folder / CONFIG).is_file():
            return cls(folder)
        seed_dir = folder.absolute().parent
        root = seed_dir.parent.parent
        if seed_dir.name.startswith("seed") and seed_dir.parent.name == "folds" and (root / CONFIG).is_file():
            if not allow_fold:
                raise RunFolderError(f"not a run folder: {folder} is a fold of the run {root}; give the run folder")
            return cls(root, FoldFolder(folder.absolute()))
        raise RunFolderError(f"not a run folder: {folder} ({CONFIG} missing; a run folder holds one, a fold folder "
                             f"is RUN/folds/seed<S>/<fold>)")

    def at(self, fold: FoldFolder) -> "RunFolder":
        """This run seen from one of its folds (whose model is then the one loaded)."""
        return RunFolder(self.path, fold)

    # the run's files
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def log_file(self) -> Path:
        return self.path / "train.log"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.json"

    @property
    def size_file(self) -> Path:
        return self.path / "size.json"

    @property
    def confusion_plot(self) -> Path:
        return self.path / "confusion.png"

    @property
    def curves_plot(self) -> Path:
        return self.path / "curves.png"

    @property
    def ensemble_file(self) -> Path:
        return self.path / "ensemble.json"

    @property
    def ensemble_plot(self) -> Path:
        return self.path / "ensemble.png"

    @property
    def export_check_file(self) -> Path:
        return self.path / "export_check.json"

    # the model of the folder opened: the run's own, or one fold's
    @property
    def model_dir(self) -> Path:
        return self.fold.path if self.fold else self.path

    @property
    def checkpoint(self) -> Path:
        return self.fold.best if self.fold else self.path / "model.pt"

    @property
    def packed(self) -> Path:
        return self.model_dir / PACKED

    @property
    def qonnx(self) -> Path:
        """The QONNX export (beside it, the same name .json: input, scale, label map)."""
        return self.model_dir / "model.qonnx.onnx"

    # the configuration
    @property
    def config(self) -> dict:
        return json.loads(self.config_file.read_text())

    @property
    def experiment(self) -> dict:
        """The experiment as config.json stores it (bcrnn.config.ExperimentConfig.to_dict)."""
        return self.config["experiment"]

    @property
    def speaker_batch_norm(self) -> bool:
        """Trained with speaker batch norm: each fold model's thresholds belong to its test speaker."""
        return bool(self.experiment.get("train", {}).get("speaker_batch_norm", False))

    # folds and members
    def fold_folder(self, seed: int, name: str) -> FoldFolder:
        return FoldFolder(self.path / "folds" / f"seed{seed}" / name)

    def seeds(self) -> list[int]:
        """The seeds with a folder under folds/."""
        return sorted(int(d.name.removeprefix("seed")) for d in (self.path / "folds").glob("seed*") if d.is_dir())

    def finished_folds(self, seeds: set[int] | None = None) -> list[FoldFolder]:
        """The done fold folders (result.json written), of every seed or of `seeds`, in path order."""
        folds = [FoldFolder(r.parent) for r in sorted(self.path.glob("folds/seed*/*/result.json"))]
        return [f for f in folds if seeds is None or f.seed in seeds]

    def member(self, seed: int) -> "RunFolder":
        """members/seed<S>/: seed S's first fold as a run of its own (bcrnn.run_export.member_folder makes it)."""
        return RunFolder(self.path / "members" / f"seed{seed}")

    # reading and writing
    def prepare(self, cfg, resume: bool) -> None:
        """Create the folder, or check that the configuration stored there is the one being resumed."""
        if self.config_file.exists():
            if not resume:
                raise RunFolderError(f"{self.path} already holds a run: pass --resume to continue it, or --out NEW_DIR")
            from bcrnn.config import ExperimentConfig

            stored = ExperimentConfig.from_dict(self.experiment).to_dict()  # newer settings take their defaults
            current = cfg.to_dict()
            ignore = {"threads"}
            diff = [k for k in set(stored) | set(current) if k not in ignore and stored.get(k) != current.get(k)]
            if diff:
                raise RunFolderError(f"cannot resume {self.path}: its configuration differs in "
                                     f"{', '.join(sorted(diff))}")
        self.path.mkdir(parents=True, exist_ok=True)

    def write_config(self, content: dict) -> None:
        write_json(self.config_file, content)

    def load_model(self):
        """The opened folder's model (eval mode) and its checkpoint. A checkpoint carries the experiment it was
        trained in; one that lacks it gets the run's, from config.json."""
        from bcrnn.models import load_checkpoint

        model, ckpt = load_checkpoint(self.checkpoint)
        ckpt.setdefault("experiment", self.experiment)
        return model, ckpt

    def features(self, data_dir=None, cache_dir: Path | None = FEATURE_CACHE, progress: bool = True,
                 feature_config=None):
        """The features of the corpus the run was trained on (config.json: dataset, merge_excited and, unless
        `data_dir` is given, data_dir), from the feature cache when there."""
        from bcrnn.corpora import load_corpus
        from bcrnn.features import FeatureConfig, extract_features

        experiment = self.experiment
        corpus = load_corpus(experiment["dataset"], data_dir or experiment.get("data_dir"),
                             merge_excited=experiment.get("merge_excited", False))
        return extract_features(corpus, feature_config or FeatureConfig(), cache_dir=cache_dir, progress=progress)

    def test_segments(self, utterances: int, data_dir=None, cache_dir: Path | None = FEATURE_CACHE):
        """The z-scored 3-s segments of the first `utterances` utterances of the opened fold's test speaker,
        normalized as the run scored them; returns (segments (N, 3, frames, mels), speaker, utterance indices)."""
        from bcrnn.features import Normalizer

        _, ckpt = self.load_model()
        fs = self.features(data_dir, cache_dir)
        speaker = ckpt["fold"]["test"]
        idx = fs.select([speaker])[:utterances]
        return Normalizer.from_dict(ckpt["normalizer"]).normalized_segments(fs, idx)[0], speaker, idx


def packed_model(model) -> Path:
    """The packed model `model` names: a model.packed.npz file as given, or the one of a run or fold folder."""
    model = Path(model)
    path = RunFolder.open(model).packed if model.is_dir() else model
    if not path.is_file():
        raise FileNotFoundError(f"no packed model at {path}: train a BCRNN (python training/train.py) first")
    return path


class Logger:
    """Prints through tqdm (so progress bars stay intact) and appends to a run's train.log."""

    def __init__(self, path: Path, quiet: bool = False):
        self.path, self.quiet = path, quiet

    def __call__(self, msg: str) -> None:
        from tqdm import tqdm

        if not self.quiet:
            tqdm.write(msg)
        with open(self.path, "a") as f:
            f.write(msg + "\n")
