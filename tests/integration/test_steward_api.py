"""The steward API over HTTP, against the real PostgreSQL: roles, search, detail, history, reviews."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hub.api.app import create_api
from hub.bootstrap import Hub
from tests.integration.helpers import customer_events, deliver, rows
from tests.messages import crm_organisation, envelope

TOKENS = "vera:v-token=viewer,ana:s-token=steward,ops:a-token=admin"
VIEWER = {"Authorization": "Bearer v-token"}
STEWARD = {"Authorization": "Bearer s-token"}
ADMIN = {"Authorization": "Bearer a-token"}
HOME = {
    "kind": "home",
    "line1": "12 Jalan Ampang",
    "city": "Kuala Lumpur",
    "postal_code": "50450",
    "country": "MY",
}


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    wired = replace(hub, settings=hub.settings.model_copy(update={"api_tokens": TOKENS}))
    with TestClient(create_api(wired)) as test_client:
        yield test_client


def person(first: str, last: str, **extra: object) -> dict[str, object]:
    return {"party_type": "person", "first_name": first, "last_name": last, "status": "active", **extra}


def test_without_a_token_every_data_endpoint_answers_401_as_a_problem(client: TestClient) -> None:
    for path in ("/customers?q=abc", "/customers/CUS-0000001", "/reviews"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unauthenticated"
    assert client.get("/customers?q=abc", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/healthz").status_code == 200


def test_a_viewer_may_read_but_not_decide_a_review(hub: Hub, client: TestClient) -> None:
    response = client.post(
        "/reviews/1/decision", json={"decision": "merge", "reason": "same"}, headers=VIEWER
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_customers_are_found_by_name_email_phone_tax_id_golden_id_and_source_reference(
    hub: Hub, client: TestClient
) -> None:
    deliver(
        hub,
        "crm",
        envelope(
            "crm",
            "A-1",
            crm_organisation(
                "Novo Handel A/S",
                vat=("dk_cvr", "13585628"),
                emails=["Sales@Novo.example"],
                phones=["+45 33 12 34 56"],
            ),
        ),
    )
    golden_id = customer_events(hub.engine)[0]["golden_id"]

    queries = [
        "q=novo handel",
        "q=nvo handl",
        "email=sales@novo.example",
        "phone=33123456&country=DK",
        "tax_id=DK 13 58 56 28",
        "tax_id=13585628&scheme=dk_cvr",
        "tax_id=13585628&country=dk",
        "tax_id=13585628",  # a bare number: read as every country's VAT number it is valid as
        f"golden_id={golden_id}",
        "source=crm&source_record_id=A-1",
    ]
    for query in queries:
        response = client.get(f"/customers?{query}", headers=VIEWER)
        assert response.status_code == 200, (query, response.json())
        assert [c["golden_id"] for c in response.json()["items"]] == [golden_id], query


def test_a_search_needs_exactly_one_criterion_and_valid_values(client: TestClient) -> None:
    assert client.get("/customers", headers=VIEWER).json()["code"] == "one_criterion"
    assert client.get("/customers?email=x&q=ab", headers=VIEWER).status_code == 422
    response = client.get("/customers?email=not-an-email", headers=VIEWER)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_email")
    response = client.get("/customers?limit=1000&q=ab", headers=VIEWER)
    assert response.status_code == 422 and response.json()["errors"][0]["path"] == "query.limit"
    response = client.get("/customers?email=a@b.example&after=garbage", headers=VIEWER)
    assert response.status_code == 422 and response.json()["errors"][0]["path"] == "query.after"


def test_a_golden_record_shows_its_sources_lineage_and_history_and_404s_when_unknown(
    hub: Hub, client: TestClient
) -> None:
    deliver(hub, "crm", envelope("crm", "H-1", crm_organisation("History Ltd", phones=["12"])))
    golden_id = customer_events(hub.engine)[0]["golden_id"]

    detail = client.get(f"/customers/{golden_id}", headers=VIEWER).json()
    assert detail["customer"]["legal_name"] == "History Ltd"
    assert detail["source_records"][0]["source_record_id"] == "H-1"
    assert detail["lineage"]["legal_name"]["source_record_id"] == "H-1"
    assert detail["data_quality"]["issues"][0]["code"] == "invalid_phone"
    history = client.get(f"/customers/{golden_id}/history", headers=VIEWER).json()
    assert [v["event_type"] for v in history["versions"]] == ["customer.created"]
    assert history["decisions"][0]["explanation"]["outcome"] == "new"
    missing = client.get("/customers/CUS-9999999", headers=VIEWER)
    assert (missing.status_code, missing.json()["code"]) == (404, "customer_not_found")


def test_a_steward_merges_a_review_and_the_retired_id_redirects_to_the_survivor(
    hub: Hub, client: TestClient
) -> None:
    deliver(hub, "crm", envelope("crm", "Q-1", person("Ravi", "Kumar", addresses=[HOME])))
    deliver(hub, "crm", envelope("crm", "Q-2", person("Ravi", "Kumar"), minutes=1))
    [review] = client.get("/reviews", headers=VIEWER).json()["items"]

    detail = client.get(f"/reviews/{review['id']}", headers=VIEWER).json()
    assert (
        detail["record"]["customer"]["last_name"] == detail["candidate"]["customer"]["last_name"] == "Kumar"
    )
    assert {c["comparison"] for c in detail["evidence"]["comparisons"]} >= {"person_name", "address"}
    assert "total_weight" in detail["evidence"]

    stale = client.post(
        f"/reviews/{review['id']}/decision",
        json={"decision": "merge", "reason": "same", "candidate_version": detail["candidate"]["version"] + 1},
        headers=STEWARD,
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")
    stale = client.post(
        f"/reviews/{review['id']}/decision",
        json={"decision": "merge", "reason": "same"},
        headers={**STEWARD, "If-Match": str(detail["record"]["version"] + 1)},
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")
    decided = client.post(
        f"/reviews/{review['id']}/decision",
        json={
            "decision": "merge",
            "reason": "same loyalty customer",
            "version": detail["record"]["version"],
            "candidate_version": detail["candidate"]["version"],
        },
        headers=STEWARD,
    )
    assert decided.status_code == 200, decided.json()
    survivor = decided.json()["survivor_id"]
    retired = (
        review["golden_id"] if survivor == review["candidate_golden_id"] else review["candidate_golden_id"]
    )
    assert customer_events(hub.engine, survivor)[-1]["event_type"] == "customer.merged"
    redirect = client.get(f"/customers/{retired}", headers=VIEWER, follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (308, f"/customers/{survivor}")
    [audit] = rows(hub.engine, "SELECT actor, action, reason FROM audit_log")
    assert tuple(audit) == ("ana", "review.merge", "same loyalty customer")

    again = client.post(
        f"/reviews/{review['id']}/decision", json={"decision": "merge", "reason": "x"}, headers=STEWARD
    )
    assert (again.status_code, again.json()["code"]) == (409, "review_closed")


def test_a_pair_marked_distinct_is_never_linked_automatically_again(hub: Hub, client: TestClient) -> None:
    deliver(hub, "crm", envelope("crm", "Z-1", person("Mei", "Tan", addresses=[HOME])))
    deliver(hub, "crm", envelope("crm", "Z-2", person("Mei", "Tan"), minutes=1))
    [review] = client.get("/reviews", headers=VIEWER).json()["items"]

    response = client.post(
        f"/reviews/{review['id']}/decision", json={"decision": "distinct", "reason": "twins"}, headers=STEWARD
    )
    assert response.json()["status"] == "distinct"

    deliver(
        hub,
        "crm",
        envelope("crm", "Z-2", person("Mei", "Tan", addresses=[HOME], date_of_birth="1990-01-01"), minutes=2),
    )
    rows_now = rows(
        hub.engine, "SELECT DISTINCT golden_id FROM source_record WHERE source_record_id LIKE 'Z-%'"
    )
    assert len(rows_now) == 2


def test_a_decision_without_a_reason_is_rejected_with_the_field_path(client: TestClient) -> None:
    response = client.post("/reviews/1/decision", json={"decision": "merge"}, headers=STEWARD)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "body.reason"


def _two_companies(hub: Hub) -> tuple[str, str]:
    deliver(hub, "crm", envelope("crm", "MM-1", crm_organisation("Alpha Trading Pte Ltd")))
    deliver(hub, "crm", envelope("crm", "MM-2", crm_organisation("Omega Logistics GmbH"), minutes=1))
    first = customer_events(hub.engine)[0]["golden_id"]
    second = customer_events(hub.engine)[1]["golden_id"]
    return first, second


def test_a_merge_needs_the_version_it_was_based_on(hub: Hub, client: TestClient) -> None:
    first, second = _two_companies(hub)
    body = {"other_ids": [second], "reason": "one company"}

    missing = client.post(f"/customers/{first}/merge", json=body, headers=STEWARD)
    assert (missing.status_code, missing.json()["code"]) == (428, "version_required")
    stale = client.post(f"/customers/{first}/merge", json=body, headers={**STEWARD, "If-Match": "7"})
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")
    assert customer_events(hub.engine, second)[-1]["event_type"] == "customer.created"  # nothing changed


def test_a_steward_merges_by_hand_and_unmerges_again(hub: Hub, client: TestClient) -> None:
    first, second = _two_companies(hub)

    merged = client.post(
        f"/customers/{first}/merge",
        json={"other_ids": [second], "reason": "one company", "version": 1},
        headers=STEWARD,
    )
    assert merged.status_code == 200, merged.json()
    assert merged.json()["merged_ids"] == [second]
    assert customer_events(hub.engine, first)[-1]["event_type"] == "customer.merged"
    version = merged.json()["version"]

    split = client.post(
        f"/customers/{first}/unmerge",
        json={
            "source_refs": [{"source": "crm", "source_record_id": "MM-2"}],
            "reason": "two companies after all",
        },
        headers={**STEWARD, "If-Match": f'"{version}"'},
    )
    assert split.status_code == 200, split.json()
    new_id = split.json()["split_into"]
    assert customer_events(hub.engine, first)[-1]["event_type"] == "customer.unmerged"
    assert customer_events(hub.engine, new_id)[-1]["customer"]["legal_name"] == "Omega Logistics GmbH"
    actions = [r.action for r in rows(hub.engine, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["merge", "unmerge"]


def test_an_unmerge_of_a_record_not_attached_is_refused_with_a_code(hub: Hub, client: TestClient) -> None:
    first, _ = _two_companies(hub)
    response = client.post(
        f"/customers/{first}/unmerge",
        json={"source_refs": [{"source": "crm", "source_record_id": "MM-2"}], "reason": "x", "version": 1},
        headers=STEWARD,
    )
    assert (response.status_code, response.json()["code"]) == (422, "not_attached")
    assert (
        client.post(
            f"/customers/{first}/merge",
            json={"other_ids": ["x"], "reason": "x", "version": 1},
            headers=VIEWER,
        ).status_code
        == 403
    )


def test_the_review_queue_filters_by_golden_record_source_and_likelihood(
    hub: Hub, client: TestClient
) -> None:
    deliver(hub, "crm", envelope("crm", "F-1", person("Ravi", "Kumar", addresses=[HOME])))
    deliver(hub, "crm", envelope("crm", "F-2", person("Ravi", "Kumar"), minutes=1))
    deliver(hub, "crm", envelope("crm", "F-3", person("Mei", "Tan", addresses=[HOME])))
    deliver(hub, "crm", envelope("crm", "F-4", person("Mei", "Tan"), minutes=1))
    every = client.get("/reviews", headers=VIEWER).json()["items"]
    assert len(every) == 2
    first = every[0]
    mine = client.get(f"/reviews?golden_id={first['candidate_golden_id']}", headers=VIEWER).json()["items"]
    assert [r["id"] for r in mine] == [first["id"]]
    assert client.get("/reviews?source=pos", headers=VIEWER).json()["items"] == []
    assert client.get("/reviews?min_probability=1", headers=VIEWER).json()["items"] == []


def test_a_merge_closes_the_reviews_of_the_record_it_retires_and_none_is_decided_on_retired_records(
    hub: Hub, client: TestClient
) -> None:
    deliver(hub, "crm", envelope("crm", "R-1", person("Siti", "Rahman", addresses=[HOME])))
    deliver(hub, "crm", envelope("crm", "R-2", person("Siti", "Rahman"), minutes=1))
    [review] = client.get("/reviews", headers=VIEWER).json()["items"]
    deliver(hub, "crm", envelope("crm", "R-3", crm_organisation("Unrelated Trading Sdn Bhd"), minutes=2))
    third = customer_events(hub.engine)[-1]["golden_id"]
    version = client.get(f"/customers/{third}", headers=VIEWER).json()["version"]

    merged = client.post(
        f"/customers/{third}/merge",
        json={"other_ids": [review["candidate_golden_id"]], "reason": "say so", "version": version},
        headers=STEWARD,
    )
    assert merged.status_code == 200, merged.json()
    assert client.get("/reviews", headers=VIEWER).json()["items"] == []
    [(status,)] = rows(hub.engine, "SELECT status FROM match_review")
    assert status == "superseded"

    with hub.engine.begin() as conn:  # a review an older hub left open against a record since retired
        conn.execute(text("UPDATE match_review SET status = 'open', resolved_at = NULL"))
    refused = client.post(
        f"/reviews/{review['id']}/decision", json={"decision": "merge", "reason": "x"}, headers=STEWARD
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "review_outdated")
    assert f"merged into {third}" in refused.json()["detail"]
    assert customer_events(hub.engine, review["golden_id"])[-1]["event_type"] == "customer.created"


def test_the_reviews_of_a_record_deleted_at_its_source_or_erased_close(hub: Hub, client: TestClient) -> None:
    deliver(hub, "crm", envelope("crm", "V-1", person("Lakshmi", "Narayanan", addresses=[HOME])))
    deliver(hub, "crm", envelope("crm", "V-2", person("Lakshmi", "Narayanan"), minutes=1))
    deliver(hub, "crm", envelope("crm", "V-3", person("Arjun", "Menon", addresses=[HOME]), minutes=2))
    deliver(hub, "crm", envelope("crm", "V-4", person("Arjun", "Menon"), minutes=3))
    first, second = client.get("/reviews", headers=VIEWER).json()["items"]

    deliver(hub, "crm", envelope("crm", "V-2", None, change="delete", minutes=4))
    erased = second["golden_id"]
    version = client.get(f"/customers/{erased}", headers=VIEWER).json()["version"]
    response = client.post(
        f"/customers/{erased}/erase", json={"reason": "GDPR request", "version": version}, headers=ADMIN
    )
    assert response.status_code == 200, response.json()

    assert client.get("/reviews", headers=VIEWER).json()["items"] == []
    every = client.get("/reviews?status=all", headers=VIEWER).json()["items"]
    assert {(r["id"], r["status"]) for r in every} == {
        (first["id"], "superseded"),
        (second["id"], "superseded"),
    }
