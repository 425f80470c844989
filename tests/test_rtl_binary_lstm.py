"""The RTL binary BiLSTM (hw/rtl/binary_lstm.sv) on Icarus and Verilator equals bcrnn.reference.lstm.run_bilstm bit for
bit (sim/bench_binary_lstm.py): random and extreme inputs with cell states saturated both ways and shut output gates,
random stalls on both streams, resets in the middle of a sequence, the LSTM inputs of real Emo-DB segments through
a tiny and a small-preset BCRNN, at foldings that cover both cell-lane layouts (PE = 1, 2 and multiples of 4), a step
shorter than the pipeline, and slices that straddle x_t and h_t-1; the cycle counts equal bcrnn.rtl.lstm_files."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from bcrnn.fixed_point import LSTMFormat
from bcrnn.hls_lstm import HLSToolchainError, vitis_rtl, write_params_from_packed
from bcrnn.packing import pack_model
from bcrnn.reference.lstm import LSTMDirection, run_bilstm, run_direction
from bcrnn.rtl.lstm_files import (check_folding_rtl, lstm_cycles_rtl, lstm_latency_rtl, sv_parameters,
                                  write_lstm_files, write_lstm_files_from_packed)
from conftest import lstm_case, trained_like
from sim.stream_bench import VITIS_PORTS
from sim.runner import HW_RTL, ROOT, SIMULATORS, run_bench

pytestmark = pytest.mark.sim

SOURCES = [HW_RTL / "binary_lstm.sv"]


def _simulate(sim, fwd, bwd, fmt, x, pe, simd, tag, testcase=None, stall=0.3):
    """Write the ROMs, run the bench (build reused per simulator and parameter set under build/sim) and return
    its report plus the expected cycle counts."""
    t = x.shape[1]
    expected = run_bilstm(fwd, bwd, fmt, x)
    h = expected.shape[2] // 2
    key = hashlib.sha256(json.dumps([tag, x.shape[2], h, t, pe, simd]).encode()).hexdigest()[:8]
    build_dir = ROOT / "build" / "sim" / f"binary_lstm_{tag}_{key}"
    params = write_lstm_files(fwd, bwd, fmt, pe, simd, build_dir / f"{sim}_rom", t=t)
    compute = lstm_cycles_rtl(x.shape[2], h, t, pe, simd)
    out = run_bench(sim, "binary_lstm", SOURCES, "sim.bench_binary_lstm", sv_parameters(params), build_dir,
                    {"x": x, "expected": expected, "stall": stall, "compute_cycles": compute}, testcase=testcase)
    return out, compute, lstm_latency_rtl(x.shape[2], h, t, pe, simd), expected


def _random_direction(rng, d, h, reverse, fmt, saturating=True):
    """Random rows with multipliers up to 2^12 and offsets up to 2^14 (plus one M = 2^40 and one B = -2^33: wide
    accumulators); with `saturating`, units 0-2 hold i = f = 255 and g = +-127 following the input's sign, so c
    climbs into +32767 on all-ones input and falls into -32768 on all-zeros input, and unit 2's output gate is
    shut (o = 0: h = 1 whatever the sign of c)."""
    big = 1 << 20
    w = rng.integers(0, 2, (4 * h, d + h)).astype(np.uint8)
    m = rng.integers(-(1 << 12), 1 << 12, 4 * h).astype(np.int64)
    b = rng.integers(-(1 << 14), 1 << 14, 4 * h).astype(np.int64)
    m[3 * h + 5], b[h + 6] = 1 << 40, -(1 << 33)
    if saturating:
        for j in range(3):
            i_row, f_row, g_row, o_row = j, h + j, 2 * h + j, 3 * h + j
            m[[i_row, f_row]], b[[i_row, f_row]] = 0, big
            w[g_row, :d], m[g_row], b[g_row] = 1, 4096, 0  # |x part| = D > H: the sign of dot follows x
            m[o_row], b[o_row] = 0, (-big if j == 2 else 0)
    return LSTMDirection(w, m, b, reverse, fmt)


def _arrays(p: LSTMDirection):
    return p.weight_bits, p.mult, p.offset


@pytest.mark.parametrize("sim", SIMULATORS)
def test_saturation_extremes_stalls_and_resets(sim):
    """D = 16, H = 8, T = 150 (60 on Icarus, ten times slower) at PE = 8, SIMD = 8 (two cell lanes, 12-cycle steps,
    shorter than the pipeline): cells saturated at +32767 and -32768 in both directions, the o = 0 branch, all-ones
    and all-zeros inputs, random inputs; back to back (cycle counts), with random stalls on both streams, and after
    resets in the input, the compute and the output."""
    fmt, d, h, t = LSTMFormat(), 16, 8, 60 if sim == "icarus" else 150
    rng = np.random.default_rng(7)
    fwd, bwd = (_random_direction(rng, d, h, reverse, fmt) for reverse in (False, True))
    half = np.concatenate([np.ones((t // 2, d)), np.zeros((t - t // 2, d))]).astype(np.uint8)
    x = np.stack([half, half[::-1], np.ones((t, d), np.uint8), np.zeros((t, d), np.uint8),
                  *rng.integers(0, 2, (2, t, d)).astype(np.uint8)])
    for p in (fwd, bwd):  # the reference really saturates both ways and takes the o = 0 branch with c < 0
        steps = [s for seq in x for s in run_direction(p, seq, trace=True)[1]]
        cells = np.stack([s["c"] for s in steps])
        assert (cells == 32767).sum() > 50 and (cells == -32768).sum() > 50
        assert any(np.any((s["o"] == 0) & (s["c"] < 0)) for s in steps)
    out, compute, latency, expected = _simulate(sim, _arrays(fwd), _arrays(bwd), fmt, x, 8, 8, "sat")
    assert expected[0, t // 2 - 5, 0] == 1 and expected[0, t - 1, 0] == 0 and expected[0, t - 1, 2] == 1  # +-sat, o = 0
    assert out["tests_passed"] == 3
    assert out["compared_bits_back_to_back"] == out["compared_bits_stalls"] == 6 * t * 16
    assert out["compared_bits_reset"] == t // 3 * 16 + 6 * t * 16
    assert compute == (t - 1) * (12 + 19) + 2 * 12 + 20  # steps wait 7 cycles for the pipeline
    assert latency == t * 2 + compute + t + 7  # an input beat takes WF = 16 / 8 = 2 cycles
    assert out["latency"] == latency and out["intervals"] == [compute] * 5


@pytest.mark.parametrize("sim", SIMULATORS)
def test_emodb_lstm_inputs_tiny_model(sim, emodb_segments):
    """The LSTM inputs of 4 real Emo-DB segments through a tiny BCRNN (D = 16, H = 8, T = 150) at PE = 2, SIMD = 12
    (a unit's gates span two row groups; the second slice holds x_t bits 12-15 and h_t-1), with random stalls."""
    fs, norm, xs = emodb_segments
    packed = pack_model(trained_like({}, xs, seed=3), norm.to_dict(), fs.classes, fs.config.__dict__)
    fwd, bwd, fmt, dense, lstm = lstm_case(packed, xs, range(4))
    assert np.array_equal(run_bilstm(fwd, bwd, fmt, dense), lstm)  # the reference model's own LSTM stream
    out, *_ = _simulate(sim, fwd, bwd, fmt, dense, 2, 12, "emodb_tiny", testcase="test_random_stalls", stall=0.5)
    assert out["compared_bits_stalls"] == 4 * 150 * 16
    assert 0.05 < lstm.mean() < 0.95


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("pe,simd,t", [(1, 3, 6), (32, 24, 30)])
def test_foldings(sim, pe, simd, t):
    """PE = 1 with 3-bit slices (one gate row per cycle, the slice at bits 15-17 holds x_t[15] and h_t-1[0:2]), and
    PE = 32, SIMD = 24 (the whole step in one cycle: 8 cell lanes of one slot, steps wait for the pipeline);
    random weights and inputs, back to back, cycle counts."""
    fmt, d, h = LSTMFormat(), 16, 8
    rng = np.random.default_rng(pe)
    fwd, bwd = (_arrays(_random_direction(rng, d, h, reverse, fmt, saturating=False)) for reverse in (False, True))
    x = rng.integers(0, 2, (3, t, d)).astype(np.uint8)
    out, compute, latency, _ = _simulate(sim, fwd, bwd, fmt, x, pe, simd, f"fold{pe}", testcase="test_back_to_back")
    assert out["compared_bits_back_to_back"] == 3 * t * 16
    assert out["latency"] == latency and out["intervals"] == [compute] * 2


def test_emodb_lstm_inputs_small_preset(emodb_segments):
    """The real size on Verilator: D = 256, H = 64, T = 150 of a small-preset BCRNN at PE = 16, SIMD = 64, on the
    LSTM inputs of 2 Emo-DB segments back to back; 24,020 cycles per sequence."""
    fs, norm, xs = emodb_segments
    packed = pack_model(trained_like({}, xs, seed=1, preset="small"), norm.to_dict(), fs.classes, fs.config.__dict__)
    fwd, bwd, fmt, dense, lstm = lstm_case(packed, xs, [0, 5])
    assert dense.shape == (2, 150, 256) and lstm.shape == (2, 150, 128)
    out, compute, latency, expected = _simulate("verilator", fwd, bwd, fmt, dense, 16, 64, "small",
                                                testcase="test_back_to_back")
    assert np.array_equal(expected, lstm)
    assert out["compared_bits_back_to_back"] == 2 * 150 * 128 == 38_400
    assert compute == 24_020 and latency == 24_777
    assert out["latency"] == latency and out["intervals"] == [compute]


def test_param_files_and_cycle_formula(tmp_path, emodb_segments):
    """The ROM files hold the HLS kernel's folding; the packed-model entry point takes T and the format from it;
    bad foldings fail in Python; the cycle formula at the brief's folding and at the recommended one."""
    fs, norm, xs = emodb_segments
    packed = pack_model(trained_like({}, xs, seed=3), norm.to_dict(), fs.classes, fs.config.__dict__)
    params = write_lstm_files_from_packed(packed, 4, 8, tmp_path)
    assert {k: params[k] for k in ("D", "H", "T", "PE", "SIMD", "Q", "K", "G", "C", "F")} == dict(
        D=16, H=8, T=150, PE=4, SIMD=8, Q=8, K=8, G=8, C=16, F=10)
    w = packed["lstm_fwd_weight_bits"]
    lines = (tmp_path / "lstm_weights.memh").read_text().split()
    assert len(lines) == 2 * (32 // 4) * (24 // 8) and all(len(s) == 8 for s in lines)  # 2 TILES words of 32 bits
    word = int(lines[1], 16)  # forward, nf = 0, sf = 1: rows 0..3 = unit 0's i, f, g, o, inputs 8..15
    for p, ref_row in enumerate([0, 8, 16, 24]):
        assert [(word >> (p * 8 + k)) & 1 for k in range(8)] == w[ref_row, 8:16].tolist()
    m = packed["lstm_bwd_mult"]
    mline = (tmp_path / "lstm_mult.memh").read_text().split()[8 + 1]  # backward, nf = 1: unit 1
    mw = params["MW"]
    vals = [(int(mline, 16) >> (p * mw)) & ((1 << mw) - 1) for p in range(4)]
    vals = [v - (1 << mw) if v >> (mw - 1) else v for v in vals]
    assert vals == [m[1], m[9], m[17], m[25]]
    assert len((tmp_path / "lstm_tanh.memh").read_text().split()) == 256
    for pe, simd in ((3, 8), (12, 8), (4, 5)):
        with pytest.raises(ValueError, match="PE|SIMD"):
            check_folding_rtl(16, 8, pe, simd)
    assert lstm_cycles_rtl(256, 64, 150, 16, 64) == 2 * 150 * 80 + 20 == 24_020
    assert lstm_cycles_rtl(256, 64, 150, 8, 32) == 2 * 150 * 320 + 20  # 96,020: 2,083 sequences/s at 200 MHz
    assert lstm_cycles_rtl(16, 8, 150, 32, 24) == 149 * 20 + 2 + 20  # TILES = 1: steps wait for the pipeline
    assert lstm_cycles_rtl(768, 128, 150, 32, 64) == 2 * 150 * 224 + 20 == 67_220  # ecp5-wide folding
    assert lstm_latency_rtl(256, 64, 150, 16, 64) == 24_020 + 150 * 4 + 150 + 7


def _vitis_named_wrapper(params: dict, path) -> None:
    """A stand-in for Vitis HLS's RTL of hw/hls/binary_lstm_top.cpp: our RTL with the parameters baked in, behind
    Vitis's port names (ap_clk, ap_rst_n, in_r_T*, out_r_T*, no parameters)."""
    d, h = params["D"], params["H"]
    overrides = ", ".join(f".{k}({v})" for k, v in sv_parameters(params).items())
    path.write_text(f"""module binary_lstm_top (
    input wire ap_clk, input wire ap_rst_n,
    input wire [{d - 1}:0] in_r_TDATA, input wire in_r_TVALID, output wire in_r_TREADY,
    output wire [{2 * h - 1}:0] out_r_TDATA, output wire out_r_TVALID, input wire out_r_TREADY);
    binary_lstm #({overrides}) u_lstm (.clk(ap_clk), .rst_n(ap_rst_n),
        .s_tdata(in_r_TDATA), .s_tvalid(in_r_TVALID), .s_tready(in_r_TREADY),
        .m_tdata(out_r_TDATA), .m_tvalid(out_r_TVALID), .m_tready(out_r_TREADY));
endmodule
""")


def _bench_vitis_ports(sim, sources, fwd, bwd, fmt, x, tag):
    """The bench on RTL with Vitis's top and port names: back to back and with random stalls."""
    expected = run_bilstm(fwd, bwd, fmt, x)
    out = {}
    for case in ("test_back_to_back", "test_random_stalls"):
        out |= run_bench(sim, "binary_lstm_top", sources, "sim.bench_binary_lstm", {}, ROOT / "build" / "sim" / tag,
                         {"x": x, "expected": expected, "stall": 0.3, "compute_cycles": 0}, testcase=case,
                         extra_env={"BENCH_PORTS": json.dumps(VITIS_PORTS)})
    return out


@pytest.mark.parametrize("sim", SIMULATORS)
def test_bench_takes_the_rtl_and_its_port_names(sim, tmp_path):
    """The bench runs whatever RTL it is given: here a top with Vitis HLS's module and port names
    and no parameters, as Vitis generates from hw/hls/, wrapping our RTL; every output bit is compared."""
    fmt, d, h, t = LSTMFormat(), 16, 8, 12
    rng = np.random.default_rng(5)
    fwd, bwd = (_arrays(_random_direction(rng, d, h, reverse, fmt)) for reverse in (False, True))
    x = rng.integers(0, 2, (3, t, d)).astype(np.uint8)
    params = write_lstm_files(fwd, bwd, fmt, 4, 8, tmp_path / "rom", t=t)
    _vitis_named_wrapper(params, tmp_path / "binary_lstm_top.sv")
    out = _bench_vitis_ports(sim, [tmp_path / "binary_lstm_top.sv", *SOURCES], fwd, bwd, fmt, x, "lstm_vitis_ports")
    assert out["compared_bits_back_to_back"] == out["compared_bits_stalls"] == 3 * t * 2 * h
    assert out["intervals"] == [lstm_cycles_rtl(d, h, t, 4, 8)] * 2


@pytest.mark.skipif(shutil.which("vitis_hls") is None,
                    reason="Vitis HLS not installed: the bench on Vitis-generated LSTM RTL needs vitis_hls on PATH")
@pytest.mark.parametrize("sim", SIMULATORS)
def test_vitis_hls_rtl_equals_reference(sim, tmp_path, emodb_segments):
    """Where Vitis HLS exists: hw/hls/ synthesized for a tiny BCRNN's LSTM (D = 16, H = 8, T = 150) at PE = 4,
    SIMD = 8, and its Verilog run through the same bench on the LSTM inputs of 3 real Emo-DB segments."""
    fs, norm, xs = emodb_segments
    packed = pack_model(trained_like({}, xs, seed=3), norm.to_dict(), fs.classes, fs.config.__dict__)
    fwd, bwd, fmt, dense, lstm = lstm_case(packed, xs, range(3))
    write_params_from_packed(packed, tmp_path / "params.h", 4, 8)
    sources = vitis_rtl(tmp_path, tmp_path / "vitis")
    out = _bench_vitis_ports(sim, sources, fwd, bwd, fmt, dense, f"lstm_vitis_hls_{sim}")
    assert np.array_equal(run_bilstm(fwd, bwd, fmt, dense), lstm)
    assert out["compared_bits_back_to_back"] == out["compared_bits_stalls"] == 3 * 150 * 16


def test_vitis_rtl_without_vitis_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HLSToolchainError, match="vitis_hls not found"):
        vitis_rtl(tmp_path, tmp_path / "vitis")
