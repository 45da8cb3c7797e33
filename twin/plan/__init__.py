"""The digital general plan: functional zones, their regulations, buffers, compliance of
projects, land balance, building capacity, and versions with a semantic diff.

Functions take explicit GeoDataFrames, so scenarios can call them on edited copies;
:class:`Plan` holds one twin's plan and its history.

Examples
--------
>>> from twin.sample import make_small_twin
>>> from twin.plan import Plan
>>> plan = Plan(make_small_twin())
>>> plan.version
1
"""

from .balance import capacity, capacity_summary, land_balance, parcel_zone_types
from .buffers import sanitary_distance_m, sanitary_zones, water_protection
from .compliance import (
    FINDING_COLUMNS,
    SEVERITIES,
    ComplianceContext,
    Finding,
    compliance,
    compliance_summary,
)
from .errors import PlanError, PlanVersionError, RegulationError, UnknownZoneType
from .plan import Plan
from .regulations import (
    HAZARD_CLASSES,
    ZONE_TYPES,
    Regulation,
    Regulations,
    builtin_regulations_doc,
    load_regulations,
)
from .versions import PlanDiff, Rezone, SetRegulation
from .zones import ZoningRules, derive_zones, parcel_zones, rezone, zones_for_twin

__all__ = [
    "Plan",
    "PlanDiff",
    "Rezone",
    "SetRegulation",
    "ZONE_TYPES",
    "HAZARD_CLASSES",
    "Regulation",
    "Regulations",
    "load_regulations",
    "builtin_regulations_doc",
    "ZoningRules",
    "derive_zones",
    "zones_for_twin",
    "rezone",
    "parcel_zones",
    "sanitary_zones",
    "sanitary_distance_m",
    "water_protection",
    "Finding",
    "ComplianceContext",
    "compliance",
    "compliance_summary",
    "FINDING_COLUMNS",
    "SEVERITIES",
    "land_balance",
    "capacity",
    "capacity_summary",
    "parcel_zone_types",
    "PlanError",
    "RegulationError",
    "UnknownZoneType",
    "PlanVersionError",
]
