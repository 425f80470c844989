"""Shared fixtures: the real Emo-DB copy (through a path, never copied) and small feature sets."""

from __future__ import annotations

import os
import sys
from collections import Counter
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


def pytest_collection_modifyitems(config, items):
    """Long files first. `make test` runs two xdist workers that take one whole file at a time in collection order
    (`--dist loadfile --no-loadscope-reorder`): the files holding slow tests, then those holding RTL simulations,
    start first and the many short files fill in at the end, so that no worker is left finishing a long file
    alone. A stable sort: the files keep their order among equals and the tests theirs within a file."""
    weight = Counter()
    for item in items:
        weight[item.path] += 1000 * bool(item.get_closest_marker("slow")) + bool(item.get_closest_marker("sim"))
    items.sort(key=lambda item: -weight[item.path])


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


@pytest.fixture(scope="session")
def emodb_segments(tmp_path_factory):
    """Real Emo-DB features (speaker 03, normalized with speaker 08's statistics); where no Emo-DB copy exists,
    the synthetic corpus stands in (said in the test log), so the bit-exactness tests never silently vanish.
    Returns (feature set, normalizer, normalized segments (S, 3, 300, 40)); shared, do not modify."""
    from bcrnn.corpora.emodb import load_emodb
    from bcrnn.corpora.synth import load_synth
    from bcrnn.features import Normalizer, extract_features

    if (EMODB_DIR / "wav").is_dir() or any(EMODB_DIR.glob("*.wav")):
        corpus = load_emodb(EMODB_DIR)
        corpus.utterances = [u for u in corpus.utterances if u.speaker in ("03", "08")][::8]  # 14 utterances
        test, stats = "03", "08"
    else:
        print(f"no Emo-DB copy at {EMODB_DIR}: bit-exactness checked on synthetic speech instead")
        corpus, test, stats = load_synth(n_speakers=3, per_class=2), "s01", "s02"
    fs = extract_features(corpus, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    norm = Normalizer.fit(fs, fs.select([stats]))
    x, _, _ = fs.segments(fs.select([test]))
    return fs, norm, norm(x)


def trained_like(preset_overrides, x, seed=0, preset="tiny"):
    """A BCRNN (default: the tiny preset) with non-trivial batch-norm statistics (a few training-mode passes over
    real features)."""
    from bcrnn.models import build_model

    torch.manual_seed(seed)
    model = build_model("bcrnn", preset, 7, **preset_overrides)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(-1, 1)  # negative slopes flip thresholds: exercise both directions
                m.bias.uniform_(-0.5, 0.5)
        model.train()
        for _ in range(3):
            model(torch.from_numpy(x))
    return model.eval()


@pytest.fixture(scope="session")
def frontend_small_model(emodb_segments):
    """The front-end RTL tests' model: a trained_like small-preset BCRNN packed (pack_model), with the int8 codes
    of the Emo-DB segments (S, 3, 300, 40). Returns (packed arrays, codes); shared, do not modify."""
    from bcrnn.packing import pack_model
    from bcrnn.reference.model import quantize_features

    fs, norm, x = emodb_segments
    packed = pack_model(trained_like({}, x, seed=5, preset="small"), norm.to_dict(), fs.classes, fs.config.__dict__)
    return packed, quantize_features(x)


def lstm_case(packed, x, segments):
    """(fwd, bwd, fmt, LSTM input bits (S, T, D), the reference's LSTM output bits) of a packed model on the
    segments `x[segments]`: the LSTM streams the HLS kernel and the RTL are checked on."""
    import numpy as np

    from bcrnn.fixed_point import LSTMFormat
    from bcrnn.reference.model import ReferenceBCRNN, quantize_features

    ref = ReferenceBCRNN.from_arrays(packed)
    traces = [ref.forward(quantize_features(x[s]), trace=True)[1] for s in segments]
    fwd, bwd = ((packed[f"lstm_{d}_weight_bits"], packed[f"lstm_{d}_mult"], packed[f"lstm_{d}_offset"])
                for d in ("fwd", "bwd"))
    fmt = LSTMFormat(**ref.meta["lstm_format"])
    return fwd, bwd, fmt, np.stack([t["dense"] for t in traces]), np.stack([t["lstm"] for t in traces])
