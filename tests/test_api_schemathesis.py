"""A bounded schemathesis run over /openapi.json: whatever it sends, no answer is a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.settings import Settings
from tests.test_vector_tiles import grid_twin

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(gc_freeze=False, warm=["none"]), twin=grid_twin(20, 10)))


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        ct = response.headers.get("content-type") or [""]
        ct = ct[0] if isinstance(ct, list) else ct
        assert ct == "application/problem+json", (response.status_code, response.text)
