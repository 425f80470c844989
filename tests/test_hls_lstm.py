"""The HLS binary BiLSTM kernel (hw/hls/binary_lstm.hpp) in C simulation (g++ + hls4ml's ap_types) equals the
integer reference bcrnn.reference.lstm bit for bit: on the LSTM inputs of real Emo-DB segments, at several
foldings, at the small preset's sizes, and with the cell state driven into both saturations.

These tests need g++ and `pip install --no-deps hls4ml==1.3.0`; without them they fail (never skip)."""

import subprocess

import numpy as np
import pytest

from bcrnn import hls_lstm
from bcrnn.fixed_point import LSTMFormat
from bcrnn.packing import pack_model
from bcrnn.reference.lstm import LSTMDirection, run_bilstm, run_direction
from conftest import lstm_case, trained_like

pytestmark = pytest.mark.hls


@pytest.fixture(scope="module")
def tiny_case(emodb_segments):
    fs, norm, x = emodb_segments
    packed = pack_model(trained_like({}, x, seed=3), norm.to_dict(), fs.classes, fs.config.__dict__)
    return lstm_case(packed, x, range(len(x)))


# (PE, SIMD) for the tiny preset's D = 16, H = 8 (4H = 32 rows, D + H = 24 bits): a unit's four gate rows
# straddling two folds with an odd SIMD, and everything in parallel (one cycle per step)
@pytest.mark.parametrize("pe,simd", [(2, 3), (32, 24)])
def test_csim_equals_reference_on_emodb_lstm_inputs(tiny_case, tmp_path, pe, simd):
    fwd, bwd, fmt, dense, lstm = tiny_case
    t, d = dense.shape[1:]
    h = lstm.shape[2] // 2
    assert (t, d, h) == (150, 16, 8)
    extremes = np.stack([np.ones((t, d), np.uint8), np.zeros((t, d), np.uint8)])  # all-ones, all-zeros inputs
    x = np.concatenate([dense, extremes])
    out = hls_lstm.run_csim(fwd, bwd, fmt, x, pe, simd, tmp_path)
    expected = run_bilstm(fwd, bwd, fmt, x)
    assert np.array_equal(expected[: len(dense)], lstm)  # the reference's own LSTM stream
    assert out.shape == expected.shape == (len(dense) + 2, 150, 16) and out.dtype == np.uint8
    mismatches = np.argwhere(out != expected)
    assert len(mismatches) == 0, f"{len(mismatches)} bits differ, first (sequence, t, bit): {mismatches[:5].tolist()}"
    compared = out.size
    assert compared == (9 + 2) * 150 * 16 == 26_400  # 9 Emo-DB segments of speaker 03 and the two extremes
    assert 0.05 < out[:, :, :h].mean() < 0.95 and 0.05 < out[:, :, h:].mean() < 0.95  # both directions move
    print(f"PE={pe} SIMD={simd}: {compared} bits equal")
    # the same sources and parameters reuse the compiled test bench
    binary = hls_lstm.build_testbench(tmp_path / "params.h", tmp_path)
    mtime = binary.stat().st_mtime_ns
    assert hls_lstm.build_testbench(tmp_path / "params.h", tmp_path) == binary
    assert binary.stat().st_mtime_ns == mtime and len(list(tmp_path.glob("binary_lstm_tb-*"))) == 1


def _saturating_direction(rng, d, h, reverse, fmt):
    """Units 0-2: input and forget gates held open (i = f = 255), g = +-127 following the input's sign, so that
    c climbs into +32767 while the input is all ones and falls into -32768 while it is all zeros; unit 2's
    output gate is shut (o = 0: h = 1 whatever the sign of c). Units 3..: random rows with multipliers up to 2^40
    and offsets up to 2^33 (wide accumulators, 64-bit literals in params.h)."""
    big = 1 << 20
    w = rng.integers(0, 2, (4 * h, d + h)).astype(np.uint8)
    m = rng.integers(-(1 << 12), 1 << 12, 4 * h).astype(np.int64)
    b = rng.integers(-(1 << 14), 1 << 14, 4 * h).astype(np.int64)
    m[3 * h + 5], b[h + 6] = 1 << 40, -(1 << 33)
    for j in range(3):
        i_row, f_row, g_row, o_row = j, h + j, 2 * h + j, 3 * h + j
        m[[i_row, f_row]], b[[i_row, f_row]] = 0, big
        w[g_row, :d], m[g_row], b[g_row] = 1, 4096, 0  # |x part| = D > H: the sign of dot follows the input
        m[o_row], b[o_row] = 0, (-big if j == 2 else 0)
    return LSTMDirection(w, m, b, reverse, fmt)


