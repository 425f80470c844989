"""hw/rtl/conv_window.sv against the reference's windows (bcrnn.reference.model._windows on the padded image,
permuted to the (kt, kf, c) element order): random int8 images and the extremes with random stalls, a reset in the
middle of a stream, the cycle formula TO*(FO+KF-1) + (KT-PT-1)*F + KF-PF per image, and one real Emo-DB segment at the small preset's
size (3 x 300 x 40, 5 x 3 kernel, padding 2/1 with 0) on Verilator."""

import numpy as np
import pytest

from bcrnn.rtl.frontend_files import conv_window_cycles, write_conv0_files
from frontend_rtl import bench_data, rom_dir, run, windows

pytestmark = pytest.mark.sim

FILES = ["conv_window.sv"]


def _case(images, kt, kf, pt, pf, pad):
    """images (N, C, T, F) -> bench data (pixel beats in, window beats out) and the cycle bounds."""
    n, c, t, f = images.shape
    x = images.transpose(0, 2, 3, 1).reshape(-1, c)
    y = np.concatenate([windows(im, kt, kf, pt, pf, pad) for im in images])
    shifts = (t + 2 * pt - kt + 1) * (f + 2 * pf - kf + 1 + kf - 1)  # one column shift per cycle
    return x, y, (n * shifts, n * conv_window_cycles(t, f, kt, kf, pt, pf) + 2)  # images' fills may overlap


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_conv_window_random_stalls_reset_cycles(sim):
    # a kernel whose padding is not "same" (PT < KT//2 is fine too), PF = KF-1, a non-zero padding value
    p = {"C": 2, "W": 8, "T": 9, "F": 7, "KT": 4, "KF": 3, "PT": 1, "PF": 2, "PAD_VALUE": -5}
    rng = np.random.default_rng(0)
    shape = (p["C"], p["T"], p["F"])
    images = np.stack([rng.integers(-128, 128, shape) for _ in range(3)]
                      + [np.full(shape, -128), np.full(shape, 127)])
    x, y, cycles = _case(images, p["KT"], p["KF"], p["PT"], p["PF"], p["PAD_VALUE"])
    out = run(sim, "conv_window", FILES, p, f"conv_window_small_{sim}",
              bench_data(x, 8, y, 8, y_signed=True, cycles=cycles))
    assert out["tests_passed"] == 3
    assert out["stall_values"] == out["values"] == out["reset_values"] == y.size == 5 * 8 * 9 * 24
    print(f"{sim}: {out['cycles']} cycles for 5 images of {p['T']}x{p['F']} (formula {cycles}); "
          f"{3 * y.size} window elements compared")


def test_conv_window_small_preset_emodb_segment(frontend_small_model):
    packed, codes = frontend_small_model
    p = write_conv0_files(packed, None, 16, rom_dir("conv_window_small_preset"))["conv_window"]
    assert p == {"C": 3, "W": 8, "T": 300, "F": 40, "KT": 5, "KF": 3, "PT": 2, "PF": 1, "PAD_VALUE": 0}
    seg = codes[0]
    x, y, cycles = _case(seg[None], 5, 3, 2, 1, 0)
    assert y.shape == (300 * 40, 45) and np.abs(y).max() > 64
    out = run("verilator", "conv_window", FILES, p, "conv_window_small_preset",
              bench_data(x, 8, y, 8, y_signed=True, cycles=cycles, pause=(0.2, 0.5)))
    assert out["tests_passed"] == 3 and out["values"] == y.size == 540_000
    assert out["cycles"] <= cycles[1]
    print(f"verilator: one Emo-DB segment, {out['cycles']} cycles (formula {cycles}), "
          f"{out['stall_cycles']} with random stalls; {3 * y.size} window elements compared")
