"""Request bodies of the score endpoints (pydantic lives only in ``api/``).

The models check the *shape* of a request (fields, types, sizes); whether an observation
makes sense (known unit and indicator, calendar month, finite value in range, the
indicator's measurement unit) is the domain's check, :func:`twin.score.observations.validate`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ObservationIn", "ObservationBatch", "MAX_BATCH", "inline_schema"]

#: Observations per POST; larger loads belong in ``twin`` (Python), not one HTTP request.
MAX_BATCH = 10_000

_Text = Annotated[str, Field(min_length=1, max_length=200)]


class ObservationIn(BaseModel):
    """One reported value of one indicator for one district or city in one month."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "unit_id": "north-district", "indicator": "avg_wage", "month": "2025-09",
        "value": 455.0, "unit": "thousand KZT", "source": "BNS"}]})

    unit_id: _Text = Field(description="District or city id (the 'districts' layer)")
    indicator: _Text = Field(description="Indicator id, as listed by GET /score")
    month: Annotated[str, Field(min_length=1, max_length=20,
                                description="Calendar month, YYYY-MM")]
    value: float
    unit: _Text = Field(description="The measurement unit; must be the indicator's (GET "
                        "/score lists each indicator's unit)")
    source: _Text = "api"
    synthetic: bool = False

    def record(self) -> dict:
        return self.model_dump()


class ObservationBatch(BaseModel):
    """Observations to ingest, all or nothing.

    Without ``upsert`` an observation whose unit, indicator and month are already stored
    is refused (409) and nothing is written; with ``upsert`` it replaces the stored value.
    """

    model_config = ConfigDict(extra="forbid")

    observations: Annotated[list[ObservationIn], Field(min_length=1, max_length=MAX_BATCH)]
    upsert: bool = False


def inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with its ``$defs`` inlined, for an ``openapi_extra``
    request body (whose ``#/$defs/...`` references OpenAPI could not resolve)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)
