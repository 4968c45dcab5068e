"""The stream's use cases against the real PostgreSQL: matching, idempotency, staleness, lifecycle."""

from __future__ import annotations

import json

from hub.bootstrap import Hub
from hub.service.stewardship import merge_by_hand, unmerge_by_hand
from hub.store.uow import unit_of_work
from tests.integration.helpers import customer_events, deliver, outcome_counts, rows
from tests.messages import crm_organisation, envelope, shop_company


def test_the_same_vat_number_written_differently_links_crm_and_shop_into_one_golden_record(hub: Hub) -> None:
    crm = envelope("crm", "CRM-1", crm_organisation("Novo Handel A/S", vat=("dk_cvr", "13585628")))
    shop = envelope("ecommerce", "shop-1", shop_company("shop-1", "novo handel", "DK 13 58 56 28"), minutes=5)

    assert deliver(hub, "crm", crm) == "applied"
    assert deliver(hub, "ecommerce", shop) == "applied"

    golden = rows(
        hub.engine, "SELECT golden_id, version, source_refs FROM golden_record WHERE golden_id <> 'CASH'"
    )
    assert len(golden) == 1
    assert sorted((r["source"], r["source_record_id"]) for r in golden[0].source_refs) == [
        ("crm", "CRM-1"),
        ("ecommerce", "shop-1"),
    ]
    events = customer_events(hub.engine)
    assert [e["event_type"] for e in events] == ["customer.created", "customer.updated"]
    assert [e["version"] for e in events] == [1, 2]
    assert events[1]["customer"]["legal_name"] == "Novo Handel A/S"  # CRM outranks the shop
    assert events[1]["customer"]["tax_ids"] == [{"scheme": "dk_cvr", "value": "13585628", "valid": True}]
    assert events[1]["lineage"]["legal_name"]["source"] == "crm"


def test_a_redelivered_message_creates_no_new_version_and_no_event(hub: Hub) -> None:
    message = envelope("crm", "CRM-2", crm_organisation("Fjord Shipping ApS"))

    assert deliver(hub, "crm", message) == "applied"
    assert deliver(hub, "crm", message) == "duplicate"

    assert len(customer_events(hub.engine)) == 1
    assert rows(hub.engine, "SELECT max(version) AS v FROM golden_version")[0].v == 1
    assert outcome_counts(hub.engine) == {"applied": 1, "duplicate": 1}


def test_an_older_change_of_the_same_source_record_is_counted_stale_and_changes_nothing(hub: Hub) -> None:
    newer = envelope("crm", "CRM-3", crm_organisation("Nordlys AS", status="active"), minutes=10)
    older = envelope("crm", "CRM-3", crm_organisation("Nordlys Old Name AS", status="prospect"), minutes=1)

    assert deliver(hub, "crm", newer) == "applied"
    assert deliver(hub, "crm", older) == "stale"

    events = customer_events(hub.engine)
    assert len(events) == 1
    stored = rows(
        hub.engine, "SELECT customer FROM golden_record WHERE golden_id = :g", g=events[0]["golden_id"]
    )
    assert stored[0].customer["legal_name"] == "Nordlys AS"
    assert outcome_counts(hub.engine) == {"applied": 1, "stale": 1}


def test_an_update_of_a_source_record_writes_the_next_version_with_the_new_values(hub: Hub) -> None:
    deliver(
        hub, "crm", envelope("crm", "CRM-4", crm_organisation("Blue Ocean Ltd", emails=["a@blue.example"]))
    )
    deliver(
        hub,
        "crm",
        envelope("crm", "CRM-4", crm_organisation("Blue Ocean Ltd", emails=["B@Blue.Example"]), minutes=3),
    )

    events = customer_events(hub.engine)
    assert [(e["event_type"], e["version"]) for e in events] == [
        ("customer.created", 1),
        ("customer.updated", 2),
    ]
    assert events[1]["customer"]["emails"] == ["b@blue.example"]


def test_an_invalid_value_is_a_data_quality_issue_and_the_rest_of_the_record_flows(hub: Hub) -> None:
    payload = crm_organisation("Acme Widgets Ltd", vat=("gb_vat", "GB 980 7806 85"), phones=["12"])
    assert deliver(hub, "crm", envelope("crm", "CRM-5", payload)) == "applied"

    event = customer_events(hub.engine)[0]
    assert event["customer"]["phones"] == []
    assert event["customer"]["tax_ids"] == []
    codes = sorted(i["code"] for i in event["data_quality"]["issues"])
    assert codes == ["invalid_phone", "invalid_tax_id"]
    assert all(i["source_record_id"] == "CRM-5" for i in event["data_quality"]["issues"])


def test_records_that_share_only_an_invalid_identifier_are_not_linked(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "CRM-6", crm_organisation("One ApS", vat=("dk_cvr", "13585627"))))
    deliver(hub, "crm", envelope("crm", "CRM-7", crm_organisation("Two ApS", vat=("dk_cvr", "13585627"))))

    assert len({e["golden_id"] for e in customer_events(hub.engine)}) == 2


def test_deleting_the_last_source_record_deactivates_the_golden_record_and_keeps_it(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "CRM-8", crm_organisation("Gone Soon GmbH")))
    assert deliver(hub, "crm", envelope("crm", "CRM-8", None, change="delete", minutes=1)) == "applied"

    events = customer_events(hub.engine)
    assert [e["event_type"] for e in events] == ["customer.created", "customer.deactivated"]
    assert events[1]["source_refs"] == []
    state = rows(hub.engine, "SELECT state FROM golden_record WHERE golden_id = :g", g=events[0]["golden_id"])
    assert state[0].state == "deactivated"


