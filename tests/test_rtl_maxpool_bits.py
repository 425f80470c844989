"""hw/rtl/maxpool_bits.sv against the reference's OR-pooling (bcrnn.reference.model._or_pool): random bit images
(sparse and dense), all-ones and all-zeros images, sizes that do not divide (the reference truncates: the leftover
rows and columns are consumed and dropped), random stalls, a reset in the middle of a stream, one pixel per cycle;
and the small preset's conv0 output (64 channels, 300 x 40 -> 150 x 10, 2 x 4 windows) of a real Emo-DB segment on
Verilator."""

import numpy as np
import pytest

from frontend_rtl import bench_data, conv0_bits, or_pool, run

pytestmark = pytest.mark.sim

FILES = ["maxpool_bits.sv"]


def _case(images, pt, pf):
    """images (N, C, T, F) bits -> bench data arrays, cycle bounds: one input pixel per cycle, so the last output
    leaves a cycle after the pixel completing it (the last image's dropped rows and columns come after it)."""
    n, c, t, f = images.shape
    x = images.transpose(0, 2, 3, 1).reshape(-1, c)
    y = np.concatenate([or_pool(im, pt, pf).transpose(1, 2, 0).reshape(-1, c) for im in images])
    last = (n - 1) * t * f + (t // pt * pt - 1) * f + f // pf * pf - 1  # index of the pixel completing the last
    return x, y, (last + 2, last + 3)


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_maxpool_bits_random_truncation_stalls_reset_cycles(sim):
    p = {"C": 5, "T": 7, "F": 11, "PT": 2, "PF": 4}  # 3 x 2 pooled pixels; row 6 and columns 8-10 dropped
    rng = np.random.default_rng(2)
    shape = (p["C"], p["T"], p["F"])
    images = np.stack([(rng.random(shape) < q).astype(np.uint8) for q in (0.1, 0.5, 0.9, 0.05)]
                      + [np.ones(shape, np.uint8), np.zeros(shape, np.uint8)])
    images[0, :, 6, :] = 1  # the dropped row and columns must not leak into the output
    images[0, :, :, 8:] = 1
    x, y, cycles = _case(images, p["PT"], p["PF"])
    out = run(sim, "maxpool_bits", FILES, p, f"maxpool_bits_small_{sim}", bench_data(x, 1, y, 1, cycles=cycles))
    assert out["tests_passed"] == 3 and out["values"] == y.size == 6 * 6 * 5
    assert 0.2 < y[:6].mean() < 0.8
    print(f"{sim}: {out['cycles']} cycles for {len(x)} input pixels (formula {cycles}); {3 * y.size} bits compared")


def test_maxpool_bits_small_preset_conv0_emodb(frontend_small_model):
    packed, codes = frontend_small_model
    bits = conv0_bits(packed, codes[2])
    assert bits.shape == (64, 300, 40)
    x, y, cycles = _case(bits[None], 2, 4)
    p = {"C": 64, "T": 300, "F": 40, "PT": 2, "PF": 4}
    out = run("verilator", "maxpool_bits", FILES, p, "maxpool_bits_small_preset",
              bench_data(x, 1, y, 1, cycles=cycles, pause=(0.3, 0.7)))
    assert out["tests_passed"] == 3 and out["values"] == y.size == 1500 * 64
    print(f"verilator: {out['cycles']} cycles for one segment's 12000 conv0 pixels (formula {cycles}); "
          f"{3 * y.size} bits compared")
