"""The C engine from Python (ctypes): the sources generated from a packed model, built with gcc into a shared
library cached by model hash and compiler flags, loaded, and called one segment at a time. numpy only."""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from bcrnn.c_engine.export import CModel, engine_sources, generate, write_sources

COMMON_FLAGS = ("-std=c99", "-O3", "-fPIC", "-shared", "-ffp-contract=off", "-Wall", "-Wextra", "-pedantic")
# the kernel variants: compiler flags, and the CPU flags (/proc/cpuinfo) they need
KERNELS = {
    "portable": (("-DBCRNN_PORTABLE",), ()),
    "avx2": (("-mavx2", "-mpopcnt"), ("avx2", "popcnt")),
    "avx512": (("-mavx2", "-mpopcnt", "-mavx512f", "-mavx512bw", "-mavx512vpopcntdq", "-mno-avx512vnni"),
               ("avx2", "popcnt", "avx512f", "avx512bw", "avx512_vpopcntdq")),
    "avx512-vnni": (("-mavx2", "-mpopcnt", "-mavx512f", "-mavx512bw", "-mavx512vpopcntdq", "-mavx512vnni"),
                    ("avx2", "popcnt", "avx512f", "avx512bw", "avx512_vpopcntdq", "avx512_vnni")),
    # an AArch64 host (its /proc/cpuinfo "Features"); cross builds for Arm: bcrnn.c_engine.cross
    "neon": ((), ("asimd",)),
    "neon-dotprod": (("-march=armv8.2-a+dotprod",), ("asimd", "asimddp")),
}
# the kernels of each host architecture, slowest first
ARCH_KERNELS = {"x86_64": ("portable", "avx2", "avx512", "avx512-vnni"),
                "aarch64": ("portable", "neon", "neon-dotprod")}
_CALL = threading.Lock()  # the engine's buffers are static: one segment at a time per process


class CEngineError(RuntimeError):
    """The C engine cannot be built or loaded here (no compiler, a kernel this CPU lacks, a failed build)."""


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo: "flags" on x86, "Features" on Arm; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def available_kernels() -> list[str]:
    """The kernel variants this machine can build and run, slowest first."""
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    if arch not in ARCH_KERNELS:
        return ["portable"]
    have = cpu_flags()
    return [name for name in ARCH_KERNELS[arch] if set(KERNELS[name][1]) <= have]


