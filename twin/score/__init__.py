"""The region score: indicators, a composite index with uncertainty, live updates and
forecasts.

>>> import twin
>>> tw = twin.load_default()                       # doctest: +SKIP
>>> tw.score.ranking().head()                      # doctest: +SKIP

The pipeline follows the OECD/JRC Handbook on Constructing Composite Indicators: registry
(the twin's own, ``tw.registry``) -> observations -> panel (with flagged imputation) ->
normalisation -> weighting -> aggregation -> ranking, plus Monte Carlo rank intervals and
forecasts. statsmodels (the ``score`` extra) is imported only by the forecasts.
"""

from .audit import Audit
from .composite import (
    AGGREGATIONS,
    NORMALISATIONS,
    ScoreConfig,
    ScoreTable,
    WeightsEvaluation,
    aggregate,
    compute,
    evaluate_weights,
    normalise,
    rank,
)
from .errors import (
    AuditUnavailable,
    DuplicateObservation,
    ForecastUnavailable,
    InvalidMonth,
    InvalidValue,
    NoObservations,
    NotEnoughHistory,
    NotPersisted,
    ObservationError,
    RegistryError,
    ScoreArgumentError,
    ScoreError,
    UnitMismatch,
    UnknownIndicator,
    UnknownUnit,
    WeightError,
)
from .forecast_set import ForecastSet
from .live import IngestReport, Score
from .observations import Observation
from .panel import ScorePanel
from .registry import Dimension, Indicator, Registry, load_registry

__all__ = [
    "Score",
    "IngestReport",
    "Observation",
    "ScorePanel",
    "ScoreConfig",
    "ScoreTable",
    "WeightsEvaluation",
    "Registry",
    "Indicator",
    "Dimension",
    "load_registry",
    "normalise",
    "aggregate",
    "rank",
    "compute",
    "evaluate_weights",
    "NORMALISATIONS",
    "AGGREGATIONS",
    "ScoreError",
    "ScoreArgumentError",
    "RegistryError",
    "ObservationError",
    "UnknownUnit",
    "UnknownIndicator",
    "InvalidValue",
    "InvalidMonth",
    "UnitMismatch",
    "DuplicateObservation",
    "WeightError",
    "NoObservations",
    "NotEnoughHistory",
    "NotPersisted",
    "ForecastUnavailable",
    "AuditUnavailable",
    "Audit",
    "ForecastSet",
]
