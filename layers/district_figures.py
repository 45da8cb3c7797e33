"""Figures per district that maps colour and extrude by: sums, the region score, heights.

Population sums the settlements, investment and jobs the project sites; the region score
comes from ``twin.score`` where the twin holds observations. Each figure carries how much of
it is synthetic, so that legends and tooltips can say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.errors import TwinError

__all__ = ["COLOR_BY", "RELATIVE_HEIGHT", "color_title", "default_color_by",
           "district_values", "height_fraction"]

#: District attributes a view can be coloured by, with their legend titles. A ``pd.Series``
#: indexed by district id (e.g. a score) can be passed instead.
COLOR_BY = {
    "score": "Region score, 0–100",
    "population": "Population (sum of settlements)",
    "investment_kzt": "Investment, KZT (sum of project sites)",
    "jobs": "Jobs (sum of project sites)",
    "projects": "Number of project sites",
}


def district_values(twin) -> pd.DataFrame:
    """Per-district aggregates used to colour and extrude districts.

    Population sums the ``settlements`` layer, investment, jobs and project counts sum
    ``project_sites``, both by ``district_id``. ``synthetic_projects`` counts the made-up
    project rows behind each sum, so a tooltip can say how much of a figure is synthetic.

    A settlement whose population is unknown (``population_known`` false, or no figure)
    adds nothing and is counted in ``population_unknown``: the district's sum is then a
    floor, and a district none of whose settlements has a figure has no population (NaN,
    the legend's "no data"), never 0.

    ``score`` is the region score (0-100) where the twin holds score observations, with
    ``score_synthetic``, the share of synthetic observations behind it; NaN elsewhere.

    Returns a DataFrame indexed by district id, one row per district; sums of project
    rows are 0 where a district has none.

    >>> from twin.sample import make_small_twin
    >>> district_values(make_small_twin())[["population", "population_unknown"]].to_dict()
    {'population': {'west': 5000.0, 'east': 1200.0}, 'population_unknown': {'west': 0, 'east': 0}}
    """
    ids = pd.Index(twin["districts"][twin.schema("districts").id_column], name="district_id")
    out = pd.DataFrame(index=ids)
    if "settlements" in twin:
        s = twin["settlements"]
        pop = pd.to_numeric(s["population"], errors="coerce").astype(float)
        known = pop.notna()
        if "population_known" in s:
            known &= s["population_known"].fillna(False).astype(bool)
        g = pop.where(known).groupby(s["district_id"])
        out["population"] = g.sum(min_count=1)  # NaN where no settlement has a figure
        out["population_unknown"] = (~known).groupby(s["district_id"]).sum()
        out["settlements"] = s.groupby("district_id").size()
    else:
        out["population"] = np.nan
    for col in ("population_unknown", "settlements"):
        if col in out:
            out[col] = out[col].fillna(0).astype(int)
    if "project_sites" in twin:
        p = twin["project_sites"]
        g = p.groupby("district_id")
        sums = pd.DataFrame({"projects": g.size(), "synthetic_projects": g["synthetic"].sum()})
        for col in ("investment_kzt", "jobs"):  # optional: a project list may lack them
            if col in p:
                # The sum of the figures known; NaN (no data, never a real 0) where none
                # of a district's projects has one.
                sums[col] = g[col].sum(min_count=1)
        sums = sums.reindex(out.index)
        sums.loc[sums["projects"].isna(), :] = 0  # no projects: a true 0 of each
        out = out.join(sums)
    score = _score(twin)
    if score is not None:
        out["score"], out["score_synthetic"] = score[0], score[1]
    return out


def _score(twin) -> tuple[pd.Series, pd.Series] | None:
    """Score by district and the synthetic share of its observations, or None without one."""
    try:
        sc = twin.score
        ranking, obs = sc.ranking(), sc.observations
    except (TwinError, ImportError, AttributeError, KeyError, ValueError):
        # No score module, no observations, or a twin the score cannot read: the map still
        # draws, coloured by something else.
        return None
    share = (obs.groupby("unit_id")["synthetic"].mean().astype(float) if "synthetic" in obs
             else pd.Series(np.nan, index=ranking.index))
    return ranking["score"].astype(float), share


def default_color_by(agg: pd.DataFrame) -> str:
    """The score where there is one, else population (what a planner looks at first)."""
    return "score" if "score" in agg and agg["score"].notna().any() else "population"


#: Colourings that sum the ``project_sites`` rows (whose ``synthetic`` flags they inherit).
PROJECT_SUMS = ("investment_kzt", "jobs", "projects")


def color_title(key: str, agg: pd.DataFrame) -> str:
    """The legend title of a colouring; it says when the figures come from synthetic rows
    (a score from synthetic observations, sums of synthetic project sites).

    >>> agg = pd.DataFrame({"jobs": [5, 7], "projects": [2, 3], "synthetic_projects": [2, 1]})
    >>> color_title("jobs", agg)
    'Jobs (sum of project sites; 3 of 5 project rows synthetic)'
    """
    title = COLOR_BY.get(key, key)
    if key == "score" and "score_synthetic" in agg:
        share = agg["score_synthetic"].dropna()
        if len(share) and (share >= 1).all():
            title += " (from synthetic observations)"
        elif len(share) and (share > 0).any():
            title += " (partly from synthetic observations)"
    elif key in PROJECT_SUMS and {"projects", "synthetic_projects"} <= set(agg.columns):
        n, n_syn = int(agg["projects"].sum()), int(agg["synthetic_projects"].sum())
        if n and n_syn == n:
            title = title[:-1] + "; all synthetic)" if title.endswith(")") else (
                title + " (all synthetic)")
        elif n_syn:
            note = f"{n_syn} of {n} project rows synthetic"
            title = title[:-1] + f"; {note})" if title.endswith(")") else f"{title} ({note})"
    elif key == "population" and "population_unknown" in agg:
        n = int(agg["population_unknown"].sum())
        if n:
            note = f"{n} settlement{'s' if n > 1 else ''} without a figure"
            title = title[:-1] + f"; {note})" if title.endswith(")") else f"{title} ({note})"
    return title


#: Colourings whose zero means nothing (an index, not a count): their heights run from the
#: lowest district to the highest instead of from zero, or every prism would be a tall wall.
RELATIVE_HEIGHT = {"score"}


def height_fraction(values: pd.Series, relative: bool = False) -> pd.Series:
    """District heights as fractions of the tallest, in [0, 1].

    Counts (population, investment) are ratio scales: height ∝ value. A score is rescaled
    from its minimum (5 % floor) to its maximum, which the legend says.

    >>> height_fraction(pd.Series([10.0, 20.0, 40.0])).tolist()
    [0.25, 0.5, 1.0]
    >>> height_fraction(pd.Series([40.0, 50.0, 60.0]), relative=True).tolist()
    [0.05, 0.525, 1.0]
    """
    v = pd.to_numeric(values, errors="coerce")
    if relative:
        lo, hi = v.min(), v.max()
        if not (hi > lo):
            return pd.Series(np.where(v.notna(), 1.0, 0.0), index=v.index)
        return (0.05 + 0.95 * (v - lo) / (hi - lo)).fillna(0.0)
    v = v.fillna(0).clip(lower=0)
    top = float(v.max()) if len(v) else 0.0
    return v / top if top > 0 else pd.Series(0.0, index=v.index)
