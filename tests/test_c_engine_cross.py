"""The C engine cross-built for Arm (bcrnn.c_engine.cross, src/bcrnn_run.c) and run under QEMU against the integer
reference, value by value at every layer boundary of real Emo-DB segments: AArch64 Linux with the NEON kernels
(qemu-aarch64) and bare-metal Cortex-M4 / M7 on QEMU's MPS2 boards (semihosting); the Cortex-M memory report and
the painted-stack measure it rests on. The cross tools are Debian packages that `make test` installs
(tools/system-packages.sh); a missing one fails with its package's name."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import trained_like

from bcrnn.c_engine import cross
from bcrnn.c_engine.export import generate
from bcrnn.reference.model import ReferenceBCRNN, quantize_features
from bcrnn.reference.packed_file import save_packed

MODELS = {  # name -> (trained_like overrides, preset, seed), as tests/test_c_engine.py
    "small": ({}, "small", 5),
    # a binary convolution after the first (the bconv path), 8 maps (padded to 16 in the SIMD first conv), two words
    # of h in the LSTM, integer weight codes in the first conv and the head
    "two-conv-int8": ({"conv": ((8, 5, 3, 2, 4), (8, 3, 3, 1, 1)), "lstm_hidden": 80, "first_conv_weight_bits": 8,
                       "head_weight_bits": 8}, "tiny", 2),
}
CASES = [("aarch64", "neon"), ("aarch64", "neon-dotprod"), ("cortex-m4", "portable"), ("cortex-m7", "portable")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cross_cache")


@pytest.fixture(scope="module")
def packed(emodb_segments, tmp_path_factory):
    """name -> the packed model file of MODELS[name], made once per module."""
    from bcrnn.packing import pack_model

    folder, paths = tmp_path_factory.mktemp("models"), {}
    fs, norm, x = emodb_segments

    def get(name: str) -> Path:
        if name not in paths:
            overrides, preset, seed = MODELS[name]
            paths[name] = folder / f"{name}.packed.npz"
            save_packed(paths[name], pack_model(trained_like(overrides, x, seed=seed, preset=preset), norm.to_dict(),
                                                fs.classes, fs.config.__dict__))
        return paths[name]

    return get


@pytest.fixture(scope="module")
def codes(emodb_segments) -> np.ndarray:
    """Two real segments of speaker 03 (the first and the last) as int8 codes."""
    x = emodb_segments[2]
    return quantize_features(x[[0, len(x) - 1]])


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("target,kernel", CASES, ids=[f"{t}-{k}" for t, k in CASES])
def test_every_layer_boundary_equals_the_reference(target, kernel, model, packed, codes, cache):
    path = packed(model)
    ref = ReferenceBCRNN.load(path)
    result = cross.check_target(path, codes, target, kernel, trace=True, cache_dir=cache)
    assert result["kernel"] == kernel
    for b in result["builds"].values():
        assert "warning" not in b.log, b.log
    # what must have been compared: every boundary of every segment, the trace build's label, the plain logits
    # and label
    want = sum(sum(np.size(v) for v in ref.forward(c, trace=True)[1].values()) + 1 + len(ref.classes) + 1
               for c in codes)
    assert result["compared"] == want
    assert result["equal"] == want, result["first_difference"]
    traced = result["runs"]["trace"]
    assert list(traced.streams[0])[:2] == ["input", "conv0"] and "logits" in traced.streams[0]
    assert np.array_equal(traced.streams[1]["input"], codes[1])  # the codes reached the target unchanged
    print(cross.report(result))


def test_a_difference_is_reported(packed, codes, cache):
    """The comparison is not vacuous: the small model's outputs against another model's reference differ, and the
    report says where first."""
    runs = cross.check_target(packed("small"), codes, "aarch64", "neon", cache_dir=cache)["runs"]
    other = ReferenceBCRNN.load(packed("two-conv-int8"))
    small = ReferenceBCRNN.load(packed("small"))
    equal, total, first = cross.compare(small, codes, runs["trace"], runs["plain"])
    assert equal == total and first is None
    with pytest.raises(cross.CEngineError, match="boundaries"):  # another architecture: other boundary names
        cross.compare(other, codes, runs["trace"], runs["plain"])
    runs["plain"].logits[1] = runs["plain"].logits[1] + np.eye(len(small.classes), dtype=np.int64)[3]
    equal, total, first = cross.compare(small, codes, runs["trace"], runs["plain"])
    assert total - equal == 1 and first.startswith("segment 1, logits: 1 values differ, first at flat index 3")
    report = cross.report({"target": "aarch64", "kernel": "neon", "segments": 2, "equal": equal, "compared": total,
                           "first_difference": first, "seconds": {}})
    assert f"{equal:,} of {total:,} values equal" in report and "first difference: segment 1, logits" in report


def test_cortex_m_memory_report_is_sane(packed, codes, cache):
    """Flash and RAM of the plain Cortex-M4 build add up from its sections, hold the model's constant arrays and
    the engine's buffers, and the small preset fits a 1 MB / 320 KB part."""
    path = packed("small")
    model = generate(path)
    result = cross.check_target(path, codes, "cortex-m4", trace=False, cache_dir=cache)
    m = result["memory"]
    sections = cross.section_sizes(result["builds"]["plain"].elf)
    assert m["flash"] == sections[".text"] + sections[".rodata"] + sections.get(".ARM.exidx", 0) + sections[".data"]
    assert m["ram"] == sections[".data"] + sections[".bss"] + m["ram_parts"]["heap"] + m["ram_parts"]["stack_peak"]
    # the engine's flash holds at least the packed weights the portable kernel reads (sizes from the generated C)
    sizes = {name: int(n) for name, n in re.findall(r"const \w+ (bcrnn_\w+)\[(\d+)\]", model.source)}
    header = dict(re.findall(r"#define (BCRNN_\w+)\s+(-?\d+)\n", model.header))
    weights = 8 * (sizes["bcrnn_dense_w"] + sizes["bcrnn_lstm_w"]) + 2 * sizes["bcrnn_conv0_wk"]
    assert weights < m["engine_flash"] < m["flash"]
    # its static buffers: at least the padded codes and the first conv's bit stream
    buffers = int(header["BCRNN_C0_TP"]) * int(header["BCRNN_C0_FP"]) * int(header["BCRNN_IN_CH"]) + 8 * int(
        header["BCRNN_BITS_WORDS"])
    assert buffers < m["engine_ram"] < sections[".bss"]
    assert sections[".bss"] >= m["engine_ram"] + result["segment_bytes"]  # + the driver's input segment
    assert 64 < m["ram_parts"]["stack_peak"] < m["stack_size"]
    assert 0 < m["ram_parts"]["heap"] < 16 * 1024
    assert m["fits"] and m["flash"] < cross.PART_FLASH and m["ram"] < cross.PART_RAM
    report = cross.report(result)
    assert "fits (flash" in report and f"RAM {m['ram']:,} B" in report


