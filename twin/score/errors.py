"""Errors of the region score. Each is a :class:`twin.errors.TwinError` and the matching
built-in, so ``api/errors.py`` can map them and callers can catch either."""

from __future__ import annotations

from ..errors import InvalidArgument, TwinError, TwinFileError

__all__ = [
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
]


class ScoreError(TwinError):
    """Root of the score's errors."""


class ScoreArgumentError(ScoreError, InvalidArgument):
    """A score option out of range: an unknown normalisation, a forecast horizon over 12
    months, fewer than one Monte Carlo draw..."""


class RegistryError(ScoreError, ValueError):
    """An indicator registry document that is malformed."""


class ObservationError(ScoreError, ValueError):
    """An observation that cannot be ingested."""


class UnknownUnit(ObservationError):
    """An observation for a district or city id the twin does not hold."""


class UnknownIndicator(ObservationError):
    """An observation for an indicator the registry does not define."""


class InvalidValue(ObservationError):
    """A NaN, infinite or out-of-bounds value."""


class InvalidMonth(ObservationError):
    """A month that is not a calendar month like ``2025-08``."""


class UnitMismatch(ObservationError):
    """A value given in another measurement unit than the indicator's."""


class DuplicateObservation(ObservationError):
    """A month already observed for that unit and indicator, without ``upsert=True``."""


class WeightError(ScoreError, ValueError):
    """Weights that are negative, not finite, unknown or all zero."""


class NoObservations(ScoreError, LookupError):
    """A score asked of a twin that holds no observations."""


class NotEnoughHistory(NoObservations):
    """A forecast asked of series too short to fit: each needs ``PERIOD + 2`` months (a
    year to compare with, and two months to fit a trend on)."""


class NotPersisted(ScoreError, TwinFileError):
    """An ingest into a twin that has no file, so the observation could not be made durable."""


class ForecastUnavailable(ScoreError, ImportError):
    """Forecasts need statsmodels (the ``score`` extra)."""


class AuditUnavailable(ScoreError, ImportError):
    """The audit needs SALib and scipy (the ``score`` extra)."""
