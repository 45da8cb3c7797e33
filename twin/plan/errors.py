"""Errors of the digital general plan, under the toolkit's one root :class:`TwinError`."""

from __future__ import annotations

from ..errors import TwinError

__all__ = ["PlanError", "RegulationError", "UnknownZoneType", "PlanVersionError"]


class PlanError(TwinError, ValueError):
    """A plan operation that cannot be carried out as asked."""


class RegulationError(PlanError):
    """A regulations file or a regulation value that does not validate."""


class UnknownZoneType(PlanError, KeyError):
    """A zone type outside the plan's vocabulary."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else "unknown zone type"


class PlanVersionError(PlanError, LookupError):
    """A plan version that does not exist, or a plan history that cannot be replayed."""