def test_csim_equals_reference_with_saturated_cell_state(tmp_path):
    fmt = LSTMFormat()
    d, h, t = 16, 8, 150
    rng = np.random.default_rng(7)
    fwd, bwd = (_saturating_direction(rng, d, h, reverse, fmt) for reverse in (False, True))
    half = np.concatenate([np.ones((t // 2, d)), np.zeros((t - t // 2, d))]).astype(np.uint8)
    x = np.stack([half, half[::-1], rng.integers(0, 2, (t, d)).astype(np.uint8)])
    # the reference really saturates, both ways, in both directions, and takes the o = 0 branch
    for p in (fwd, bwd):
        steps = [s for seq in x for s in run_direction(p, seq, trace=True)[1]]
        cells = np.stack([s["c"] for s in steps])
        assert (cells == 32767).sum() > 50 and (cells == -32768).sum() > 50
        assert any(np.any((s["o"] == 0) & (s["c"] < 0)) for s in steps)
    out = hls_lstm.run_csim(fwd, bwd, fmt, x, pe=1, simd=1, build_dir=tmp_path)
    expected = run_bilstm((fwd.weight_bits, fwd.mult, fwd.offset), (bwd.weight_bits, bwd.mult, bwd.offset), fmt, x)
    assert out.size == 3 * 150 * 16
    assert np.array_equal(out, expected), np.argwhere(out != expected)[:5].tolist()
    assert out[0, 70, 0] == 1 and out[0, 149, 0] == 0 and out[0, 149, 2] == 1  # saturated +, saturated -, o = 0
    params = (tmp_path / "params.h").read_text()
    assert "#define LSTM_MULT_BITS 42" in params and "-8589934592LL" in params


def test_csim_equals_reference_at_small_preset_sizes(emodb_segments, tmp_path):
    fs, norm, x = emodb_segments
    packed = pack_model(trained_like({}, x, seed=1, preset="small"), norm.to_dict(), fs.classes,
                        fs.config.__dict__)
    fwd, bwd, fmt, dense, lstm = lstm_case(packed, x, [0, 5])
    assert dense.shape == (2, 150, 256) and lstm.shape == (2, 150, 128)  # D = 256, H = 64, T = 150
    out = hls_lstm.run_csim(fwd, bwd, fmt, dense, pe=16, simd=160, build_dir=tmp_path)  # ap_uint<160> words
    assert out.size == 2 * 150 * 128 == 38_400
    assert np.array_equal(out, lstm), np.argwhere(out != lstm)[:5].tolist()
    assert np.array_equal(lstm, run_bilstm(fwd, bwd, fmt, dense))


def test_weight_words_wider_than_64_bits_round_trip(tmp_path):
    """Words of more than 64 bits are string literals; their hex digits must not read as a radix prefix
    ("0b...", "0d..." are binary / decimal to the ap_int parser unless the string starts with 0x)."""
    rng = np.random.default_rng(0)
    simd = 100
    bits = rng.integers(0, 2, (8, simd)).astype(np.uint8)
    for k, lead in enumerate(("0b", "0d", "00", "b0")):  # the top 8 bits (99 .. 92) as these two hex digits
        top = int(lead, 16)
        bits[k, 92:100] = [(top >> i) & 1 for i in range(8)]
    literals = hls_lstm._word_literals(bits, "W")
    src = tmp_path / "words.cpp"
    src.write_text('#include "ap_int.h"\n#include <iostream>\n#define W 100\n'
                   f"static const ap_uint<W> words[{len(bits)}] = {{{', '.join(literals)}}};\n"
                   "int main() { for (auto &w : words) { for (int k = 0; k < W; k++) std::cout << int(w[k]);"
                   " std::cout << '\\n'; } }\n")
    exe = tmp_path / "words"
    subprocess.run(["g++", "-std=c++14", "-O0", "-isystem", str(hls_lstm.ap_types_dir()), str(src), "-o",
                    str(exe)], check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert np.array_equal(np.array([[int(c) for c in line] for line in lines]), bits)


def test_bad_folding_raises_and_the_template_refuses_it(tmp_path):
    d, h = 16, 8
    rng = np.random.default_rng(0)
    fwd = bwd = (rng.integers(0, 2, (4 * h, d + h)), np.ones(4 * h), np.zeros(4 * h))
    fmt = LSTMFormat()
    with pytest.raises(ValueError, match="PE=3 must divide 4\\*H=32"):
        hls_lstm.check_folding(d, h, 3, 8)
    with pytest.raises(ValueError, match="SIMD=5 must divide D\\+H=24"):
        hls_lstm.lstm_cycles(d, h, 150, 4, 5)
    with pytest.raises(ValueError, match="PE"):
        hls_lstm.params_header(fwd, bwd, fmt, 150, 64, 8)
    with pytest.raises(ValueError, match="SIMD"):
        hls_lstm.run_csim(fwd, bwd, fmt, np.zeros((150, d), np.uint8), 4, 7, tmp_path)
    with pytest.raises(ValueError, match="expected \\(4H, D\\+H\\)"):
        hls_lstm.write_params_header(fwd, bwd, fmt, d + 1, h, 150, 4, 8, tmp_path / "p.h")
    assert not list(tmp_path.glob("binary_lstm_tb-*"))
    # the C++ template says the same at compile time
    src = tmp_path / "bad.cpp"
    src.write_text('#include "binary_lstm.hpp"\n'
                   "static const ap_uint<5> w[3][1] = {};\nstatic const ap_int<4> m[3][1] = {};\n"
                   "static const ap_uint<8> s[256] = {};\nstatic const ap_int<8> t[256] = {};\n"
                   "void f(hls::stream<ap_uint<16> > &i, hls::stream<ap_uint<16> > &o) {\n"
                   "    bcrnn::BinaryBiLSTM<16, 8, 10, 5, 3, 4, 4>(i, o, w, m, m, w, m, m, s, t);\n}\n")
    proc = subprocess.run(["g++", "-std=c++14", "-fsyntax-only", "-isystem", str(hls_lstm.ap_types_dir()), "-I",
                           str(hls_lstm.HLS_DIR), str(src)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "PE must divide 4*H" in proc.stderr and "SIMD must divide D+H" in proc.stderr


def test_synthesis_top_and_kernel_call_compile(tiny_case, tmp_path):
    fwd, bwd, fmt, dense, _ = tiny_case
    defines = hls_lstm.write_params_header(fwd, bwd, fmt, 16, 8, 150, 4, 8, tmp_path / "params.h")
    assert defines["LSTM_TILES"] == (32 // 4) * (24 // 8) and defines["LSTM_Q"] == 8
    src = tmp_path / "top_check.cpp"
    src.write_text(f'#include "{hls_lstm.HLS_DIR / "binary_lstm_top.cpp"}"\n'
                   "void via_kernel_call(hls::stream<ap_uint<LSTM_D> > &a, hls::stream<ap_uint<2 * LSTM_H> > &b) {\n"
                   f"    {hls_lstm.kernel_call('a', 'b')}\n}}\n")
    proc = subprocess.run(["g++", "-std=c++14", "-fsyntax-only", "-Wall", "-Wno-unknown-pragmas",
                           "-Wno-unused-label", "-isystem", str(hls_lstm.ap_types_dir()), "-I", str(tmp_path), "-I",
                           str(hls_lstm.HLS_DIR), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr[-3000:]


def test_cycle_count_follows_the_loops():
    # read T + per direction T steps of (4H/PE) ((D+H)/SIMD) fold cycles + the pipeline depth + write T
    assert hls_lstm.lstm_cycles(256, 64, 150, 16, 64) == 150 + 2 * 150 * (16 * 5 + hls_lstm.STEP_LATENCY) + 150
    assert hls_lstm.lstm_cycles(256, 64, 150, 256, 320, step_latency=0) == 150 + 2 * 150 * 1 + 150
    assert hls_lstm.lstm_cycles(16, 8, 150, 1, 1) > hls_lstm.lstm_cycles(16, 8, 150, 2, 3)
    # in a stream the read and write stages overlap the compute (DATAFLOW): a sequence every compute stage
    assert hls_lstm.lstm_interval(256, 64, 150, 16, 64) == 2 * 150 * (16 * 5 + hls_lstm.STEP_LATENCY)
    assert hls_lstm.lstm_cycles(256, 64, 150, 16, 64) - hls_lstm.lstm_interval(256, 64, 150, 16, 64) == 2 * 150


def test_missing_ap_types_fails_loudly(monkeypatch, tmp_path):
    monkeypatch.setattr(hls_lstm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(hls_lstm.HLSToolchainError, match="pip install --no-deps hls4ml==1.3.0"):
        hls_lstm.ap_types_dir()
