"""Spatial scenarios: the baseline twin plus an ordered list of edits, evaluated as deltas.

>>> import twin
>>> tw = twin.load_default()                                        # doctest: +SKIP
>>> s = tw.scenario("alu-north")                                    # doctest: +SKIP
>>> s.move_project("named-aluminium", 71.30, 51.35).evaluate()      # doctest: +SKIP

Edits: :meth:`Scenario.add_project`, ``move_project``, ``remove_project``, ``rezone``,
``set_regulation`` and ``set_score_weights``. :meth:`Scenario.evaluate` gives an
:class:`Evaluation`; :func:`compare` tabulates several; :meth:`Scenario.save` stores the edits
in the twin file.
"""

from .edits import (
    EDIT_KINDS,
    AddProject,
    Edit,
    MoveProject,
    RemoveProject,
    Rezone,
    SetRegulation,
    SetScoreWeights,
    edit_from_dict,
)
from .engine import ACCESS_RADIUS_M
from .errors import (
    DuplicateProject,
    InvalidEdit,
    OutsideRegion,
    ScenarioConflict,
    ScenarioError,
    ScenarioNotFound,
    TooManyEdits,
    UnknownProject,
    UnknownSector,
    UnreadableScenario,
)
from .evaluation import Evaluation
from .scenario import Scenario, compare, delete_scenario, list_scenarios, open_scenario

__all__ = [
    "Scenario", "Evaluation", "compare", "open_scenario", "list_scenarios", "delete_scenario",
    "Edit", "AddProject", "MoveProject", "RemoveProject", "Rezone", "SetRegulation",
    "SetScoreWeights", "EDIT_KINDS", "edit_from_dict", "ACCESS_RADIUS_M",
    "ScenarioError", "InvalidEdit", "OutsideRegion", "UnknownSector", "UnknownProject",
    "DuplicateProject", "ScenarioNotFound", "ScenarioConflict", "TooManyEdits",
    "UnreadableScenario",
]
