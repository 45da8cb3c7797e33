"""What a twin measures, scores and plans its region by, besides its layers: the analysis
CRS of its areas and distances, the indicator registry of its score, and the regulations of
its plan. All three belong to the twin, are stored in its file, and default to what suits
the twin's own region (an equal-area CRS centred on it) or to the built-in ones.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyproj import CRS

from .crs import analysis_crs_of
from .errors import CRSError

if TYPE_CHECKING:
    import geopandas as gpd

    from .model import TwinMetadata

__all__ = ["RegionTerms"]


class RegionTerms:
    """The part of :class:`~twin.model.Twin` that holds its analysis CRS, registry and
    regulations (a mixin: it reads the twin's ``_layers`` and keeps ``_crs``,
    ``_derived_crs`` and ``_docs``)."""

    metadata: TwinMetadata
    _crs: CRS | None
    _derived_crs: CRS | None
    _layers: MutableMapping[str, gpd.GeoDataFrame]  # twin.lazy.LayerFrames
    _metric: dict[str, Any]
    _docs: dict[str, dict]

    # -- the analysis CRS -----------------------------------------------------------------
    @property
    def analysis_crs(self) -> CRS:
        """The metric CRS of areas, buffers and distances: the one given or stored, else an
        equal-area CRS centred on the ``region`` layer (on all layers without one)."""
        if self._crs is not None:
            return self._crs
        if self._derived_crs is None:
            basis = [self._layers["region"]] if "region" in self._layers else [
                g for g in self._layers.values() if len(g)]
            if not basis:
                raise CRSError(
                    f"twin {self.metadata.name!r} has no layers to centre its analysis CRS on: add "
                    "the region layer first, or pass analysis_crs="
                )
            self._derived_crs = analysis_crs_of(pd.concat([g.geometry for g in basis]))
        return self._derived_crs

    @analysis_crs.setter
    def analysis_crs(self, crs: CRS | str | None) -> None:
        self._crs = None if crs is None else CRS.from_user_input(crs)
        self._derived_crs = None
        self._metric.clear()

    # -- the twin's own registry and regulations ------------------------------------------
    @property
    def registry(self):
        """The indicator registry of this twin's score (:class:`twin.score.Registry`): the
        one it was given (stored in its file), else the built-in registry."""
        from .score.registry import Registry, builtin_registry_doc

        doc = self._docs.get("indicators")
        if doc is None:
            self._docs["indicators"] = doc = builtin_registry_doc()
        return Registry.parse_cached(doc)

    def set_registry(self, registry: dict | str | os.PathLike) -> None:
        """Give the twin its own indicator registry: a registry document (as in
        ``indicators.yaml``) or the path of one. It is validated now and stored on save;
        the score is rebuilt on next use."""
        from .score.registry import Registry, read_registry_doc

        doc = registry if isinstance(registry, dict) else read_registry_doc(registry)
        Registry.parse_cached(doc)  # validates, naming the key and the fix
        self._docs["indicators"] = doc
        for cached in ("_score", "_scenario_baseline"):
            self.__dict__.pop(cached, None)

    @property
    def regulations(self):
        """The plan regulations of this twin (:class:`twin.plan.Regulations`): the ones it
        was given (stored in its file), else the built-in Kazakh norms. A plan keeps the
        regulations it was made with (its version 1) as part of its history."""
        from .plan.regulations import Regulations, builtin_regulations_doc

        doc = self._docs.get("regulations")
        if doc is None:
            self._docs["regulations"] = doc = builtin_regulations_doc()
        return Regulations.parse_cached(
            doc, origin=f"the regulations stored with twin {self.metadata.name!r}")

    def document(self, which: str) -> dict:
        """The ``indicators`` or ``regulations`` document in effect (what is stored)."""
        getattr(self, "registry" if which == "indicators" else "regulations")
        return self._docs[which]

    def set_regulations(self, regulations) -> None:
        """Give the twin its own regulations: a :class:`~twin.plan.Regulations`, a document
        (as in a regulations YAML file) or the path of one; validated now, stored on save."""
        from .plan.regulations import Regulations, read_regulations_doc

        if isinstance(regulations, Regulations):
            doc = regulations.to_dict()
        elif isinstance(regulations, dict):
            doc = regulations
        else:
            doc = read_regulations_doc(regulations)
        Regulations.parse_cached(doc, origin=f"twin {self.metadata.name!r}")
        self._docs["regulations"] = doc
        for cached in ("_plan", "_scenario_baseline"):
            self.__dict__.pop(cached, None)
