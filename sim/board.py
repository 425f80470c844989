"""Simulate the ULX3S board top (ulx3s_top: ecppll's PLL with a behavioural EHXPLLL, power-on reset, bcrnn_uart,
the generated bcrnn_top) on real segments through its serial pins (sim/bench_board.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PLL_MODEL = ROOT / "sim" / "models" / "EHXPLLL.sv"
BENCH_TOP = ROOT / "sim" / "models" / "board_bench.sv"  # ulx3s_top plus the host's UART transmitter


def simulate_board(packed, segments: np.ndarray, folding, sim: str, build_dir, clks_per_bit: int = 4,
                   idle_cycles: int = 3000, testcase=None) -> dict:
    """Run the board bench on z-scored segments (N, 3, frames, bands); the UART at `clks_per_bit` cycles per bit
    (a short bit time keeps the simulation fast; the board's is f_clk / baud rate)."""
    from bcrnn.reference.model import ReferenceBCRNN, quantize_features
    from bcrnn.rtl.board import FILELIST, board_parameters, segment_bytes, write_pll
    from bcrnn.rtl.filelist import read_filelist
    from bcrnn.rtl.top import generate
    from sim.runner import run_bench

    build_dir = Path(build_dir).resolve()
    description = generate(packed, folding, build_dir / "rtl")
    pll = write_pll(build_dir / "rtl", 100.0)
    params = board_parameters(description, 100.0) | {"CLKS_PER_BIT": clks_per_bit, "IDLE_CYCLES": idle_cycles}
    ref = ReferenceBCRNN.from_arrays(packed)
    codes = [quantize_features(s) for s in segments]
    logits = np.stack([ref.forward(c) for c in codes]).astype(np.int64)
    host_bytes = b"".join(segment_bytes(c) for c in codes)
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "host_bytes.hex").write_text("".join(f"{b:02x}\n" for b in host_bytes))
    params |= {"HOST_BYTES": str(build_dir / "host_bytes.hex"), "HOST_LEN": len(host_bytes)}
    data = {"segments": np.array(len(codes)), "segment_bytes": np.array(len(host_bytes) // len(codes)),
            "labels": logits.argmax(axis=1), "logits": logits, "clks_per_bit": np.array(clks_per_bit),
            "idle_cycles": np.array(idle_cycles), "label_bits": np.array(description["label_bits"]),
            "logit_bits": np.array(description["logit_bits"]), "classes": np.array(description["classes"])}
    sources = [*read_filelist(FILELIST), Path(description["top"]), pll, PLL_MODEL, BENCH_TOP]
    t0 = time.time()
    out = run_bench(sim, "board_bench", sources, "sim.bench_board", parameters=params, build_dir=build_dir / "sim",
                    data=data, testcase=testcase)
    return out | {"seconds": round(time.time() - t0, 1), "parameters": params}
