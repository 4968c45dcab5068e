"""Credit status as master data, against the real PostgreSQL: exposure in, status events out, four eyes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stdnum.dk import cvr

from contracts.outbound import CreditStatusEvent
from hub.api.app import create_api
from hub.bootstrap import Hub
from hub.service.republish import republish_golden_records
from hub.store.uow import unit_of_work
from tests.integration.helpers import customer_events, dead_letter_events, deliver, rows
from tests.messages import crm_organisation, envelope

TOKENS = "vera:v-token=viewer,ana:s-token=steward,sam:s2-token=steward,ops:a-token=admin"
VIEWER = {"Authorization": "Bearer v-token"}
ANA = {"Authorization": "Bearer s-token"}
SAM = {"Authorization": "Bearer s2-token"}
ADMIN = {"Authorization": "Bearer a-token"}
VALID_CVRS = [f"{n:08d}" for n in range(10000000, 10002000) if cvr.is_valid(f"{n:08d}")]


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    wired = replace(
        hub,
        settings=hub.settings.model_copy(
            update={"api_tokens": TOKENS, "credit_approval_thresholds": "MYR=50000"}
        ),
    )
    with TestClient(create_api(wired)) as test_client:
        yield test_client


def statuses(hub: Hub, golden_id: str | None = None) -> list[dict[str, Any]]:
    found = rows(
        hub.engine, "SELECT value FROM outbox WHERE topic = 'mdm.customer-credit-status.v1' ORDER BY id"
    )
    events = [json.loads(r.value) for r in found]
    return [e for e in events if golden_id is None or e["golden_id"] == golden_id]


def customer(hub: Hub, ref: str, n: int, *, limit: str | None = "100000.00", **extra: Any) -> str:
    credit = (
        None
        if limit is None
        else {"limit": limit, "currency": "MYR", "check_limit": True, "payment_terms": "NET30"}
    )
    payload = crm_organisation(f"Credit Customer {ref} Sdn Bhd", vat=("dk_cvr", VALID_CVRS[n]), **extra)
    if credit is not None:
        payload["credit"] = credit
    deliver(hub, "crm", envelope("crm", ref, payload))
    return str(customer_events(hub.engine)[-1]["golden_id"])


def exposure(
    hub: Hub,
    account: str,
    outstanding: str,
    *,
    golden_id: str | None = None,
    ref: str | None = None,
    currency: str = "MYR",
    minutes: int = 0,
) -> str:
    named = {"golden_id": golden_id} if golden_id else {"source": "crm", "source_record_id": ref}
    at = f"2026-11-20T10:{minutes:02d}:00Z"
    payload = {
        "customer": named,
        "outstanding": outstanding,
        "overdue": "0.00",
        "currency": currency,
        "as_of": at,
    }
    return deliver(hub, "ar", envelope("ar", account, payload, minutes=minutes))


def test_invoices_over_the_limit_hold_the_customer_and_a_payment_releases_it(hub: Hub) -> None:
    golden_id = customer(hub, "C-1", 0)
    first = statuses(hub, golden_id)[-1]
    assert (first["on_hold"], first["credit_limit"], first["available"]) == (False, "100000.00", "100000.00")

    assert exposure(hub, "AR-1", "124000.00", golden_id=golden_id, minutes=1) == "applied"
    held = statuses(hub, golden_id)[-1]
    assert (held["on_hold"], held["hold_reasons"], held["outstanding"], held["available"]) == (
        True,
        ["over_limit"],
        "124000.00",
        "-24000.00",
    )
    assert exposure(hub, "AR-1", "94000.00", golden_id=golden_id, minutes=2) == "applied"
    released = statuses(hub, golden_id)[-1]
    assert (released["on_hold"], released["available"], released["version"]) == (False, "6000.00", 3)
    # an older balance arriving late changes nothing
    assert exposure(hub, "AR-1", "500000.00", golden_id=golden_id, minutes=0) == "stale"
    assert len(statuses(hub, golden_id)) == 3


def test_a_balance_dated_in_the_future_is_dead_lettered_and_leaves_the_account_open_to_real_updates(
    hub: Hub,
) -> None:
    golden_id = customer(hub, "C-9", 0)
    payload = {"customer": {"golden_id": golden_id}, "outstanding": "5000.00", "currency": "MYR"}
    future = envelope("ar", "AR-9", {**payload, "as_of": "2030-01-01T00:00:00Z"}, minutes=1)

    assert deliver(hub, "ar", future) == "dead_lettered"
    [letter] = dead_letter_events(hub.engine)
    assert (letter["error_code"], letter["errors"][0]["path"]) == ("occurred_in_future", "payload.as_of")
    assert exposure(hub, "AR-9", "6000.00", golden_id=golden_id, minutes=2) == "applied"


def test_a_republish_queues_every_customers_last_credit_status_as_a_valid_event_of_the_same_version(
    hub: Hub,
) -> None:
    golden_id = customer(hub, "C-7", 1)
    assert exposure(hub, "AR-7", "124000.00", golden_id=golden_id, minutes=1) == "applied"
    last = statuses(hub, golden_id)[-1]

    with unit_of_work(hub.engine) as uow:
        queued = republish_golden_records(uow, hub.context())

    assert (queued.customers, queued.credit_statuses) == (1, 1)
    again = statuses(hub, golden_id)[-1]
    CreditStatusEvent.model_validate(again)  # what a consumer rebuilding from the topic reads
    assert again["event_id"] != last["event_id"]
    assert {k: v for k, v in again.items() if k not in ("event_id", "as_of")} == {
        k: v for k, v in last.items() if k not in ("event_id", "as_of")
    }


def test_exposure_in_another_currency_is_never_converted_but_held_as_a_mismatch(hub: Hub) -> None:
    golden_id = customer(hub, "C-2", 1)
    exposure(hub, "AR-2", "10.00", golden_id=golden_id, currency="USD", minutes=1)
    status = statuses(hub, golden_id)[-1]
    assert (status["hold_reasons"], status["outstanding"]) == (["currency_mismatch"], "0.00")


def test_an_active_organisation_without_a_billing_address_is_held_as_incomplete(hub: Hub) -> None:
    golden_id = customer(hub, "C-3", 2, addresses=[{"kind": "shipping", "line1": "1 Jalan", "country": "MY"}])
    assert statuses(hub, golden_id)[-1]["hold_reasons"] == ["incomplete_master_data"]


def test_exposure_named_by_source_reference_before_the_customer_arrives_is_booked_when_it_does(
    hub: Hub,
) -> None:
    assert exposure(hub, "AR-4", "120000.00", ref="C-4") == "applied"
    golden_id = customer(hub, "C-4", 3)
    assert statuses(hub, golden_id)[-1]["hold_reasons"] == ["over_limit"]


def test_an_unknown_golden_id_from_ar_is_dead_lettered_as_unidentifiable(hub: Hub) -> None:
    assert exposure(hub, "AR-5", "1.00", golden_id="CUS-9999999") == "dead_lettered"
    letter = rows(hub.engine, "SELECT error_code, errors FROM dead_letter")[0]
    assert letter.error_code == "unidentifiable"
    assert letter.errors[0]["path"] == "payload.customer.golden_id"


def test_a_merge_sums_exposure_on_the_survivor_and_the_retired_status_names_it(
    hub: Hub, client: TestClient
) -> None:
    first = customer(hub, "C-6", 4)
    second = customer(hub, "C-7", 5)
    exposure(hub, "AR-6", "60000.00", golden_id=first, minutes=1)
    exposure(hub, "AR-7", "50000.00", golden_id=second, minutes=1)
    version = client.get(f"/customers/{first}", headers=VIEWER).json()["version"]
    merged = client.post(
        f"/customers/{first}/merge",
        json={"other_ids": [second], "reason": "same", "version": version},
        headers=ANA,
    )
    assert merged.status_code == 200, merged.json()
    survivor = statuses(hub, first)[-1]
    assert (survivor["outstanding"], survivor["hold_reasons"]) == ("110000.00", ["over_limit"])
    assert statuses(hub, second)[-1]["survivor_id"] == first
    detail = client.get(f"/customers/{first}", headers=VIEWER).json()
    assert [e["account_id"] for e in detail["exposure"]] == ["AR-6", "AR-7"]
    assert detail["credit_status"]["outstanding"] == "110000.00"


def test_an_unmerge_takes_the_accounts_ar_named_by_the_split_record_along(
    hub: Hub, client: TestClient
) -> None:
    first = customer(hub, "C-8", 6)
    second = customer(hub, "C-9", 7)
    exposure(hub, "AR-8", "1000.00", ref="C-8", minutes=1)
    exposure(hub, "AR-9", "2000.00", ref="C-9", minutes=1)
    exposure(hub, "AR-X", "4000.00", golden_id=second, minutes=1)
    version = client.get(f"/customers/{first}", headers=VIEWER).json()["version"]
    client.post(
        f"/customers/{first}/merge",
        json={"other_ids": [second], "reason": "x", "version": version},
        headers=ANA,
    )
    version = client.get(f"/customers/{first}", headers=VIEWER).json()["version"]
    split = client.post(
        f"/customers/{first}/unmerge",
        json={
            "source_refs": [{"source": "crm", "source_record_id": "C-9"}],
            "reason": "two firms",
            "version": version,
        },
        headers=ANA,
    ).json()
    new_id = split["split_into"]
    assert statuses(hub, new_id)[-1]["outstanding"] == "2000.00"
    assert statuses(hub, first)[-1]["outstanding"] == "5000.00"
    alerts = client.get(f"/customers/{first}", headers=VIEWER).json()["alerts"]
    assert [(a["kind"], a["detail"]["accounts"]) for a in alerts] == [("exposure_unattributed", ["AR-X"])]


def test_blacklisting_holds_and_a_record_sharing_its_identifier_is_held_until_a_steward_decides(
    hub: Hub, client: TestClient
) -> None:
    bad = customer(hub, "C-10", 8, emails=["owner@shady.example"])
    client.post(f"/customers/{bad}/blacklist", json={"reason": "fraud", "version": 1}, headers=ADMIN)
    assert statuses(hub, bad)[-1]["hold_reasons"] == ["blacklisted"]

    # the same firm again from another CRM record: linked, still blacklisted, and a steward is told
    same = crm_organisation("Credit Customer C-10 Sdn Bhd", vat=("dk_cvr", VALID_CVRS[8]))
    deliver(hub, "crm", envelope("crm", "C-10b", same, minutes=1))
    assert statuses(hub, bad)[-1]["hold_reasons"] == ["blacklisted"]
    kinds = [a["kind"] for a in client.get(f"/customers/{bad}", headers=VIEWER).json()["alerts"]]
    assert kinds == ["blacklisted_customer_matched"]

    # a new firm with the same email, but another valid registration number: never linked automatically
    newcomer = customer(hub, "C-12", 10, emails=["owner@shady.example"])
    assert newcomer != bad
    held = statuses(hub, newcomer)[-1]
    assert "suspected_blacklist_match" in held["hold_reasons"]
    alert = client.get(f"/customers/{newcomer}", headers=VIEWER).json()["alerts"][0]
    assert (alert["kind"], alert["detail"]["golden_id"]) == ("suspected_blacklist_match", bad)

    resolved = client.post(
        f"/customers/{newcomer}/alerts/{alert['id']}/resolve",
        json={"reason": "different person"},
        headers=ANA,
    )
    assert resolved.status_code == 200, resolved.json()
    assert "suspected_blacklist_match" not in statuses(hub, newcomer)[-1]["hold_reasons"]


def test_a_raise_above_the_threshold_needs_a_second_person(hub: Hub, client: TestClient) -> None:
    golden_id = customer(hub, "C-11", 9)
    version = client.get(f"/customers/{golden_id}", headers=VIEWER).json()["version"]
    direct = client.put(
        f"/customers/{golden_id}/overrides/credit.limit",
        json={"value": "200000.00", "reason": "growth", "version": version},
        headers=ANA,
    )
    assert (direct.status_code, direct.json()["code"]) == (409, "approval_required")

    small = client.post(
        f"/customers/{golden_id}/credit-limit-proposals",
        json={"credit_limit": "120000.00", "reason": "small raise", "version": version},
        headers=ANA,
    ).json()
    assert small["status"] == "applied"
    version = client.get(f"/customers/{golden_id}", headers=VIEWER).json()["version"]
    proposal = client.post(
        f"/customers/{golden_id}/credit-limit-proposals",
        json={"credit_limit": "300000.00", "reason": "big raise", "version": version},
        headers=ANA,
    ).json()
    assert proposal["status"] == "pending"
    assert statuses(hub, golden_id)[-1]["credit_limit"] == "120000.00"
    waiting = client.get("/credit-limit-proposals", headers=VIEWER).json()["items"]
    assert [
        (p["id"], p["golden_id"], p["previous_limit"], p["credit_limit"], p["currency"]) for p in waiting
    ] == [(proposal["proposal_id"], golden_id, "120000.00", "300000.00", "MYR")]
    shown = client.get(f"/credit-limit-proposals/{proposal['proposal_id']}", headers=VIEWER).json()
    assert (shown["proposed_by"], shown["reason"], shown["status"]) == ("ana", "big raise", "pending")
    missing = client.get("/credit-limit-proposals/999999", headers=VIEWER)
    assert (missing.status_code, missing.json()["code"]) == (404, "proposal_not_found")

    own = client.post(
        f"/credit-limit-proposals/{proposal['proposal_id']}/approve", json={"reason": "ok"}, headers=ANA
    )
    assert (own.status_code, own.json()["code"]) == (403, "same_person")
    approved = client.post(
        f"/credit-limit-proposals/{proposal['proposal_id']}/approve", json={"reason": "checked"}, headers=SAM
    )
    assert approved.status_code == 200, approved.json()
    assert statuses(hub, golden_id)[-1]["credit_limit"] == "300000.00"
    assert client.get("/credit-limit-proposals", headers=VIEWER).json()["items"] == []
    decided = client.get(f"/credit-limit-proposals?status=approved&golden_id={golden_id}", headers=VIEWER)
    assert [(p["status"], p["decided_by"]) for p in decided.json()["items"]] == [("approved", "sam")]
    actions = [r.action for r in rows(hub.engine, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["override.set", "credit_limit.propose", "credit_limit.approve"]


def test_moving_a_credit_limit_to_another_currency_needs_a_second_person_as_a_raise_would(
    hub: Hub, client: TestClient
) -> None:
    golden_id = customer(hub, "C-12", 10)  # 100,000.00 MYR
    version = client.get(f"/customers/{golden_id}", headers=VIEWER).json()["version"]
    pending = client.post(
        f"/customers/{golden_id}/credit-limit-proposals",
        json={"credit_limit": "400000.00", "reason": "big raise", "version": version},
        headers=ANA,
    ).json()
    assert pending["status"] == "pending"

    # 100,000 KWD is not 100,000 MYR: as a raise from nothing it is over any threshold KWD has (none here)
    moved = client.put(
        f"/customers/{golden_id}/overrides/credit.currency",
        json={"value": "KWD", "reason": "wrong currency", "version": version},
        headers=ANA,
    )
    assert (moved.status_code, moved.json()["code"]) == (409, "approval_required")
    assert statuses(hub, golden_id)[-1]["currency"] == "MYR"

    # the same limit under a currency change made at the source: a proposal made for MYR is not approved
    changed = crm_organisation("Credit Customer C-12 Sdn Bhd", vat=("dk_cvr", VALID_CVRS[10]))
    changed["credit"] = {
        "limit": "100000.00",
        "currency": "KWD",
        "check_limit": True,
        "payment_terms": "NET30",
    }
    assert deliver(hub, "crm", envelope("crm", "C-12", changed, minutes=5)) == "applied"
    approved = client.post(
        f"/credit-limit-proposals/{pending['proposal_id']}/approve", json={"reason": "ok"}, headers=SAM
    )
    assert (approved.status_code, approved.json()["code"]) == (409, "currency_changed")
    assert statuses(hub, golden_id)[-1]["credit_limit"] == "100000.00"


def test_a_raise_is_not_approved_once_its_customer_was_merged_or_its_limit_moved(
    hub: Hub, client: TestClient
) -> None:
    def propose(golden_id: str, limit: str) -> int:
        version = client.get(f"/customers/{golden_id}", headers=VIEWER).json()["version"]
        pending = client.post(
            f"/customers/{golden_id}/credit-limit-proposals",
            json={"credit_limit": limit, "reason": "big raise", "version": version},
            headers=ANA,
        ).json()
        assert pending["status"] == "pending", pending
        return int(pending["proposal_id"])

    def approve(proposal_id: int) -> Any:
        return client.post(
            f"/credit-limit-proposals/{proposal_id}/approve", json={"reason": "ok"}, headers=SAM
        )

    survivor = customer(hub, "C-13", 11, limit="190000.00")
    merged_away = customer(hub, "C-14", 12, limit="10000.00")
    for_merged = propose(merged_away, "70000.00")
    version = client.get(f"/customers/{survivor}", headers=VIEWER).json()["version"]
    merge = client.post(
        f"/customers/{survivor}/merge",
        json={"other_ids": [merged_away], "reason": "one company", "version": version},
        headers=ANA,
    )
    assert merge.status_code == 200, merge.json()
    refused = approve(for_merged)
    assert (refused.status_code, refused.json()["code"]) == (409, "customer_merged")
    assert statuses(hub, survivor)[-1]["credit_limit"] == "190000.00"

    moved = customer(hub, "C-15", 13)  # 100,000.00 MYR
    for_moved = propose(moved, "300000.00")
    lowered = crm_organisation("Credit Customer C-15 Sdn Bhd", vat=("dk_cvr", VALID_CVRS[13]))
    lowered["credit"] = {"limit": "20000.00", "currency": "MYR", "check_limit": True}
    assert deliver(hub, "crm", envelope("crm", "C-15", lowered, minutes=5)) == "applied"
    refused = approve(for_moved)
    assert (refused.status_code, refused.json()["code"]) == (409, "limit_changed")
    assert "from 100000.00, but it is now 20000.00" in refused.json()["detail"]
    assert statuses(hub, moved)[-1]["credit_limit"] == "20000.00"
    rejected = client.post(
        f"/credit-limit-proposals/{for_moved}/reject", json={"reason": "stale"}, headers=SAM
    )
    assert rejected.status_code == 200, rejected.json()


def test_raises_in_steps_add_up_and_switching_the_limit_check_off_needs_a_second_person(
    hub: Hub, client: TestClient
) -> None:
    golden_id = customer(hub, "C-16", 14)  # 100,000.00 MYR, checked; the threshold is 50,000 MYR

    def propose(limit: str) -> Any:
        version = client.get(f"/customers/{golden_id}", headers=VIEWER).json()["version"]
        return client.post(
            f"/customers/{golden_id}/credit-limit-proposals",
            json={"credit_limit": limit, "reason": "growth", "version": version},
            headers=ANA,
        ).json()

    assert propose("140000.00")["status"] == "applied"  # +40,000
    second = propose("180000.00")  # +40,000 again: +80,000 since this morning
    assert second["status"] == "pending", second
    approved = client.post(
        f"/credit-limit-proposals/{second['proposal_id']}/approve", json={"reason": "ok"}, headers=SAM
    )
    assert approved.status_code == 200, approved.json()
    assert propose("220000.00")["status"] == "applied"  # the approval starts afresh: +40,000

    version = client.get(f"/customers/{golden_id}", headers=VIEWER).json()["version"]
    unchecked = client.put(
        f"/customers/{golden_id}/overrides/credit.check_limit",
        json={"value": False, "reason": "trusted", "version": version},
        headers=ANA,
    )
    assert (unchecked.status_code, unchecked.json()["code"]) == (409, "approval_required")
    assert statuses(hub, golden_id)[-1]["check_limit"] is True


def test_a_balance_older_than_the_accounts_close_is_stale_and_does_not_reopen_it(hub: Hub) -> None:
    golden_id = customer(hub, "C-17", 15)
    assert exposure(hub, "AR-CLOSED", "4000.00", golden_id=golden_id, minutes=10) == "applied"
    closed_at = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)  # after the 10:10 balance
    assert (
        deliver(hub, "ar", envelope("ar", "AR-CLOSED", None, change="delete", occurred_at=closed_at))
        == "applied"
    )
    assert statuses(hub, golden_id)[-1]["outstanding"] == "0.00"

    assert exposure(hub, "AR-CLOSED", "3500.00", golden_id=golden_id, minutes=5) == "stale"  # a late retry
    assert statuses(hub, golden_id)[-1]["outstanding"] == "0.00"
    assert exposure(hub, "AR-CLOSED", "1200.00", golden_id=golden_id, minutes=30) == "applied"  # reopened
    assert statuses(hub, golden_id)[-1]["outstanding"] == "1200.00"


def test_ar_naming_an_erased_customer_is_dead_lettered_as_unidentifiable(
    hub: Hub, client: TestClient
) -> None:
    golden_id = customer(hub, "C-18", 16)
    version = client.get(f"/customers/{golden_id}", headers=VIEWER).json()["version"]
    erased = client.post(
        f"/customers/{golden_id}/erase", json={"reason": "GDPR request", "version": version}, headers=ADMIN
    )
    assert erased.status_code == 200, erased.json()

    assert exposure(hub, "AR-ERASED", "6500.00", golden_id=golden_id, minutes=1) == "dead_lettered"
    [letter] = rows(hub.engine, "SELECT error_code, message FROM dead_letter")
    assert letter.error_code == "unidentifiable" and "erased" in letter.message
