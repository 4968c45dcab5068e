"""Steward corrections over HTTP against the real PostgreSQL: overrides, blacklist, erasure, dead letters."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hub.api.app import create_api
from hub.bootstrap import Hub
from hub.service import replay as replay_module
from hub.service.intake import InboundMessage
from hub.streams.worker import process_message
from tests.integration.helpers import customer_events, deliver, rows
from tests.messages import crm_organisation, encode, envelope

TOKENS = "vera:v-token=viewer,ana:s-token=steward,sam:s2-token=steward,ops:a-token=admin"
VIEWER = {"Authorization": "Bearer v-token"}
STEWARD = {"Authorization": "Bearer s-token"}
ADMIN = {"Authorization": "Bearer a-token"}


def _client(hub: Hub, **settings: Any) -> TestClient:
    wired = replace(hub, settings=hub.settings.model_copy(update={"api_tokens": TOKENS, **settings}))
    return TestClient(create_api(wired))


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with _client(hub) as test_client:
        yield test_client


def _organisation(hub: Hub, ref: str, name: str, **extra: Any) -> str:
    deliver(hub, "crm", envelope("crm", ref, crm_organisation(name, **extra)))
    return str(customer_events(hub.engine)[-1]["golden_id"])


def _version(client: TestClient, golden_id: str) -> int:
    return int(client.get(f"/customers/{golden_id}", headers=VIEWER).json()["version"])


def test_an_override_wins_over_the_sources_until_removed_and_both_are_audited(
    hub: Hub, client: TestClient
) -> None:
    golden_id = _organisation(hub, "O-1", "Orchid Trading Sdn Bhd")
    response = client.put(
        f"/customers/{golden_id}/overrides/legal_name",
        json={"value": "Orchid Trading Sdn. Bhd.", "reason": "name as registered", "version": 1},
        headers=STEWARD,
    )
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2

    detail = client.get(f"/customers/{golden_id}", headers=VIEWER).json()
    assert detail["customer"]["legal_name"] == "Orchid Trading Sdn. Bhd."
    assert detail["lineage"]["legal_name"]["source"] == "steward"
    assert detail["overrides"][0]["attribute"] == "legal_name"

    # a later source update does not displace the steward's value
    deliver(hub, "crm", envelope("crm", "O-1", crm_organisation("Orchid Trading"), minutes=5))
    assert client.get(f"/customers/{golden_id}", headers=VIEWER).json()["customer"]["legal_name"] == (
        "Orchid Trading Sdn. Bhd."
    )
    version = _version(client, golden_id)
    removed = client.delete(
        f"/customers/{golden_id}/overrides/legal_name?reason=registry%20fixed",
        headers={**STEWARD, "If-Match": str(version)},
    )
    assert removed.status_code == 200, removed.json()
    assert customer_events(hub.engine, golden_id)[-1]["customer"]["legal_name"] == "Orchid Trading"
    audit = rows(hub.engine, "SELECT actor, action, reason FROM audit_log ORDER BY id")
    assert [(a.actor, a.action, a.reason) for a in audit] == [
        ("ana", "override.set", "name as registered"),
        ("ana", "override.remove", "registry fixed"),
    ]


def test_an_invalid_or_unknown_override_is_refused_with_a_code_and_changes_nothing(
    hub: Hub, client: TestClient
) -> None:
    golden_id = _organisation(hub, "O-2", "Lotus Ltd")
    cases = [
        ("status", "asleep", "invalid_override"),
        ("emails", ["not-an-email"], "invalid_email"),
        ("golden_id", "CUS-1", "attribute_not_overridable"),
        ("credit.limit", "-5", "invalid_override"),
    ]
    for attribute, value, code in cases:
        response = client.put(
            f"/customers/{golden_id}/overrides/{attribute}",
            json={"value": value, "reason": "try", "version": 1},
            headers=STEWARD,
        )
        assert (response.status_code, response.json()["code"]) == (422, code), attribute
    assert _version(client, golden_id) == 1
    stale = client.put(
        f"/customers/{golden_id}/overrides/legal_name",
        json={"value": "Lotus", "reason": "try", "version": 9},
        headers=STEWARD,
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")
    missing = client.delete(
        f"/customers/{golden_id}/overrides/legal_name?reason=x&version=1", headers=STEWARD
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "override_not_found")
    nonsense = client.delete(f"/customers/{golden_id}/overrides/nonsense?reason=x&version=1", headers=STEWARD)
    assert (nonsense.status_code, nonsense.json()["code"]) == (422, "attribute_not_overridable")
    no_reason = client.delete(f"/customers/{golden_id}/overrides/legal_name?version=1", headers=STEWARD)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["path"] == "query.reason"


def test_a_nul_character_anywhere_in_a_request_is_refused_with_its_place_and_changes_nothing(
    hub: Hub, client: TestClient
) -> None:
    golden_id = _organisation(hub, "O-1", "Orchid Trading Sdn Bhd")

    query = client.get("/dead-letters?error_code=%00&source_topic=crm", headers=VIEWER)
    assert query.status_code == 422
    assert query.headers["content-type"] == "application/problem+json"
    assert query.json()["errors"] == [
        {"path": "query.error_code", "message": "must not contain the NUL character (U+0000)"}
    ]

    path = client.get("/customers/G%00", headers=VIEWER)
    assert path.status_code == 422
    assert path.json()["errors"][0]["path"] == "path"

    body = client.put(
        f"/customers/{golden_id}/overrides/legal_name",
        json={"value": "Orchid\u0000Trading", "reason": "typo\u0000", "version": 1},
        headers=STEWARD,
    )
    assert body.status_code == 422, body.json()
    assert body.json()["code"] == "invalid_request"
    assert [e["path"] for e in body.json()["errors"]] == ["body.value", "body.reason"]
    assert _version(client, golden_id) == 1


@pytest.mark.parametrize(
    ("attribute", "value", "path"),
    [
        ("legal_name", "Half \ud800 Surrogate", "body.value"),
        ("category", "A\u0000B", "body.value"),
        ("phones", ["+60312345678\u0000"], "body.value"),
    ],
)
def test_an_override_value_postgresql_cannot_store_is_refused_at_its_field_and_changes_nothing(
    hub: Hub, client: TestClient, attribute: str, value: Any, path: str
) -> None:
    golden_id = _organisation(hub, "O-2", "Lotus Trading Sdn Bhd")

    response = client.put(
        f"/customers/{golden_id}/overrides/{attribute}",
        # JSON escapes a lone surrogate as `\ud800`, as a client would send it
        content=json.dumps({"value": value, "reason": "a correction", "version": 1}),
        headers={**STEWARD, "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["path"] == path
    assert _version(client, golden_id) == 1


def test_a_blank_reason_is_refused_because_every_change_is_audited_with_one(
    hub: Hub, client: TestClient
) -> None:
    golden_id = _organisation(hub, "O-3", "Jasmine Trading Sdn Bhd")

    put = client.put(
        f"/customers/{golden_id}/overrides/category",
        json={"value": "retail", "reason": "   ", "version": 1},
        headers=STEWARD,
    )
    delete = client.delete(f"/customers/{golden_id}/overrides/category?reason=%20&version=1", headers=STEWARD)

    assert put.status_code == 422 and put.json()["errors"][0]["path"] == "body.reason"
    assert delete.status_code == 422 and delete.json()["errors"][0]["path"] == "query.reason"
    assert _version(client, golden_id) == 1


def test_the_walk_in_customer_is_never_overridden_merged_or_blacklisted(hub: Hub, client: TestClient) -> None:
    other = _organisation(hub, "O-4", "Kenanga Trading Sdn Bhd")
    attempts = [
        client.put(
            "/customers/CASH/overrides/legal_name",
            json={"value": "X", "reason": "r", "version": 1},
            headers=STEWARD,
        ),
        client.post(
            "/customers/CASH/merge", json={"other_ids": [other], "reason": "r", "version": 1}, headers=STEWARD
        ),
        client.post("/customers/CASH/blacklist", json={"reason": "r", "version": 1}, headers=ADMIN),
        client.post(
            f"/customers/{other}/merge",
            json={"other_ids": ["CASH"], "reason": "r", "version": 1},
            headers=STEWARD,
        ),
    ]

    assert [a.json()["code"] for a in attempts] == [
        "walk_in_customer",
        "walk_in_customer",
        "walk_in_customer",
        "walk_in_customer",
    ]
    assert rows(hub.engine, "SELECT count(*) AS n FROM audit_log")[0].n == 0
    assert _version(client, other) == 1


def test_a_merge_naming_a_retired_record_is_refused_rather_than_merging_its_survivor(
    hub: Hub, client: TestClient
) -> None:
    first = _organisation(hub, "O-5", "Melati Trading Sdn Bhd")
    second = _organisation(hub, "O-6", "Seroja Logistics Sdn Bhd")
    third = _organisation(hub, "O-7", "Cempaka Foods Sdn Bhd")
    merged = client.post(
        f"/customers/{first}/merge",
        json={"other_ids": [second], "reason": "same", "version": 1},
        headers=STEWARD,
    )
    assert merged.status_code == 200, merged.text

    response = client.post(
        f"/customers/{third}/merge",
        json={"other_ids": [second], "reason": "same", "version": 1},
        headers=STEWARD,
    )

    assert response.status_code == 422
    assert response.json()["code"] == "not_mergeable"
    assert f"was merged into {first}" in response.json()["detail"]
    assert _version(client, third) == 1


def test_only_an_admin_blacklists_and_the_customer_event_says_so(hub: Hub, client: TestClient) -> None:
    golden_id = _organisation(hub, "B-1", "Shady Imports Ltd")
    body = {"reason": "fraud confirmed", "version": 1}
    assert client.post(f"/customers/{golden_id}/blacklist", json=body, headers=STEWARD).status_code == 403
    response = client.post(f"/customers/{golden_id}/blacklist", json=body, headers=ADMIN)
    assert response.status_code == 200, response.json()
    assert customer_events(hub.engine, golden_id)[-1]["customer"]["blacklisted"] is True
    again = client.post(f"/customers/{golden_id}/blacklist", json={**body, "version": 2}, headers=ADMIN)
    assert (again.status_code, again.json()["code"]) == (409, "blacklist_unchanged")

    off = client.delete(f"/customers/{golden_id}/blacklist?reason=cleared&version=2", headers=ADMIN)
    assert off.status_code == 200, off.json()
    assert customer_events(hub.engine, golden_id)[-1]["customer"]["blacklisted"] is False


PERSONAL = {
    "first_name": "Wilhelmina",
    "last_name": "Oyelaran-Quist",
    "email": "wilhelmina.oq@mailbox.example",
    "phone": "+6591234567",
    "line1": "77 Cairnhill Circle",
    "dob": "1984-02-29",
}


def _person_payload(**extra: Any) -> dict[str, Any]:
    return {
        "party_type": "person",
        "first_name": PERSONAL["first_name"],
        "last_name": PERSONAL["last_name"],
        "date_of_birth": PERSONAL["dob"],
        "status": "active",
        "emails": [PERSONAL["email"]],
        "phones": [PERSONAL["phone"]],
        "addresses": [
            {
                "kind": "home",
                "line1": PERSONAL["line1"],
                "city": "Singapore",
                "postal_code": "229800",
                "country": "SG",
            }
        ],
        **extra,
    }


def _text_of_every_column(hub: Hub) -> str:
    """Dump every text, JSON and bytea column of every hub table as one lower-cased string."""
    columns = rows(
        hub.engine,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type IN ('text', 'jsonb', 'bytea') "
        "AND table_name <> 'alembic_version'",
    )
    chunks: list[str] = []
    with hub.engine.connect() as conn:
        for c in columns:
            for (stored,) in conn.execute(text(f'SELECT "{c.column_name}" FROM "{c.table_name}"')):
                if isinstance(stored, bytes | memoryview):
                    chunks.append(bytes(stored).decode("utf-8", "replace"))
                else:
                    chunks.append(stored if isinstance(stored, str) else json.dumps(stored))
    return "\n".join(chunks).lower()


def test_erasure_leaves_no_personal_value_anywhere_and_a_later_message_is_new_data(
    hub: Hub, client: TestClient
) -> None:
    deliver(hub, "crm", envelope("crm", "P-1", _person_payload()))
    # the same person from e-commerce, merged in, and a dead letter about the same record
    deliver(hub, "crm", envelope("crm", "P-1", _person_payload(language="en"), minutes=2))
    bad = envelope("crm", "P-1", {**_person_payload(), "date_of_birth": "29/02/1984"}, minutes=3)
    deliver(hub, "crm", bad, offset=9)
    golden_id = str(customer_events(hub.engine)[0]["golden_id"])
    version = _version(client, golden_id)
    client.put(
        f"/customers/{golden_id}/overrides/last_name",
        json={"value": "Oyelaran-Quist", "reason": "spelling", "version": version},
        headers=STEWARD,
    )
    before = _text_of_every_column(hub)
    assert all(v.lower() in before for v in PERSONAL.values()), "the test data is not stored as expected"

    version = _version(client, golden_id)
    steward = client.post(
        f"/customers/{golden_id}/erase", json={"reason": "gdpr", "version": version}, headers=STEWARD
    )
    assert steward.status_code == 403
    response = client.post(
        f"/customers/{golden_id}/erase",
        json={"reason": "GDPR request 2026-118", "version": version},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.json()

    after = _text_of_every_column(hub)
    left = [name for name, value in PERSONAL.items() if value.lower() in after]
    assert left == [], f"personal values left after erasure: {left}"
    last = customer_events(hub.engine, golden_id)[-1]
    assert (last["event_type"], last["customer"]) == ("customer.erased", None)
    assert client.get(f"/customers/{golden_id}", headers=VIEWER).json()["state"] == "erased"
    audit = rows(hub.engine, "SELECT before FROM audit_log WHERE action = 'erase'")[0]
    assert "first_name" in audit.before["fields"]

    deliver(hub, "crm", envelope("crm", "P-1", _person_payload(), minutes=10))
    newest = customer_events(hub.engine)[-1]
    assert newest["event_type"] == "customer.created" and newest["golden_id"] != golden_id


def test_a_dead_letter_is_listed_and_replayed_after_the_fix_exactly_once(hub: Hub) -> None:
    small = replace(hub, settings=hub.settings.model_copy(update={"max_message_bytes": 200}))
    document = envelope("crm", "D-1", crm_organisation("Replay Works Ltd"))
    deliver(small, "crm", document, offset=41)
    with _client(hub, max_message_bytes=200) as strict, _client(hub) as fixed:
        listed = fixed.get("/dead-letters", headers=VIEWER).json()["items"]
        assert [(d["error_code"], d["offset"]) for d in listed] == [("payload_too_large", 41)]
        assert base64.b64decode(listed[0]["value_b64"]) == encode(document)
        letter = listed[0]["id"]

        body = {"reason": "limit raised"}
        assert fixed.post(f"/dead-letters/{letter}/replay", json=body, headers=STEWARD).status_code == 403
        still = strict.post(f"/dead-letters/{letter}/replay", json=body, headers=ADMIN)
        assert (still.status_code, still.json()["error_code"]) == (422, "payload_too_large")

        replayed = fixed.post(f"/dead-letters/{letter}/replay", json=body, headers=ADMIN)
        assert replayed.json() == {"id": letter, "outcome": "applied"}
        again = fixed.post(f"/dead-letters/{letter}/replay", json=body, headers=ADMIN)
        assert (again.status_code, again.json()["code"]) == (409, "already_replayed")
        assert fixed.get("/dead-letters", headers=VIEWER).json()["items"] == []
        assert (
            fixed.get("/dead-letters?status=replayed", headers=VIEWER).json()["items"][0]["replayed_by"]
            == "ops"
        )
    assert [e["customer"]["legal_name"] for e in customer_events(hub.engine)] == ["Replay Works Ltd"]


def test_a_letter_whose_message_was_sent_again_corrected_replays_as_a_duplicate_and_an_admin_deletes_one(
    hub: Hub,
) -> None:
    bad = envelope("crm", "D-2", crm_organisation("Corrected Later Ltd", credit={"limit": 1.5}))
    assert deliver(hub, "crm", bad, offset=51) == "dead_lettered"
    corrected = {**bad, "payload": crm_organisation("Corrected Later Ltd")}  # the same message_id, fixed
    assert deliver(hub, "crm", corrected, offset=52) == "applied"
    superseded = envelope("crm", "D-3", crm_organisation("Superseded Ltd", credit={"limit": 2.5}))
    assert deliver(hub, "crm", superseded, offset=53) == "dead_lettered"

    with _client(hub) as client:
        letters = client.get("/dead-letters", headers=VIEWER).json()["items"]
        first, second = (d["id"] for d in letters)
        body = {"reason": "the source sent it again"}
        assert client.get(f"/dead-letters/{first}", headers=VIEWER).json()["status"] == "open"
        replayed = client.post(f"/dead-letters/{first}/replay", json=body, headers=ADMIN)
        assert replayed.json() == {"id": first, "outcome": "duplicate"}
        shown = client.get(f"/dead-letters/{first}", headers=VIEWER).json()
        assert (shown["status"], shown["replay_outcome"], shown["replayed_by"]) == (
            "replayed",
            "duplicate",
            "ops",
        )

        steward = client.delete(f"/dead-letters/{second}?reason=superseded", headers=STEWARD)
        assert steward.status_code == 403
        no_reason = client.delete(f"/dead-letters/{second}", headers=ADMIN)
        assert no_reason.status_code == 422
        deleted = client.delete(f"/dead-letters/{second}?reason=a later message superseded it", headers=ADMIN)
        assert deleted.json() == {"id": second, "deleted": True}
        gone = client.delete(f"/dead-letters/{second}?reason=again", headers=ADMIN)
        assert (gone.status_code, gone.json()["code"]) == (404, "dead_letter_not_found")
        missing = client.get(f"/dead-letters/{second}", headers=VIEWER)
        assert (missing.status_code, missing.json()["code"]) == (404, "dead_letter_not_found")
        assert client.get("/dead-letters", headers=VIEWER).json()["items"] == []
    actions = [r.action for r in rows(hub.engine, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["dead_letter.replay", "dead_letter.delete"]
    assert len(customer_events(hub.engine)) == 1  # the replay applied nothing twice


def test_replay_all_applies_what_is_fixed_and_reports_what_is_still_invalid(hub: Hub) -> None:
    small = replace(hub, settings=hub.settings.model_copy(update={"max_message_bytes": 200}))
    deliver(small, "crm", envelope("crm", "R-1", crm_organisation("First Replay Ltd")), offset=1)
    deliver(hub, "crm", envelope("crm", "R-2", {"party_type": "organization"}), raw=b"{oops", offset=2)
    with _client(hub) as client:
        result = client.post("/dead-letters/replay", json={"reason": "limit raised"}, headers=ADMIN).json()
    assert result["outcomes"] == {"applied": 1, "still_invalid": 1}
    assert rows(hub.engine, "SELECT count(*) AS n FROM dead_letter WHERE replayed_at IS NULL")[0].n == 1


def test_replaying_an_exposure_whose_customer_is_still_unknown_leaves_the_letter_open(hub: Hub) -> None:
    payload = {
        "customer": {"golden_id": "CUS-9999999"},
        "outstanding": "10.00",
        "currency": "MYR",
        "as_of": "2026-11-20T09:00:00Z",
    }
    message = InboundMessage(
        hub.settings.source_topics["ar"], 0, 7, b"AR-404", encode(envelope("ar", "AR-404", payload))
    )
    assert process_message(hub, "ar", message) == "dead_lettered"
    with _client(hub) as client:
        [letter] = client.get("/dead-letters", headers=VIEWER).json()["items"]
        one = client.post(f"/dead-letters/{letter['id']}/replay", json={"reason": "try"}, headers=ADMIN)
        every = client.post("/dead-letters/replay", json={"reason": "try"}, headers=ADMIN).json()

    assert (one.status_code, one.json()["code"]) == (422, "still_unidentifiable")
    assert every["outcomes"] == {"still_unidentifiable": 1}
    assert rows(hub.engine, "SELECT count(*) AS n FROM dead_letter WHERE replayed_at IS NULL")[0].n == 1


def test_a_replay_the_hub_still_fails_on_is_a_problem_and_the_letter_stays_open(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = replace(hub, settings=hub.settings.model_copy(update={"max_message_bytes": 200}))
    deliver(small, "crm", envelope("crm", "F-1", crm_organisation("Failing Replay Ltd")), offset=3)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise ArithmeticError("a bug this message still hits")

    monkeypatch.setattr(replay_module, "apply_message", fail)
    with _client(hub) as client:
        [letter] = client.get("/dead-letters", headers=VIEWER).json()["items"]
        one = client.post(f"/dead-letters/{letter['id']}/replay", json={"reason": "try"}, headers=ADMIN)
        every = client.post("/dead-letters/replay", json={"reason": "try"}, headers=ADMIN)

    assert (one.status_code, one.json()["code"]) == (422, "replay_failed")
    assert one.headers["content-type"] == "application/problem+json"
    assert (every.status_code, every.json()["outcomes"]) == (200, {"replay_failed": 1})
    assert rows(hub.engine, "SELECT count(*) AS n FROM dead_letter WHERE replayed_at IS NULL")[0].n == 1
    assert customer_events(hub.engine) == []


def test_a_dead_letter_filter_naming_no_known_code_or_topic_is_refused_rather_than_matching_nothing(
    hub: Hub,
) -> None:
    with _client(hub) as client:
        code = client.get("/dead-letters?error_code=bogus", headers=VIEWER)
        topic = client.get("/dead-letters?source_topic=nope", headers=VIEWER)
        bulk = client.post(
            "/dead-letters/replay", json={"reason": "r", "source_topic": "nope"}, headers=ADMIN
        )
        known = client.get(f"/dead-letters?source_topic={hub.settings.source_topics['crm']}", headers=VIEWER)

    assert (code.status_code, code.json()["errors"][0]["path"]) == (422, "query.error_code")
    assert (topic.status_code, topic.json()["errors"][0]["path"]) == (422, "query.source_topic")
    assert (bulk.status_code, bulk.json()["errors"][0]["path"]) == (422, "body.source_topic")
    assert known.status_code == 200


def test_metrics_show_open_reviews_and_request_latency_per_route(hub: Hub, client: TestClient) -> None:
    client.get("/customers?q=anything", headers=VIEWER)
    body = client.get("/metrics").text
    assert "hub_open_reviews 0" in body
    assert 'hub_http_request_duration_seconds_count{method="GET",route="/customers",status="2xx"} 1' in body


def test_a_merge_naming_an_unknown_record_is_404_and_a_version_must_be_one_whole_number(
    hub: Hub, client: TestClient
) -> None:
    survivor = _organisation(hub, "O-8", "Kenanga Textiles Sdn Bhd")
    other = _organisation(hub, "O-9", "Teratai Printing Sdn Bhd")

    def merge(other_ids: list[str], version: object, **headers: str) -> tuple[int, str]:
        response = client.post(
            f"/customers/{survivor}/merge",
            json={"other_ids": other_ids, "reason": "same", "version": version},
            headers={**STEWARD, **headers},
        )
        return response.status_code, response.json()["code"]

    assert merge(["CUS-9999999"], 1) == (404, "customer_not_found")
    assert merge([other], True)[0] == 422
    assert merge([other], 1e3)[0] == 422
    assert merge([other], 99, **{"If-Match": "1"}) == (400, "conflicting_versions")
    assert _version(client, survivor) == 1 and _version(client, other) == 1