def default_cache_dir() -> Path:
    if os.environ.get("BCRNN_C_CACHE"):
        return Path(os.environ["BCRNN_C_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bcrnn" / "c_engine"


def _compiler_id(cc: str) -> str:
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout.split("\n")[0]
    except (OSError, subprocess.SubprocessError) as err:
        raise CEngineError(f"no C compiler {cc!r}: {err}") from err


def build_library(model: CModel, kernel: str, trace: bool, cache_dir: Path, cc: str = "gcc") -> tuple[Path, str]:
    """The shared library of `model` with `kernel` (and -DBCRNN_TRACE), built once into
    cache_dir/<model sha256>/<kernel>-<hash of sources, flags, compiler>/; returns (library, compiler output)."""
    flags = [*COMMON_FLAGS, *KERNELS[kernel][0], *(["-DBCRNN_TRACE"] if trace else [])]
    engine = engine_sources()
    key = hashlib.sha256("\0".join([model.header, model.source, *engine.values(), *flags, cc, _compiler_id(cc)])
                         .encode()).hexdigest()
    folder = Path(cache_dir) / model.sha256[:16] / f"{kernel}{'-trace' if trace else ''}-{key[:16]}"
    lib = folder / "libbcrnn.so"
    if lib.is_file():
        return lib, (folder / "build.log").read_text() if (folder / "build.log").is_file() else ""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        write_sources(model, tmp)
        cmd = [cc, *flags, "-o", str(tmp / lib.name), str(tmp / "bcrnn.c"), str(tmp / "bcrnn_model.c")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        log = " ".join(cmd) + "\n" + r.stdout + r.stderr
        (tmp / "build.log").write_text(log)
        if r.returncode != 0:
            raise CEngineError(f"gcc failed building the C engine ({kernel}):\n{log}")
        try:
            tmp.rename(folder)  # atomic: a concurrent build of the same key leaves one complete folder
        except OSError:
            if not lib.is_file():
                raise
        return lib, log
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_TRACE_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.c_int32,
                             ctypes.POINTER(ctypes.c_int32), ctypes.c_void_p)
_QUIET = _TRACE_FN(lambda *args: None)  # a trace build's boundaries, unwanted (else printed to stderr)


class CEngine:
    """A packed model run by the generated C engine: `forward(codes)` as ReferenceBCRNN.forward (with `trace=True`
    for a library built with trace), `logits(normalized_segments)` and `predict_features(features)` as
    bcrnn.engine.PackedEngine.

    packed_path: a model.packed.npz, or a run / fold folder; kernel: one of KERNELS or "auto" (the fastest this CPU
    runs); trace: build with -DBCRNN_TRACE (every layer boundary); cache_dir: where built libraries are kept
    (default $BCRNN_C_CACHE or ~/.cache/bcrnn/c_engine)."""

    def __init__(self, packed_path, kernel: str = "auto", trace: bool = False, cache_dir=None, cc: str = "gcc"):
        from bcrnn.reference.model import ReferenceBCRNN
        from bcrnn.run_folder import packed_model

        path = packed_model(packed_path)  # FileNotFoundError: "no packed model at ..."
        model = generate(path)  # ValueError: "... is not a packed model", ModelNotSupported
        self.ref = ReferenceBCRNN.load(path)
        available = available_kernels()
        kernel = available[-1] if kernel == "auto" else kernel
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}: choose one of auto, {', '.join(KERNELS)}")
        if kernel not in available:
            raise CEngineError(f"this CPU cannot run the {kernel} kernel (it needs {', '.join(KERNELS[kernel][1])}); "
                               f"available: {', '.join(available)}")
        self.path, self.model, self.trace = path, model, trace
        self.library, self.build_log = build_library(model, kernel, trace, cache_dir or default_cache_dir(), cc)
        lib = ctypes.CDLL(str(self.library))
        lib.bcrnn_segment.argtypes = [ctypes.POINTER(ctypes.c_int8), ctypes.POINTER(ctypes.c_int32)]
        lib.bcrnn_segment.restype = ctypes.c_int
        lib.bcrnn_kernel.restype = ctypes.c_char_p
        lib.bcrnn_quantize.argtypes = [ctypes.POINTER(ctypes.c_float)] * 3 + [ctypes.POINTER(ctypes.c_int8)]
        lib.bcrnn_quantize.restype = None
        if trace:
            lib.bcrnn_set_trace.argtypes = [_TRACE_FN, ctypes.c_void_p]
            lib.bcrnn_set_trace.restype = None
        self.lib = lib
        self.kernel = lib.bcrnn_kernel().decode()
        if self.kernel != kernel:
            raise CEngineError(f"asked for the {kernel} kernel, the library has {self.kernel}")
        if (ctypes.c_char * 65).in_dll(lib, "bcrnn_model_sha256").value.decode() != model.sha256:
            raise CEngineError(f"{self.library} holds another model")

    @property
    def classes(self) -> list[str]:
        return list(self.model.classes)

    @property
    def meta(self) -> dict:
        """The packed model's metadata (as ReferenceBCRNN.meta)."""
        return self.ref.meta

    @property
    def normalization(self) -> str:
        return self.ref.normalization

    def _codes(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.shape != self.model.input_shape:
            raise ValueError(f"codes of shape {codes.shape}, the model takes {self.model.input_shape}")
        if codes.size and (codes.min() < -128 or codes.max() > 127):
            raise ValueError("feature codes beyond the int8 range [-128, 127]")
        return np.ascontiguousarray(codes, dtype=np.int8)

    def classify(self, codes: np.ndarray) -> tuple[int, np.ndarray]:
        """One segment's int8 codes -> (label, integer logits)."""
        buf = self._codes(codes)
        logits = np.zeros(len(self.model.classes), np.int32)
        with _CALL:
            if self.trace:
                self.lib.bcrnn_set_trace(_QUIET, None)
            label = self.lib.bcrnn_segment(buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
                                           logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)))
        return int(label), logits.astype(np.int64)

    def forward(self, codes: np.ndarray, trace: bool = False):
        """As ReferenceBCRNN.forward: integer logits (classes,) [, the stream at every layer boundary and the
        engine's "label"]."""
        if not trace:
            return self.classify(codes)[1]
        if not self.trace:
            raise CEngineError("this library was built without -DBCRNN_TRACE: CEngine(..., trace=True)")
        buf = self._codes(codes)
        logits = np.zeros(len(self.model.classes), np.int32)
        streams = {}

        def collect(name, values, count, ndim, shape, _user):
            dims = [shape[i] for i in range(ndim)]
            streams[name.decode()] = np.ctypeslib.as_array(values, shape=(count,)).astype(np.int64).reshape(dims)

        callback = _TRACE_FN(collect)
        with _CALL:
            self.lib.bcrnn_set_trace(callback, None)
            try:
                label = self.lib.bcrnn_segment(buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
                                               logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)))
            finally:
                self.lib.bcrnn_set_trace(_QUIET, None)
        streams["label"] = np.int64(label)
        return logits.astype(np.int64), streams

    def quantize(self, features: np.ndarray, stats=None) -> np.ndarray:
        """bcrnn_quantize: raw (3, frames, mels) segment features -> int8 codes, with the model's statistics or
        `stats` (.mean, .std) as ReferenceBCRNN.normalize takes them."""
        mean, std = (self.ref.params["norm_mean"], self.ref.params["norm_std"]) if stats is None else (stats.mean,
                                                                                                      stats.std)
        f = np.ascontiguousarray(features, np.float32)
        if f.shape != self.model.input_shape:
            raise ValueError(f"features of shape {f.shape}, the model takes {self.model.input_shape}")
        mean, std = (np.ascontiguousarray(np.broadcast_to(np.asarray(a, np.float32).reshape(f.shape[0], 1, -1),
                                                          (f.shape[0], 1, f.shape[2]))) for a in (mean, std))
        codes = np.zeros(f.shape, np.int8)
        ptr = ctypes.POINTER(ctypes.c_float)
        self.lib.bcrnn_quantize(f.ctypes.data_as(ptr), mean.ctypes.data_as(ptr), std.ctypes.data_as(ptr),
                                codes.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)))
        return codes

    def logits(self, normalized: np.ndarray) -> np.ndarray:
        """(S, 3, frames, mels) z-scored segments -> (S, classes) integer logits (scale 2^-16)."""
        from bcrnn.reference.model import quantize_features

        codes = quantize_features(normalized)
        return np.stack([self.forward(c) for c in codes]) if len(codes) else np.zeros((0, len(self.classes)),
                                                                                       np.int64)

    def predict_features(self, features: np.ndarray, stats=None) -> np.ndarray:
        """Class probabilities of one utterance (raw (3, frames, mels) features), as ReferenceBCRNN computes them."""
        from bcrnn.features import FeatureConfig, segment

        segs = segment(features, FeatureConfig(**self.ref.meta["feature_config"]))
        normalized = self.ref.normalize(segs, self.ref.utterance_stats(features, stats))
        return self.ref.probabilities(self.logits(normalized)).mean(axis=0)
