"""The matching engine against the real PostgreSQL: links, reviews, hard rules, merges, explanations."""

from __future__ import annotations

import threading
from typing import Any

from hub.bootstrap import Hub
from tests.integration.helpers import customer_events, deliver, rows
from tests.messages import crm_organisation, envelope


def crm_person(first: str, last: str, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "party_type": "person",
        "first_name": first,
        "last_name": last,
        "status": "active",
    }
    payload.update(extra)
    return payload


def golden_of(hub: Hub, source: str, ref: str) -> str:
    [row] = rows(
        hub.engine,
        "SELECT golden_id FROM source_record WHERE source = :s AND source_record_id = :r",
        s=source,
        r=ref,
    )
    golden_id: str = row.golden_id
    return golden_id


HOME = {
    "kind": "home",
    "line1": "12 Jalan Ampang",
    "city": "Kuala Lumpur",
    "postal_code": "50450",
    "country": "MY",
}


def test_a_misspelt_person_with_the_same_birth_date_and_address_links_to_the_golden_record(hub: Hub) -> None:
    deliver(
        hub,
        "crm",
        envelope("crm", "P-1", crm_person("Jonathan", "Smith", date_of_birth="1980-03-14", addresses=[HOME])),
    )
    deliver(
        hub,
        "crm",
        envelope(
            "crm",
            "P-2",
            crm_person("Jonathon", "Smyth", date_of_birth="1980-03-14", addresses=[HOME]),
            minutes=1,
        ),
    )

    assert golden_of(hub, "crm", "P-1") == golden_of(hub, "crm", "P-2")
    [decision] = rows(
        hub.engine, "SELECT outcome, explanation FROM match_decision WHERE source_record_id = 'P-2'"
    )
    assert decision.outcome == "link"
    candidate = decision.explanation["candidates"][0]
    assert {c["comparison"] for c in candidate["comparisons"]} >= {"person_name", "date_of_birth", "address"}
    assert decision.explanation["model_version"] and decision.explanation["thresholds"]["link"] > 0


def test_the_same_name_alone_opens_a_review_and_gives_the_record_its_own_golden_record(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "R-1", crm_person("Ravi", "Kumar", addresses=[HOME])))
    deliver(hub, "crm", envelope("crm", "R-2", crm_person("Ravi", "Kumar"), minutes=1))

    first, second = golden_of(hub, "crm", "R-1"), golden_of(hub, "crm", "R-2")
    assert first != second
    [review] = rows(
        hub.engine, "SELECT golden_id, candidate_golden_id, status, explanation FROM match_review"
    )
    assert (review.golden_id, review.candidate_golden_id, review.status) == (second, first, "open")
    assert review.explanation["outcome"] == "review"


def test_different_birth_dates_forbid_an_automatic_link_however_alike_the_rest(hub: Hub) -> None:
    same = {"addresses": [HOME], "phones": ["+60 12-345 6789"], "emails": ["ravi@example.com"]}
    deliver(
        hub, "crm", envelope("crm", "D-1", crm_person("Ravi", "Kumar", date_of_birth="1970-01-01", **same))
    )
    deliver(
        hub,
        "crm",
        envelope("crm", "D-2", crm_person("Ravi", "Kumar", date_of_birth="1999-12-31", **same), minutes=1),
    )

    assert golden_of(hub, "crm", "D-1") != golden_of(hub, "crm", "D-2")
    [review] = rows(hub.engine, "SELECT explanation FROM match_review")
    assert review.explanation["candidates"][0]["hard_rule"] == "different_dates_of_birth"


def test_conflicting_valid_tax_ids_forbid_an_automatic_link_of_namesake_companies(hub: Hub) -> None:
    deliver(
        hub,
        "crm",
        envelope(
            "crm",
            "V-1",
            crm_organisation("Nordic Trade ApS", vat=("dk_cvr", "13585628"), emails=["info@nordic.example"]),
        ),
    )
    deliver(
        hub,
        "crm",
        envelope(
            "crm",
            "V-2",
            crm_organisation("Nordic Trade ApS", vat=("dk_cvr", "13585636"), emails=["info@nordic.example"]),
            minutes=1,
        ),
    )

    assert golden_of(hub, "crm", "V-1") != golden_of(hub, "crm", "V-2")


