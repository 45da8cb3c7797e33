"""Errors of spatial scenarios, under the toolkit's one root :class:`~twin.errors.TwinError`.

Each leaf also subclasses the matching built-in, so callers can catch either; ``api/errors.py``
maps them to HTTP statuses.
"""

from __future__ import annotations

from ..errors import TwinError

__all__ = ["ScenarioError", "InvalidEdit", "TooManyEdits", "UnreadableScenario",
           "OutsideRegion", "UnknownSector", "UnknownProject", "DuplicateProject",
           "ScenarioNotFound", "ScenarioConflict"]


class ScenarioError(TwinError, ValueError):
    """A scenario operation that cannot be carried out as asked."""


class InvalidEdit(ScenarioError):
    """An edit whose values do not validate (negative investment, bad hazard class...)."""


class TooManyEdits(InvalidEdit):
    """A scenario over :data:`twin.limits.MAX_EDITS` edits."""


class UnreadableScenario(ScenarioError):
    """A stored scenario row that cannot be read (an old bug, a hand edit): it is set aside,
    and can be deleted."""


class OutsideRegion(InvalidEdit):
    """A project site or a rezoned area outside the twin's region."""


class UnknownSector(InvalidEdit, KeyError):
    """A sector that neither the regulations nor the twin's projects know."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else "unknown sector"


class UnknownProject(InvalidEdit, KeyError):
    """A project id that the scenario's projects do not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown project"


class DuplicateProject(InvalidEdit):
    """An added project whose id is already taken."""


class ScenarioNotFound(ScenarioError, KeyError):
    """No stored scenario has this id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "scenario not found"


class ScenarioConflict(ScenarioError):
    """A save based on a version that is no longer the stored one (another session saved
    in between): reload, re-apply, save again. Nothing was written."""
