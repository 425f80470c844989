"""The generated C engine (`bcrnn export-c`, bcrnn.c_engine) against the integer reference, value by value at every
layer boundary of ReferenceBCRNN.forward(trace=True), on real Emo-DB segments: the small and the hw presets (and a
two-conv model with 8-bit first-conv and head weights), with every kernel variant this CPU runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import trained_like

from bcrnn.c_engine import CEngine, available_kernels
from bcrnn.reference.model import ReferenceBCRNN, quantize_features
from bcrnn.reference.packed_file import save_packed

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

KERNELS = available_kernels()
MODELS = {  # name -> (trained_like overrides, preset, seed)
    "small": ({}, "small", 5),
    "hw": ({}, "hw", 0),
    # two convolutions (the generic binary conv path), 8 maps (padded to 16 in the SIMD kernels), 80 hidden units
    # (two words of h), integer weight codes in the first conv and the head
    "two-conv-int8": ({"conv": ((8, 5, 3, 2, 4), (8, 3, 3, 1, 1)), "lstm_hidden": 80, "first_conv_weight_bits": 8,
                       "head_weight_bits": 8}, "tiny", 2),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("c_engine_cache")


def _pack(emodb_segments, folder: Path, name: str) -> Path:
    from bcrnn.packing import pack_model

    fs, norm, x = emodb_segments
    overrides, preset, seed = MODELS[name]
    path = folder / f"{name}.packed.npz"
    save_packed(path, pack_model(trained_like(overrides, x, seed=seed, preset=preset), norm.to_dict(), fs.classes,
                                 fs.config.__dict__))
    return path


@pytest.fixture(scope="module")
def packed(emodb_segments, tmp_path_factory):
    """name -> the packed model file of MODELS[name], made once per module (so built libraries are reused)."""
    folder, paths = tmp_path_factory.mktemp("models"), {}

    def get(name: str) -> Path:
        if name not in paths:
            paths[name] = _pack(emodb_segments, folder, name)
        return paths[name]

    return get


@pytest.fixture(scope="module", params=list(MODELS))
def case(request, packed, emodb_segments):
    """(model name, packed model path, its codes of every Emo-DB segment, the reference's (logits, streams) of
    each)."""
    path = packed(request.param)
    ref = ReferenceBCRNN.load(path)
    codes = quantize_features(emodb_segments[2])
    return request.param, path, codes, [ref.forward(c, trace=True) for c in codes]


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_layer_boundary_equals_the_reference(case, kernel, cache):
    name, path, codes, expected = case
    traced = CEngine(path, kernel=kernel, trace=True, cache_dir=cache)
    # the build without trace (the one deployed) gives the same integers: checked for every kernel on the hw preset
    # and with the fastest kernel on the others (each build takes a second or two)
    plain = CEngine(path, kernel=kernel, cache_dir=cache) if name == "hw" or kernel == KERNELS[-1] else None
    assert traced.kernel == kernel and (plain is None or plain.kernel == kernel)
    for engine in filter(None, (traced, plain)):
        assert "warning" not in engine.build_log, engine.build_log
    compared = 0
    for s, (c, (ref_logits, ref_streams)) in enumerate(zip(codes, expected)):
        logits, streams = traced.forward(c, trace=True)
        assert set(streams) == set(ref_streams) | {"label"}
        for name, want in ref_streams.items():
            got = streams[name]
            assert got.shape == np.shape(want), (s, name, got.shape, np.shape(want))
            diff = np.flatnonzero(got.reshape(-1) != np.asarray(want).reshape(-1))
            assert diff.size == 0, f"segment {s}, {name}: {diff.size} values differ, first at flat index {diff[0]}"
            compared += got.size
        assert np.array_equal(logits, ref_logits)
        assert streams["label"] == np.argmax(ref_logits)
        if plain is not None:
            label, plain_logits = plain.classify(c)
            assert np.array_equal(plain_logits, ref_logits) and label == np.argmax(ref_logits), s
    print(f"{path.name} {kernel}: {len(codes)} segments, {compared:,} values equal")


def test_label_is_the_first_largest_logit(emodb_segments, packed, tmp_path, cache):
    """Ties go to the first class, as numpy.argmax and the RTL's output_argmax (code common to every kernel)."""
    from bcrnn.reference.packed_file import load_packed

    arrays = load_packed(packed("two-conv-int8"))
    arrays["out_mult"] = np.zeros_like(arrays["out_mult"])
    arrays["out_offset"] = np.array([0, -3, 7, 1, 2, 7, 3])  # logits = offsets: classes 2 and 5 tie
    save_packed(tmp_path / "tie.packed.npz", arrays)
    ref = ReferenceBCRNN.load(tmp_path / "tie.packed.npz")
    engine = CEngine(tmp_path / "tie.packed.npz", cache_dir=cache)
    for c in quantize_features(emodb_segments[2][:2]):
        label, logits = engine.classify(c)
        assert np.array_equal(logits, ref.forward(c)) and label == 2 == np.argmax(logits)