def test_a_record_that_links_two_golden_records_merges_them_into_the_older(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "M-1", crm_person("Ana", "Lim", emails=["ana.lim@example.com"])))
    deliver(
        hub,
        "pos",
        envelope(
            "pos",
            "M-2",
            {
                "store_id": "S1",
                "loyalty_card": "L-9",
                "name": "Ana Lim",
                "mobile": "+65 9123 4567",
                "country": "SG",
            },
            minutes=1,
        ),
    )
    older, newer = golden_of(hub, "crm", "M-1"), golden_of(hub, "pos", "M-2")
    assert older != newer

    deliver(
        hub,
        "ecommerce",
        envelope(
            "ecommerce",
            "M-3",
            {
                "account_id": "M-3",
                "first_name": "Ana",
                "last_name": "Lim",
                "email": "ana.lim@example.com",
                "phone": "+65 9123 4567",
            },
            minutes=2,
        ),
    )

    assert {golden_of(hub, s, r) for s, r in [("crm", "M-1"), ("pos", "M-2"), ("ecommerce", "M-3")]} == {
        older
    }
    merged = customer_events(hub.engine, older)[-1]
    assert merged["event_type"] == "customer.merged" and merged["merged_ids"] == [newer]
    assert len(merged["source_refs"]) == 3
    retired = customer_events(hub.engine, newer)[-1]
    assert (retired["event_type"], retired["survivor_id"], retired["customer"]) == (
        "customer.retired",
        older,
        None,
    )
    assert rows(hub.engine, "SELECT state, survivor_id FROM golden_record WHERE golden_id = :g", g=newer)[
        0
    ] == (
        "retired",
        older,
    )

    # A later change of a record that belonged to the retired golden record lands on the survivor.
    deliver(
        hub,
        "pos",
        envelope(
            "pos",
            "M-2",
            {
                "store_id": "S1",
                "loyalty_card": "L-9",
                "name": "Ana Lim",
                "mobile": "+65 9123 4567",
                "country": "SG",
                "email": None,
            },
            minutes=3,
        ),
    )
    assert golden_of(hub, "pos", "M-2") == older
    assert customer_events(hub.engine, newer)[-1]["event_type"] == "customer.retired"


def test_every_decision_is_stored_with_its_explanation(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "E-1", crm_person("Mei", "Tan", addresses=[HOME])))
    deliver(hub, "crm", envelope("crm", "E-2", crm_person("Mei", "Tan"), minutes=1))
    deliver(
        hub,
        "crm",
        envelope("crm", "E-1", crm_person("Mei", "Tan", addresses=[HOME], language="en"), minutes=2),
    )

    decisions = rows(hub.engine, "SELECT outcome, explanation FROM match_decision ORDER BY id")
    assert [d.outcome for d in decisions] == ["new", "review", "link"]
    for decision in decisions:
        assert {"outcome", "rule", "reason", "candidates", "thresholds", "model_version"} <= set(
            decision.explanation
        )


