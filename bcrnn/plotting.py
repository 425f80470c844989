"""Matplotlib without a display: every report figure is opened, laid out, saved and closed here."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def figure(path: str | Path, dpi: int = 110, **subplots):
    """`with figure(path, nrows=.., figsize=..) as (fig, axes):` draw; on leaving, the figure is laid out and
    saved to `path` (Agg backend: works on headless build machines) and always closed, also on an error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(**subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
