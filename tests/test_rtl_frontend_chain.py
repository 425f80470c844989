"""The front end as one stream (hw/rtl/frontend_chain.sv: conv_window -> mvu_int8 -> maxpool_bits -> xnor_mvu) at
the small preset's sizes, folded as recommended (conv PE=16 with the whole 45-element window per cycle; dense PE=8,
SIMD=64), on a real Emo-DB segment through a trained_like small-preset model: the conv0 stream (150 x 10 pooled
pixels of 64 bits) and the dense stream (150 frames of 256 bits) equal the reference's (ReferenceBCRNN.forward's
trace) bit for bit, without stalls, with random stalls at both ends, and after a reset in the middle of a segment;
the cycles of a segment match the chain's formula (bcrnn.rtl.frontend_files.frontend_chain_cycles). Verilator only
(a whole segment, ~48,000 cycles per pass)."""

import pytest

from bcrnn.reference.model import ReferenceBCRNN
from bcrnn.rtl.frontend_files import conv0_cycles, frontend_chain_cycles, frontend_chain_params
from frontend_rtl import bench_data, rom_dir, run

pytestmark = pytest.mark.sim

FILES = ["frontend_chain.sv", "conv_window.sv", "mvu_control.sv", "mvu_int8.sv", "maxpool_bits.sv", "xnor_mvu.sv"]
CONV_PE, DENSE_PE, DENSE_SIMD = 16, 8, 64


def test_frontend_chain_emodb_segment_conv0_and_dense_streams(frontend_small_model):
    packed, codes = frontend_small_model
    seg = 4
    trace = ReferenceBCRNN.from_arrays(packed).forward(codes[seg], trace=True)[1]
    p = frontend_chain_params(packed, None, rom_dir("frontend_chain"), CONV_PE, DENSE_PE, DENSE_SIMD)
    assert (p["T"], p["F"], p["CH"], p["DENSE"], p["CONV_SIMD"]) == (300, 40, 64, 256, 45)
    x = codes[seg].transpose(1, 2, 0).reshape(-1, 3)  # pixels (t, f) row-major, 3 codes each
    pool = trace["conv0"].transpose(1, 2, 0).reshape(-1, 64)  # pooled pixels (t2, f2) row-major
    dense = trace["dense"]
    assert x.shape == (12000, 3) and pool.shape == (1500, 64) and dense.shape == (150, 256)
    expected = frontend_chain_cycles(300, 40, 5, 3, 64, 3, CONV_PE, None, 2, 4, 256, DENSE_PE, DENSE_SIMD)
    assert conv0_cycles(300, 40, 5, 3, 64, 3, CONV_PE) == 48_000 and expected == 48_425
    cycles = (expected - 4, expected + 4)
    data = bench_data(x, 8, dense, 1, cycles=cycles, reset_at=4000, pause=(0.2, 0.3)) | {"pool": pool}
    out = run("verilator", "frontend_chain", FILES, p, "frontend_chain", data)
    assert out["tests_passed"] == 3
    for prefix in ("", "stall_", "reset_"):
        assert out[f"{prefix}conv0_bits"] == 1500 * 64 and out[f"{prefix}dense_bits"] == 150 * 256
    assert 0.05 < pool.mean() < 0.95 and 0.05 < dense.mean() < 0.95
    print(f"verilator: one Emo-DB segment through the front end in {out['cycles']} cycles (formula {cycles}; "
          f"{out['stall_cycles']} with random stalls); conv0 {3 * pool.size} and dense {3 * dense.size} bits compared")