def test_two_workers_applying_records_with_one_vat_number_at_the_same_instant_found_one_golden_record(
    hub: Hub,
) -> None:
    barrier = threading.Barrier(2)
    results: list[str] = []

    def apply(ref: str) -> None:
        message = envelope("crm", ref, crm_organisation(f"Race {ref} ApS", vat=("dk_cvr", "13585628")))
        barrier.wait()
        results.append(deliver(hub, "crm", message))

    threads = [threading.Thread(target=apply, args=(ref,)) for ref in ("RACE-1", "RACE-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == ["applied", "applied"]
    assert golden_of(hub, "crm", "RACE-1") == golden_of(hub, "crm", "RACE-2")


def test_merge_then_unmerge_restores_the_source_references_and_lineage(hub: Hub) -> None:
    from hub.service.merging import merge_golden_records, unmerge_source_records
    from hub.store.uow import unit_of_work

    deliver(
        hub,
        "crm",
        envelope("crm", "U-1", crm_person("Siti", "Rahman", emails=["siti@example.com"], addresses=[HOME])),
    )
    deliver(
        hub,
        "pos",
        envelope(
            "pos",
            "U-2",
            {
                "store_id": "S1",
                "loyalty_card": "L-1",
                "name": "S. Rahman",
                "mobile": "+60 12-999 0000",
                "country": "MY",
            },
            minutes=1,
        ),
    )
    survivor, other = golden_of(hub, "crm", "U-1"), golden_of(hub, "pos", "U-2")
    before = rows(
        hub.engine,
        "SELECT customer, lineage, source_refs FROM golden_record WHERE golden_id = :g",
        g=survivor,
    )[0]
    other_before = rows(hub.engine, "SELECT customer FROM golden_record WHERE golden_id = :g", g=other)[0]

    with unit_of_work(hub.engine) as uow:
        merge_golden_records(uow, survivor, [other], hub.context(), {"steward": "test"})
    with unit_of_work(hub.engine) as uow:
        split = unmerge_source_records(
            uow, survivor, [("pos", "U-2")], hub.context(), {"steward": "test"}, actor="test"
        )

    after = rows(
        hub.engine,
        "SELECT customer, lineage, source_refs FROM golden_record WHERE golden_id = :g",
        g=survivor,
    )[0]
    assert (after.customer, after.lineage, after.source_refs) == (
        before.customer,
        before.lineage,
        before.source_refs,
    )
    assert rows(hub.engine, "SELECT customer FROM golden_record WHERE golden_id = :g", g=split)[
        0
    ].customer == (other_before.customer)
    events = customer_events(hub.engine, survivor)
    assert [e["event_type"] for e in events][-2:] == ["customer.merged", "customer.unmerged"]
    assert events[-1]["split_into"] == split
    assert [e["event_type"] for e in customer_events(hub.engine, split)] == ["customer.created"]
    versions = [e["version"] for e in events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)

    # The split-off record is not merged back automatically by its next change.
    deliver(
        hub,
        "pos",
        envelope(
            "pos",
            "U-2",
            {
                "store_id": "S1",
                "loyalty_card": "L-1",
                "name": "Siti Rahman",
                "mobile": "+60 12-999 0000",
                "email": "siti@example.com",
                "country": "MY",
            },
            minutes=5,
        ),
    )
    assert golden_of(hub, "pos", "U-2") == split


def test_the_rematch_sweep_merges_golden_records_that_became_duplicates(hub: Hub) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from hub.streams.worker import run_rematch_sweep

    # A link threshold no pair reaches stands in for two workers that could not see each other's records.
    blind = replace(hub, model=replace(hub.model, link_threshold=1.0, review_threshold=1.0))
    same = crm_person("Wei", "Chen", date_of_birth="1985-06-01", addresses=[HOME])
    deliver(blind, "crm", envelope("crm", "S-1", same))
    deliver(blind, "crm", envelope("crm", "S-2", same, minutes=1))
    first, second = golden_of(hub, "crm", "S-1"), golden_of(hub, "crm", "S-2")
    assert first != second

    result = run_rematch_sweep(hub, datetime.now(UTC) - timedelta(minutes=5))

    assert result.merged == 1
    assert golden_of(hub, "crm", "S-2") == first
    assert customer_events(hub.engine, second)[-1]["survivor_id"] == first


def test_each_rematch_sweep_starts_where_the_last_one_ended(hub: Hub) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from hub.streams.worker import run_rematch_sweep

    blind = replace(hub, model=replace(hub.model, link_threshold=1.0, review_threshold=1.0))
    deliver(blind, "crm", envelope("crm", "S-1", crm_person("Wei", "Chen", date_of_birth="1985-06-01")))
    first = run_rematch_sweep(hub, datetime.now(UTC) - timedelta(minutes=5))
    assert (first.swept, first.merged) == (1, 0)

    # nothing changed since: the next sweep re-matches nothing
    assert run_rematch_sweep(hub, first.watermark).swept == 0

    # a later change is swept by the next sweep, and merged
    same = crm_person("Ana", "Lim", date_of_birth="1990-02-03", addresses=[HOME])
    deliver(blind, "crm", envelope("crm", "S-2", same))
    deliver(blind, "crm", envelope("crm", "S-3", same, minutes=1))
    later = run_rematch_sweep(hub, first.watermark)
    assert later.swept == 2
    assert later.merged == 1
    assert golden_of(hub, "crm", "S-3") == golden_of(hub, "crm", "S-2")


def test_a_worker_skips_its_sweep_while_another_workers_sweep_runs(hub: Hub) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from hub.streams.worker import SWEEP_LOCK_ID, run_rematch_sweep

    blind = replace(hub, model=replace(hub.model, link_threshold=1.0, review_threshold=1.0))
    deliver(blind, "crm", envelope("crm", "S-1", crm_person("Wei", "Chen", date_of_birth="1985-06-01")))
    since = datetime.now(UTC) - timedelta(minutes=5)
    with hub.engine.connect() as other_worker:
        other_worker.execute(text("SELECT pg_advisory_lock(:id)"), {"id": SWEEP_LOCK_ID})
        skipped = run_rematch_sweep(hub, since)
        other_worker.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": SWEEP_LOCK_ID})
    assert (skipped.swept, skipped.watermark) == (0, since)  # its next turn starts where this one would have

    assert run_rematch_sweep(hub, since).swept == 1
