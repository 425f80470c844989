"""bcrnn.plotting.figure: the one place report figures are saved and closed."""

import pytest


def test_figure_is_saved_and_closed_and_not_saved_on_error(tmp_path):
    import matplotlib.pyplot as plt

    from bcrnn.plotting import figure

    before = len(plt.get_fignums())
    with figure(tmp_path / "ok.png", ncols=2) as (fig, axes):
        axes[0].plot([0, 1], [1, 0])
    assert (tmp_path / "ok.png").stat().st_size > 1_000 and len(plt.get_fignums()) == before
    with pytest.raises(ZeroDivisionError), figure(tmp_path / "broken.png") as (fig, ax):
        ax.plot([0, 1 / 0])
    assert not (tmp_path / "broken.png").exists() and len(plt.get_fignums()) == before