def test_quantize_is_the_reference_front_end(emodb_segments, packed, cache):
    """bcrnn_quantize (float32 z-score, round half to even, saturate) = quantize_features(normalize(.)) on raw Emo-DB
    segments, with the model's statistics and with a speaker's own."""
    from bcrnn.features import Normalizer

    fs, norm, _ = emodb_segments
    raw, _, _ = fs.segments(fs.select(["03"]))
    path = packed("two-conv-int8")
    engine, ref = CEngine(path, cache_dir=cache), ReferenceBCRNN.load(path)
    own = Normalizer.from_features([fs.features[i] for i in fs.select(["03"])], "speaker")
    raw = np.concatenate([raw, raw[:1] * 40])  # and one segment that saturates
    for stats in (None, own):
        for s in raw:
            want = quantize_features(ref.normalize(s, stats))
            assert np.array_equal(engine.quantize(s, stats), want)
    saturated = quantize_features(ref.normalize(raw[-1]))
    assert (saturated == -128).any() and (saturated == 127).any()


def test_exported_sources_build_alone_without_libm(emodb_segments, packed, tmp_path, capsys):
    """`bcrnn export-c` writes sources that build with -std=c99 -pedantic -Werror, need nothing but memcpy/memset,
    and classify like the reference in a program of their own."""
    from bcrnn.cli import main

    path = packed("small")
    out = tmp_path / "c"
    assert main(["export-c", str(path), "--out", str(out)]) == 0
    assert "bcrnn_model.c" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["bcrnn.c", "bcrnn.h", "bcrnn_model.c", "bcrnn_model.h"]
    strict = ["gcc", "-std=c99", "-O2", "-pedantic", "-Wall", "-Wextra", "-Werror", "-I", str(out)]
    ref = ReferenceBCRNN.load(path)
    codes = quantize_features(emodb_segments[2])
    for kernel_flags in (["-DBCRNN_PORTABLE"], ["-march=native"]):
        obj = tmp_path / "bcrnn.o"
        subprocess.run([*strict, *kernel_flags, "-c", str(out / "bcrnn.c"), "-o", str(obj)], check=True)
        undefined = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True).stdout.split()
        external = {name for name in undefined if name != "U" and not name.startswith("bcrnn_")}  # not the model
        assert external <= {"memcpy", "memset"}, external
        exe = tmp_path / "classify"
        subprocess.run([*strict, *kernel_flags, "-o", str(exe), str(out / "bcrnn.c"), str(out / "bcrnn_model.c"),
                        str(Path(__file__).parent / "c_engine_main.c")], check=True)
        r = subprocess.run([str(exe)], input=codes.astype(np.int8).tobytes(), capture_output=True, check=True)
        lines = r.stdout.decode().splitlines()
        assert len(lines) == len(codes)
        for line, c in zip(lines, codes):
            label, *logits = map(int, line.split())
            want = ref.forward(c)
            assert logits == want.tolist() and label == int(np.argmax(want))


def test_bad_model_paths_are_clear_errors(packed, tmp_path, capsys, cache):
    from bcrnn.cli import main

    with pytest.raises(FileNotFoundError, match="no packed model at"):
        CEngine(tmp_path / "missing.packed.npz", cache_dir=cache)
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("not a model")
    with pytest.raises(ValueError, match="garbage.npz is not a packed model"):
        CEngine(garbage, cache_dir=cache)
    for bad in (tmp_path / "missing.packed.npz", garbage):
        assert main(["export-c", str(bad), "--out", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: cannot load the model:") and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()
    path = packed("two-conv-int8")
    with pytest.raises(ValueError, match="unknown kernel 'sse9'"):
        CEngine(path, kernel="sse9", cache_dir=cache)
    engine = CEngine(path, cache_dir=cache)
    with pytest.raises(ValueError, match="codes of shape"):
        engine.forward(np.zeros((3, 299, 40), np.int8))
    with pytest.raises(ValueError, match="int8 range"):
        engine.forward(np.full((3, 300, 40), 128))


def test_predict_with_the_c_engine_prints_what_the_reference_prints(packed, emodb_dir, cache, capsys, monkeypatch):
    from bcrnn.cli import main

    monkeypatch.setenv("BCRNN_C_CACHE", str(cache))
    path = packed("small")
    wavs = sorted((emodb_dir / "wav").glob("03*.wav") if (emodb_dir / "wav").is_dir() else emodb_dir.glob("03*.wav"))
    files = [str(w) for w in wavs[:3]]
    assert main(["predict", *files, "--model", str(path)]) == 0
    reference = capsys.readouterr().out
    assert main(["predict", *files, "--model", str(path), "--engine", "c"]) == 0
    assert capsys.readouterr().out == reference and len(reference.splitlines()) == 3
    assert any(cache.rglob("libbcrnn.so"))
