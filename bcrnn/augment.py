"""Speed perturbation of normalized log-Mel segments, done on the features of a training batch.

Playing an utterance `factor` times faster scales every frequency by `factor` and every duration by 1 / `factor`:
a new "speaker" with a shorter or longer vocal tract and another speaking rate, which is what a
speaker-independent model has too few of (Emo-DB trains on 8 speakers). Resampling the waveform would need the
features recomputed for every batch; on log-Mel features the same change is a warp of both axes, one bilinear
`grid_sample` per batch: output band k at centre frequency f_k reads the input at f_k / factor (fractional Mel
band), output frame t reads input frame t * factor (+ a random offset when that leaves room). The delta channels
are time derivatives, so they scale by factor and factor^2.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from bcrnn.audio import SAMPLE_RATE


@lru_cache(maxsize=8)
def mel_centres(n_mels: int, fmax: float) -> np.ndarray:
    """Centre frequencies (Hz) of librosa's n_mels bands on [0, fmax] (computed once per shape: called per batch)."""
    import librosa

    centres = librosa.mel_frequencies(n_mels + 2, fmin=0.0, fmax=fmax)[1:-1]
    centres.flags.writeable = False
    return centres


def speed_perturb(x: torch.Tensor, factors: torch.Tensor, offsets: torch.Tensor,
                  fmax: float = SAMPLE_RATE / 2) -> torch.Tensor:
    """Warp (B, 3, frames, n_mels) features as if each utterance were played `factors[b]` times faster.

    `offsets[b]` in [0, 1) places the read window when factor < 1 (it reads fewer frames than it writes: the
    window starts anywhere in the spare part); reads past the last band or frame repeat it. Segments whose
    factor is exactly 1 are returned unchanged (no interpolation blur). `fmax`: the Mel scale's top, as
    `bcrnn.features.log_mel_deltas` computes it.
    """
    b, c, t, f = x.shape
    if c != 3:
        raise ValueError(f"speed_perturb expects (batch, 3 channels (log-Mel, delta, delta2), frames, bands), "
                         f"got {tuple(x.shape)}")
    centres = mel_centres(f, float(fmax))
    factors64 = factors.double().numpy()
    # fractional source band of every output band, per sample
    src_band = np.stack([np.interp(centres / k, centres, np.arange(f)) for k in factors64])  # (B, F)
    spare = np.clip(t - t * factors64, 0.0, None)  # frames the read window can move by
    src_frame = np.arange(t)[None, :] * factors64[:, None] + (offsets.double().numpy() * spare)[:, None]  # (B, T)
    grid = torch.empty(b, t, f, 2, dtype=x.dtype)
    grid[..., 0] = torch.from_numpy(2 * src_band / max(f - 1, 1) - 1).to(x.dtype)[:, None, :]
    grid[..., 1] = torch.from_numpy(2 * src_frame / max(t - 1, 1) - 1).to(x.dtype)[:, :, None]
    out = torch.nn.functional.grid_sample(x.contiguous(), grid, mode="bilinear", padding_mode="border",
                                          align_corners=True)
    scale = torch.stack([torch.ones_like(factors), factors, factors * factors], dim=1).to(x.dtype)
    return torch.where((factors == 1.0)[:, None, None, None], x, out * scale[:, :, None, None])


def random_speed(batch: int, max_change: float, gen: torch.Generator,
                 probability: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors uniform in [1 - max_change, 1 + max_change] and read-window offsets uniform in [0, 1); with
    `probability` < 1, the other segments get factor 1 (left as they are)."""
    factors = 1.0 + max_change * (2 * torch.rand(batch, generator=gen, dtype=torch.float64) - 1)
    offsets = torch.rand(batch, generator=gen, dtype=torch.float64)
    if probability < 1.0:
        factors = torch.where(torch.rand(batch, generator=gen, dtype=torch.float64) < probability, factors, 1.0)
    return factors, offsets
