"""Speed perturbation on log-Mel features: identity at factor 1, the directions a faster or slower voice moves
energy in, delta scaling, determinism, and that training and the teacher see the perturbed batch."""

import numpy as np
import pytest
import torch

from bcrnn.augment import mel_centres, random_speed, speed_perturb
from bcrnn.training import TrainConfig

FMAX = 8000.0


def _peak(frame=100, band=20, frames=300, bands=40):
    x = torch.zeros(1, 3, frames, bands)
    x[0, :, frame, band] = 1.0
    return x


def _warp(x, factor, offset=0.0):
    return speed_perturb(x, torch.tensor([factor], dtype=torch.float64), torch.tensor([offset], dtype=torch.float64),
                         FMAX)


def test_factor_one_is_the_identity():
    x = torch.randn(4, 3, 300, 40)
    y = speed_perturb(x, torch.ones(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64), FMAX)
    assert torch.equal(y, x)  # not interpolated: no blur


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_a_faster_voice_is_higher_and_shorter(factor):
    """Played `factor` times faster: the frame at t moves to t / factor, a band at f Hz to f * factor Hz."""
    out = _warp(_peak(), factor)[0]
    t, b = np.unravel_index(int(out[0].argmax()), out[0].shape)
    assert abs(t - 100 / factor) <= 1
    centres = mel_centres(40, FMAX)
    target = np.abs(centres - centres[20] * factor).argmin()
    assert abs(int(b) - int(target)) <= 1 and int(b) != 20
    # time derivatives scale with the speed: delta by factor, delta-delta by factor^2
    assert float(out[1].max() / out[0].max()) == pytest.approx(factor, rel=1e-5)
    assert float(out[2].max() / out[0].max()) == pytest.approx(factor ** 2, rel=1e-5)


def test_a_slower_voice_reads_a_window_placed_by_the_offset():
    """At factor 0.9 the 300 output frames read 270 input frames: the offset slides that window over the spare 30."""
    early, late = _warp(_peak(frame=5), 0.9, offset=0.0)[0, 0], _warp(_peak(frame=5), 0.9, offset=1.0)[0, 0]
    assert float(early.sum()) > 0.5 and float(late.sum()) == 0.0  # the late window starts after frame 5


def test_random_speed_is_seeded_and_in_range():
    a = random_speed(64, 0.1, torch.Generator().manual_seed(7))
    b = random_speed(64, 0.1, torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert float(a[0].min()) >= 0.9 and float(a[0].max()) <= 1.1 and float(a[0].std()) > 0.03
    assert float(a[1].min()) >= 0.0 and float(a[1].max()) < 1.0


def test_a_probability_leaves_the_other_segments_alone():
    factors, _ = random_speed(4000, 0.1, torch.Generator().manual_seed(3), probability=0.5)
    unchanged = float((factors == 1.0).double().mean())
    assert 0.45 < unchanged < 0.55
    x = torch.randn(6, 3, 300, 40)
    f = torch.tensor([1.0, 1.08, 1.0, 0.93, 1.0, 1.0], dtype=torch.float64)
    y = speed_perturb(x, f, torch.zeros(6, dtype=torch.float64), FMAX)
    assert all(torch.equal(y[i], x[i]) == (f[i] == 1.0) for i in range(6))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="3 channels"):
        speed_perturb(torch.zeros(2, 1, 300, 40), torch.ones(2), torch.zeros(2), FMAX)
    with pytest.raises(ValueError, match="speed_perturb"):
        TrainConfig(speed_perturb=0.6)
    with pytest.raises(ValueError, match="speed_perturb_probability"):
        TrainConfig(speed_perturb=0.1, speed_perturb_probability=0.0)
