"""`model.packed.npz`: the deployed network's integers and bits, stored compactly and loadable without torch.

Weight bits are packed 8 to a byte (np.packbits); thresholds and multipliers use the narrowest integer type that
holds them. Its size on disk is the packed size that size.json reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _narrow(a: np.ndarray) -> np.ndarray:
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if a.size == 0 or (a.min() >= info.min and a.max() <= info.max):
            return a.astype(dtype)
    return a


def save_packed(path: str | Path, arrays: dict) -> int:
    """Write the arrays of bcrnn.packing.pack_model; returns the file size in bytes."""
    out, shapes = {}, {}
    for name, a in arrays.items():
        if name.endswith("_weight_bits"):
            shapes[name] = list(a.shape)
            out[name] = np.packbits(a.astype(np.uint8).reshape(-1))
        elif a.dtype.kind == "i":
            out[name] = _narrow(a)
        else:
            out[name] = a
    out["bit_shapes"] = np.asarray(json.dumps(shapes))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **out)  # random bits do not shrink, but the many small headers do
    tmp.replace(path)
    return path.stat().st_size


NOT_WEIGHTS = ("meta", "bit_shapes", "norm_mean", "norm_std")  # metadata and the feature normalizer


def weight_bytes(path: str | Path) -> int:
    """Bytes of the network's parameters as stored (packed bits, narrow integers), without file headers,
    metadata or the feature normalizer: the figure to set beside float32 parameter bytes."""
    with np.load(path, allow_pickle=False) as z:
        return int(sum(z[k].nbytes for k in z.files if k not in NOT_WEIGHTS))


def load_packed(path: str | Path) -> dict:
    """The arrays as pack_model returned them (bits unpacked to 0/1, integers as int64)."""
    with np.load(path, allow_pickle=False) as z:
        shapes = json.loads(str(z["bit_shapes"]))
        arrays = {}
        for name in z.files:
            if name == "bit_shapes":
                continue
            a = z[name]
            if name in shapes:
                n = int(np.prod(shapes[name]))
                a = np.unpackbits(a)[:n].reshape(shapes[name])
            elif a.dtype.kind == "i":
                a = a.astype(np.int64)
            arrays[name] = a
    return arrays
