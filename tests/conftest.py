"""Shared fixtures: the real Emo-DB copy (through a path, never copied) and small feature sets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# One thread per test process: the suite stays predictable on 2 cores, also beside a running benchmark.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

EMODB_DIR = Path(os.environ.get("BCRNN_EMODB_DIR", ROOT.parent / "shared" / "data" / "emodb"))


@pytest.fixture(scope="session")
def emodb_dir() -> Path:
    if not (EMODB_DIR / "wav").is_dir() and not any(EMODB_DIR.glob("*.wav")):
        pytest.skip(f"no Emo-DB copy at {EMODB_DIR} (set BCRNN_EMODB_DIR to the folder of your copy)")
    return EMODB_DIR


@pytest.fixture(scope="session")
def synth_features(tmp_path_factory):
    """Features of a reduced synthetic corpus (4 speakers x 4 classes x 3 utterances)."""
    from bcrnn.corpora.synth import load_synth
    from bcrnn.features import extract_features

    return extract_features(load_synth(n_speakers=4, per_class=3), cache_dir=tmp_path_factory.mktemp("cache"),
                            progress=False)