def test_painted_stack_sees_a_known_frame(tmp_path):
    """The high-water mark of the startup's painted stack covers a 12 KB local array that main touches, within a
    few hundred bytes; main's status comes back as QEMU's exit status."""
    target = cross.TARGETS["cortex-m7"]
    cross.check_tools(target)
    main = tmp_path / "main.c"
    main.write_text("#include <string.h>\n"
                    "int main(int argc, char **argv) {\n"
                    "    volatile char frame[12288];\n"
                    "    for (int i = 0; i < (int)sizeof frame; i++) frame[i] = (char)i;\n"
                    "    return argc == 2 && strcmp(argv[1], \"x\") == 0 ? 3 + frame[1] : 1;\n"
                    "}\n")
    elf = tmp_path / "probe.elf"
    subprocess.run([target.cc, *cross.WARN, *target.flags, "-o", str(elf), str(main), str(cross.MPS2 / "startup.c"),
                    "--specs=nano.specs", "-nostartfiles", "-T", str(cross.MPS2 / "mps2.ld"), "-Wl,--gc-sections",
                    "-lc_nano", "-lrdimon_nano", "-lgcc"], check=True)
    r = subprocess.run(["qemu-system-arm", "-M", target.machine, "-nographic", "-monitor", "none", "-serial", "none",
                        "-semihosting-config", "enable=on,target=native,arg=probe,arg=x", "-kernel", str(elf)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 4, r.stdout + r.stderr
    peak, size, heap = map(int, cross.MEMORY_LINE.search(r.stderr).groups())
    assert 12288 <= peak < 12288 + 512 and size == 65536 and heap < 1024  # newlib's stdio handles


def test_driver_output_is_checked():
    """A truncated or foreign output is an error, not fewer values compared."""
    good = ("bcrnn_run kernel neon model abc codes 4 classes 2 trace 1\n"
            "T 0 logits 1 2 : 5 -7\nS 0 0 5 -7\nend 1\n")
    out = cross.parse_output(good)
    assert out.labels == [0] and out.logits[0].tolist() == [5, -7] and out.streams[0]["logits"].shape == (2,)
    for bad in (good.replace("end 1\n", ""), good.replace("end 1", "end 2"), "Segmentation fault\n",
                good.replace("T 0 logits 1 2", "T 1 logits 1 2"), good.replace("S 0 0", "S 3 0")):
        with pytest.raises(cross.CEngineError):
            cross.parse_output(bad)


def test_a_missing_tool_names_its_debian_package(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no compiler, no emulator
    for target, package in (("aarch64", "gcc-aarch64-linux-gnu"), ("cortex-m4", "gcc-arm-none-eabi")):
        with pytest.raises(cross.ToolMissing, match=f"install the Debian package {package} "):
            cross.check_tools(cross.TARGETS[target])
    assert cross.main([str(tmp_path / "no-run")]) == 2
    assert capsys.readouterr().err.startswith("error: not a run folder")


def test_an_aarch64_host_builds_the_neon_kernels(monkeypatch):
    """CEngine on an AArch64 host (its /proc/cpuinfo "Features") offers the NEON kernels the cross tests check."""
    from bcrnn.c_engine import wrapper

    monkeypatch.setattr(wrapper.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(wrapper, "cpu_flags", lambda: {"fp", "asimd", "asimddp"})
    assert wrapper.available_kernels() == ["portable", "neon", "neon-dotprod"]
    monkeypatch.setattr(wrapper, "cpu_flags", lambda: {"fp", "asimd"})
    assert wrapper.available_kernels() == ["portable", "neon"]
    assert cross.TARGETS["aarch64"].kernels["neon-dotprod"] == wrapper.KERNELS["neon-dotprod"][0]
