"""Schemathesis over the steward API's own OpenAPI schema, against the real database: no input gives a 5xx."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from hub.api.app import create_api
from hub.bootstrap import Hub
from tests.integration.helpers import deliver
from tests.messages import crm_organisation, envelope

ADMIN = {"Authorization": "Bearer a-token"}
#: CI tries the same examples every run; FUZZ_RANDOM=1 explores new ones (that found the NUL bug)
DERANDOMIZE = os.environ.get("FUZZ_RANDOM") != "1"


def test_no_request_the_schema_allows_makes_the_api_fail_with_a_5xx(hub: Hub, kafka_bootstrap: str) -> None:
    update = {"api_tokens": "ops:a-token=admin", "kafka_bootstrap_servers": kafka_bootstrap}
    wired = replace(hub, settings=hub.settings.model_copy(update=update))
    # something to find, merge, override and erase, so that the happy paths run too
    target = crm_organisation("Fuzz Target Ltd", vat=("dk_cvr", "13585628"))
    deliver(wired, "crm", envelope("crm", "F-1", target))
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_api(wired))
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, "the schema lost operations"

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case: Any) -> None:
            response = case.call(headers=ADMIN)
            content_type = (response.headers.get("content-type") or [""])[0]
            problem = content_type.startswith("application/problem+json")
            if response.status_code >= 500 or (response.status_code >= 400 and not problem):
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                )

        call()
    assert failures == []
