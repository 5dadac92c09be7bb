"""schemathesis against /api/v1/schema/: generated requests for every operation, sent with an API key.

Bounded: a fixed number of derandomised examples per operation and generation
mode (valid and invalid inputs), so CI runs the same cases every time. Checks:
no 5xx, every status documented, every body and content type as the schema says.
Hypothesis drives each operation's strategy directly (schemathesis' pytest
plugin does not run under this pytest).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30


@pytest.fixture
def api_schema(settings):
    # Rates are another test's subject; here every generated request must reach its view.
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "API_THROTTLE_RATES": {}}
    # As Django's test client does: the end of a request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_schema_lists_the_search_endpoints(api_schema):
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert {"GET /api/v1/products/{pk}/similar/", "POST /api/v1/search/image/"} <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_its_schema_says(api_schema, api_key, mode):
    headers = {"Authorization": f"Api-Key {api_key}"}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
