"""layers/plots.py and twin/plotting.py: static pictures, reached through the backend hook."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from layers import plots  # noqa: E402
from tests.common import lonlat  # noqa: E402
from twin import plotting  # noqa: E402
from twin.scenario import Scenario  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_the_default_backend_is_found_by_its_entry_point():
    assert plotting.backend() is plots
    assert plotting.backend("layers.plots") is plots  # a module name works too


def test_an_unknown_backend_names_the_fix(monkeypatch):
    monkeypatch.setitem(plotting.options, "backend", "no_such_backend")
    with pytest.raises(plotting.PlottingBackendError, match="viz extra") as e:
        plotting.plot(object())
    assert isinstance(e.value, ImportError)


def test_another_backend_draws_instead(monkeypatch, small_twin):
    drawn = []
    mod = types.ModuleType("my_backend")
    mod.plot = lambda obj, **kw: drawn.append((type(obj).__name__, kw)) or "picture"
    monkeypatch.setitem(sys.modules, "my_backend", mod)
    monkeypatch.setitem(plotting.options, "backend", "my_backend")
    ev = Scenario(small_twin, "s").remove_project("p2").evaluate()
    assert ev.plot(column="d_investment_kzt") == "picture"
    assert drawn == [("Evaluation", {"column": "d_investment_kzt"})]


def test_change_map_is_centred_on_zero():
    import geopandas as gpd
    from matplotlib import colormaps
    from shapely import box

    shapes = gpd.GeoSeries([box(i, 0, i + 1, 1) for i in range(4)], index=list("abcd"),
                           crs=4326)
    ax = plots.change_map(shapes, pd.Series({"a": -100.0, "b": 0.0, "c": 100.0, "d": 25.0}))
    faces = ax.collections[0].get_facecolors()
    cmap = colormaps[plots.CHANGE_CMAP]
    np.testing.assert_allclose(faces[1], cmap(0.5), atol=1e-6)   # no change: the middle
    np.testing.assert_allclose(faces[0], cmap(0.0), atol=1e-6)   # the largest loss
    np.testing.assert_allclose(faces[2], cmap(1.0), atol=1e-6)   # the same-sized gain
    np.testing.assert_allclose(faces[3], cmap(0.625), atol=1e-2)


def test_evaluation_plot_maps_the_change_and_lists_what_moves(small_twin):
    ev = Scenario(small_twin, "s").move_project("p1", *lonlat(5300, 5000)).evaluate()
    left, right = ev.plot()
    assert left.get_title() == "change in jobs"
    assert [t.get_text() for t in right.get_yticklabels()] == ["East district",
                                                               "West district"]
    assert [p.get_width() for p in right.patches] == [-200, 200]
    with pytest.raises(ValueError, match="d_jobs"):
        ev.plot(column="jobs_typo")


def test_rank_intervals_and_forecast_fans_of_the_default_twin(default_twin, capsys):
    sc = default_twin.score
    u = sc.uncertainty(n=40, seed=0)
    ax = u.plot()
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert len(names) == len(u.ranks) == 20
    assert names[0] == u.ranks.sort_values("nominal_rank")["name"].iloc[0]
    f = sc.forecast(horizon=6, units=["tselinograd"], indicators=["investment", "avg_wage"],
                    repetitions=50)
    assert set(f.history["indicator"]) == {"investment", "avg_wage"}
    assert len(f.history) == 2 * 36
    axes = f.plot()
    assert len(axes) == 2 and "P(miss target)" in axes[0].get_title()
    one = f.plot(indicator="avg_wage")
    observed = next(line for line in one.get_lines() if line.get_label() == "observed")
    assert len(observed.get_xdata()) == 36
    with pytest.raises(ValueError, match="tselinograd"):
        f.plot(unit="nowhere")
    assert "forecast" not in capsys.readouterr().err  # two series: no progress bar
    sc.forecast(horizon=1, units=["tselinograd"], indicators=["investment"],
                repetitions=10, progress=True)
    assert "forecast" in capsys.readouterr().err