def test_a_record_sent_again_after_its_delete_reactivates_its_own_golden_record(hub: Hub) -> None:
    company = crm_organisation("Back Again Pte Ltd", vat=("dk_cvr", "13585628"))
    deliver(hub, "crm", envelope("crm", "CRM-10", company))
    deliver(hub, "crm", envelope("crm", "CRM-10", None, change="delete", minutes=1))
    assert deliver(hub, "crm", envelope("crm", "CRM-10", company, minutes=2)) == "applied"

    events = customer_events(hub.engine)
    assert [e["event_type"] for e in events] == [
        "customer.created",
        "customer.deactivated",
        "customer.updated",
    ]
    assert len({e["golden_id"] for e in events}) == 1
    assert events[-1]["source_refs"] == [{"source": "crm", "source_record_id": "CRM-10"}]
    assert rows(hub.engine, "SELECT state FROM golden_record WHERE golden_id <> 'CASH'")[0].state == "active"


def test_deleting_one_of_two_sources_detaches_it_and_updates_the_golden_record(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "CRM-9", crm_organisation("Twin Co ApS", vat=("dk_cvr", "13585628"))))
    deliver(
        hub,
        "ecommerce",
        envelope("ecommerce", "shop-9", shop_company("shop-9", "twin", "DK13585628"), minutes=1),
    )
    deliver(hub, "ecommerce", envelope("ecommerce", "shop-9", None, change="delete", minutes=2))

    last = customer_events(hub.engine)[-1]
    assert last["event_type"] == "customer.updated"
    assert last["source_refs"] == [{"source": "crm", "source_record_id": "CRM-9"}]


def test_a_walk_in_sale_is_applied_to_cash_and_publishes_nothing(hub: Hub) -> None:
    walk_in = envelope("pos", "POS-SALE-1", {"store_id": "KL-03", "name": None})

    assert deliver(hub, "pos", walk_in) == "applied"

    assert customer_events(hub.engine) == []
    assert rows(hub.engine, "SELECT count(*) AS n FROM source_record")[0].n == 0


def test_a_child_that_arrives_before_its_parent_gets_the_parent_golden_id_when_the_parent_arrives(
    hub: Hub,
) -> None:
    child = crm_organisation("Child Trading Pte Ltd", parent_source_record_id="CRM-PARENT")
    deliver(hub, "crm", envelope("crm", "CRM-CHILD", child))
    deliver(hub, "crm", envelope("crm", "CRM-PARENT", crm_organisation("Parent Holdings Pte Ltd"), minutes=1))

    events = customer_events(hub.engine)
    parent_id = next(
        e["golden_id"] for e in events if e["customer"]["legal_name"] == "Parent Holdings Pte Ltd"
    )
    child_events = [e for e in events if e["customer"]["legal_name"] == "Child Trading Pte Ltd"]
    assert child_events[0]["customer"]["parent_golden_id"] is None
    assert child_events[-1]["customer"]["parent_golden_id"] == parent_id


def test_a_childs_parent_golden_id_follows_its_parent_into_a_merge(hub: Hub) -> None:
    deliver(hub, "crm", envelope("crm", "CRM-HOLDING", crm_organisation("Merlion Holdings Pte Ltd")))
    deliver(hub, "crm", envelope("crm", "CRM-PARENT2", crm_organisation("Parent Two Pte Ltd"), minutes=1))
    child = crm_organisation("Child Two Pte Ltd", parent_source_record_id="CRM-PARENT2")
    deliver(hub, "crm", envelope("crm", "CRM-CHILD2", child, minutes=2))
    holding, parent, child_id = (e["golden_id"] for e in customer_events(hub.engine))
    assert customer_events(hub.engine, child_id)[-1]["customer"]["parent_golden_id"] == parent

    with unit_of_work(hub.engine) as uow:
        merge_by_hand(
            uow, holding, [parent], expected_version=1, reason="one group", actor="ana", ctx=hub.context()
        )

    last = customer_events(hub.engine, child_id)[-1]
    assert (last["event_type"], last["customer"]["parent_golden_id"]) == ("customer.updated", holding)

    with unit_of_work(hub.engine) as uow:
        version = customer_events(hub.engine, holding)[-1]["version"]
        split = unmerge_by_hand(
            uow,
            holding,
            [("crm", "CRM-PARENT2")],
            expected_version=version,
            reason="two companies after all",
            actor="ana",
            ctx=hub.context(),
        )
    assert customer_events(hub.engine, child_id)[-1]["customer"]["parent_golden_id"] == split["split_into"]


def test_every_customer_event_carries_every_field_of_the_snapshot_contract(hub: Hub) -> None:
    deliver(
        hub,
        "pos",
        envelope(
            "pos",
            "POS-77",
            {
                "store_id": "KL-03",
                "loyalty_card": "LC-1",
                "name": "Ravi Kumar",
                "mobile": "012-345 6789",
                "postcode": "50450",
                "country": "MY",
            },
        ),
    )
    event = customer_events(hub.engine)[0]
    assert event["customer"]["phones"] == ["+60123456789"]
    assert event["customer"]["first_name"] == "Ravi"
    assert event["customer"]["loyalty_cards"] == ["LC-1"]
    assert json.dumps(event)  # JSON-ready, and validated against the contract when built
    assert set(event["customer"]) >= {
        "party_type",
        "credit",
        "blacklisted",
        "custom_fields",
        "parent_golden_id",
    }
