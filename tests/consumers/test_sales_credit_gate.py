"""The sales credit gate: its decision rules, its projection, its HTTP endpoint, and the running service."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi.testclient import TestClient

from consumers.broker import resolve_bootstrap
from consumers.sales_credit_gate.__main__ import parse_settings
from consumers.sales_credit_gate.decisions import SaleRequest, decide_sale, follow_retirements
from consumers.sales_credit_gate.gate import CreditGate
from consumers.sales_credit_gate.http import create_app
from consumers.sales_credit_gate.projection import (
    CustomerRetired,
    NotRelevant,
    Rejected,
    StatusReported,
    read_credit_status,
    read_customer_event,
)
from consumers.sales_credit_gate.store import ProjectionStore
from contracts.outbound import CreditStatusEvent
from hub.runtime.embedded import free_port
from tests.running import wait_until

if TYPE_CHECKING:
    from tests.consumers.conftest import Broker, ConsumerProcess

CREDIT_TOPIC = "mdm.customer-credit-status.v1"
CUSTOMER_TOPIC = "mdm.customer.v1"


def credit_status(golden_id: str, version: int, **fields: Any) -> dict[str, Any]:
    """Return a valid credit-status event: a limit of 100,000.00 MYR, 20,000.00 used, not on hold."""
    document: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "golden_id": golden_id,
        "version": version,
        "as_of": "2026-11-22T23:00:02Z",
        "credit_limit": "100000.00",
        "currency": "MYR",
        "check_limit": True,
        "outstanding": "20000.00",
        "available": "80000.00",
        "on_hold": False,
        "hold_reasons": [],
        "payment_terms": "NET30",
        "survivor_id": None,
    }
    document.update(fields)
    return CreditStatusEvent.model_validate(document).model_dump(mode="json")


def without_credit(golden_id: str, version: int, **fields: Any) -> dict[str, Any]:
    """Return a credit status of a customer without a credit block."""
    return credit_status(
        golden_id, version, credit_limit=None, currency=None, available=None, check_limit=False, **fields
    )


def retired_event(golden_id: str, survivor_id: str, version: int) -> dict[str, Any]:
    """Return a valid `customer.retired` event."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "customer.retired",
        "golden_id": golden_id,
        "version": version,
        "occurred_at": "2026-11-22T10:15:01Z",
        "customer": None,
        "source_refs": [],
        "lineage": {},
        "data_quality": {"complete": False, "missing": [], "issues": []},
        "merged_ids": None,
        "survivor_id": survivor_id,
        "split_into": None,
    }


def status(golden_id: str = "CUS-1", version: int = 1, **fields: Any) -> CreditStatusEvent:
    return CreditStatusEvent.model_validate(credit_status(golden_id, version, **fields))


def encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


# --- the decision rules, pure -------------------------------------------------------------------------------

DECISIONS = [
    ("a sale within the available credit is allowed", {}, "80000.00", "MYR", True, []),
    (
        "a sale above the available credit is refused as over the limit",
        {},
        "80000.01",
        "MYR",
        False,
        ["over_limit"],
    ),
    (
        "an unenforced limit allows a sale above the available credit",
        {"check_limit": False},
        "500000.00",
        "MYR",
        True,
        [],
    ),
    (
        "a sale in another currency than the limit is refused as a currency mismatch",
        {},
        "10.00",
        "SGD",
        False,
        ["currency_mismatch"],
    ),
    (
        "a customer on hold is refused with every hold reason",
        {"on_hold": True, "hold_reasons": ["blacklisted", "suspended"]},
        "10.00",
        "MYR",
        False,
        ["blacklisted", "suspended"],
    ),
    (
        "an over-limit hold and an over-limit sale give the reason once",
        {
            "outstanding": "124000.00",
            "available": "-24000.00",
            "on_hold": True,
            "hold_reasons": ["over_limit"],
        },
        "10.00",
        "MYR",
        False,
        ["over_limit"],
    ),
    (
        "a customer without a credit limit and not on hold may buy any amount in any currency",
        {"credit_limit": None, "currency": None, "available": None, "check_limit": False},
        "9999999.00",
        "EUR",
        True,
        [],
    ),
    (
        "a customer without a credit limit but on hold is refused",
        {
            "credit_limit": None,
            "currency": None,
            "available": None,
            "on_hold": True,
            "hold_reasons": ["inactive"],
        },
        "1.00",
        "EUR",
        False,
        ["inactive"],
    ),
]


@pytest.mark.parametrize(
    ("fields", "amount", "currency", "allowed", "reasons"),
    [case[1:] for case in DECISIONS],
    ids=[case[0] for case in DECISIONS],
)
def test_the_gate_decides_a_sale_by_the_customers_credit_status(
    fields: dict[str, Any], amount: str, currency: str, allowed: bool, reasons: list[str]
) -> None:
    decision = decide_sale(SaleRequest("CUS-1", Decimal(amount), currency), "CUS-1", status(**fields))
    assert (decision.allowed, decision.reasons) == (allowed, reasons)


def test_an_unknown_customer_is_refused_as_unknown() -> None:
    decision = decide_sale(SaleRequest("CUS-404", Decimal("1.00"), "MYR"), "CUS-404", None)
    assert (decision.allowed, decision.reasons, decision.available) == (False, ["unknown_customer"], None)


def test_a_decision_names_the_credit_it_was_judged_against() -> None:
    decision = decide_sale(SaleRequest("CUS-9", Decimal("1.00"), "MYR"), "CUS-1", status(version=1))
    assert (decision.requested_id, decision.golden_id, decision.available, decision.currency) == (
        "CUS-9",
        "CUS-1",
        Decimal("80000.00"),
        "MYR",
    )
    assert decision.status_version == 1


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(Decimal("0"), "MYR"), (Decimal("-5.00"), "MYR"), (Decimal("NaN"), "MYR"), (Decimal("1"), "RM")],
)
def test_a_sale_needs_a_positive_amount_and_an_iso_currency(amount: Decimal, currency: str) -> None:
    with pytest.raises(ValueError):
        SaleRequest("CUS-1", amount, currency)


def test_a_retired_id_is_followed_through_every_later_merge_to_its_survivor() -> None:
    survivors = {"CUS-1": "CUS-2", "CUS-2": "CUS-3"}
    assert follow_retirements("CUS-1", survivors.get) == "CUS-3"
    assert follow_retirements("CUS-3", survivors.get) == "CUS-3"


def test_a_loop_of_retirements_ends_instead_of_spinning() -> None:
    assert follow_retirements("CUS-1", {"CUS-1": "CUS-2", "CUS-2": "CUS-1"}.get) == "CUS-2"


# --- what the gate reads from each message ------------------------------------------------------------------


def test_a_credit_status_message_reports_the_status() -> None:
    fact = read_credit_status(encoded(credit_status("CUS-1", 3)))
    assert isinstance(fact, StatusReported)
    assert fact.status.version == 3


def test_a_retired_customer_event_links_the_id_to_its_survivor_and_other_events_are_not_relevant() -> None:
    assert read_customer_event(encoded(retired_event("CUS-2", "CUS-1", 4))) == CustomerRetired(
        "CUS-2", "CUS-1"
    )
    assert read_customer_event(None) == NotRelevant("tombstone")


def test_a_message_that_breaks_the_contract_is_rejected_with_the_offending_field() -> None:
    document = credit_status("CUS-1", 1)
    document["available"] = 80000.0
    fact = read_credit_status(encoded(document))
    assert isinstance(fact, Rejected)
    assert fact.why.startswith("available:")


# --- the projection in SQLite -------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> ProjectionStore:
    return ProjectionStore(tmp_path / "gate.sqlite3")


def report(*documents: dict[str, Any]) -> list[StatusReported]:
    return [StatusReported(CreditStatusEvent.model_validate(d)) for d in documents]


def test_an_older_credit_status_version_is_ignored(store: ProjectionStore) -> None:
    store.apply(report(credit_status("CUS-1", 2, available="5000.00")))
    counted = store.apply(report(credit_status("CUS-1", 1, available="90000.00")))
    assert counted == {"stale": 1}
    assert CreditGate(store).may_sell("CUS-1", Decimal("6000.00"), "MYR").reasons == ["over_limit"]


def test_a_redelivered_status_changes_nothing(store: ProjectionStore) -> None:
    document = credit_status("CUS-1", 2)
    assert store.apply(report(document)) == {"applied": 1}
    assert store.apply(report(document)) == {"stale": 1}
    with store.reading() as projection:
        assert projection.outcomes() == {"applied": 1, "stale": 1}


def test_a_sale_to_a_retired_id_is_decided_on_its_survivors_status(store: ProjectionStore) -> None:
    store.apply(
        [
            *report(credit_status("CUS-1", 5, available="1000.00"), credit_status("CUS-2", 2)),
            CustomerRetired("CUS-2", "CUS-1"),
        ]
    )
    decision = CreditGate(store).may_sell("CUS-2", Decimal("2000.00"), "myr")
    assert (decision.golden_id, decision.allowed, decision.reasons) == ("CUS-1", False, ["over_limit"])


def test_a_status_naming_a_survivor_retires_the_id(store: ProjectionStore) -> None:
    store.apply(report(credit_status("CUS-1", 1), credit_status("CUS-2", 3, survivor_id="CUS-1")))
    assert CreditGate(store).may_sell("CUS-2", Decimal("1.00"), "MYR").golden_id == "CUS-1"


def test_a_retired_id_whose_survivor_has_no_status_yet_is_unknown(store: ProjectionStore) -> None:
    store.apply([CustomerRetired("CUS-2", "CUS-1")])
    decision = CreditGate(store).may_sell("CUS-2", Decimal("1.00"), "MYR")
    assert (decision.golden_id, decision.reasons) == ("CUS-1", ["unknown_customer"])


# --- HTTP ---------------------------------------------------------------------------------------------------


def test_http_may_sell_answers_the_decision_as_json_with_money_as_a_string(store: ProjectionStore) -> None:
    store.apply(report(credit_status("CUS-1", 1)))
    client = TestClient(create_app(CreditGate(store)))
    answer = client.get("/may-sell", params={"customer": "CUS-1", "amount": "90000.00", "currency": "MYR"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["allowed"], body["reasons"], body["available"], body["golden_id"]) == (
        False,
        ["over_limit"],
        "80000.00",
        "CUS-1",
    )
    assert client.get("/healthz").json() == {"status": "ok", "customers": 1}


@pytest.mark.parametrize(
    "params",
    [
        {"customer": "CUS-1", "amount": "1e3", "currency": "MYR"},
        {"customer": "CUS-1", "amount": "0", "currency": "MYR"},
        {"customer": "CUS-1", "amount": "10.00", "currency": "RINGGIT"},
        {"customer": "CUS-1", "amount": "10.00"},
    ],
)
def test_http_may_sell_refuses_a_malformed_question_with_422(
    store: ProjectionStore, params: dict[str, str]
) -> None:
    assert TestClient(create_app(CreditGate(store))).get("/may-sell", params=params).status_code == 422


# --- configuration ------------------------------------------------------------------------------------------


def test_command_line_flags_take_precedence_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_HTTP_PORT", "8111")
    monkeypatch.setenv("GATE_KAFKA_BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("GATE_STATE_DIR", "/tmp/env-gate")
    settings = parse_settings(["--port", "8222", "--state-dir", "/tmp/flag-gate"])
    assert (settings.http_port, settings.state_dir, settings.bootstrap_servers) == (
        8222,
        Path("/tmp/flag-gate"),
        "env:9092",
    )
    assert parse_settings(["--bootstrap", "flag:9092"]).bootstrap_servers == "flag:9092"


def test_without_a_configured_broker_the_one_hub_run_started_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    assert resolve_bootstrap(None) == "127.0.0.1:9092"
    (tmp_path / "runtime.json").write_text(json.dumps({"kafka_bootstrap_servers": "127.0.0.1:40123"}))
    assert resolve_bootstrap(None) == "127.0.0.1:40123"
    assert resolve_bootstrap("kafka:9092") == "kafka:9092"


# --- the running service against the real broker ------------------------------------------------------------


def ask(port: int, customer: str, amount: str, currency: str = "MYR") -> dict[str, Any]:
    params = {"customer": customer, "amount": amount, "currency": currency}
    answer = httpx.get(f"http://127.0.0.1:{port}/may-sell", params=params, timeout=5)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def answers_http(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def consumed(state_dir: Path, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        with ProjectionStore(state_dir / "credit-gate.sqlite3").reading() as projection:
            return sum(projection.outcomes().values()) >= expected

    return check


@pytest.mark.integration
def test_the_gate_service_answers_from_its_projection_and_resumes_from_its_committed_offsets(
    broker: Broker, consumer_process: Callable[..., ConsumerProcess], tmp_path: Path
) -> None:
    state_dir, port = tmp_path / "gate", free_port()
    env = {
        "GATE_TOPIC_PREFIX": broker.prefix,
        "GATE_GROUP_ID": f"gate-{broker.prefix}",
        "GATE_SESSION_TIMEOUT_MS": "2000",
        "GATE_HTTP_PORT": str(port),
        "GATE_RETRY_SECONDS": "0.5",
    }
    gate = consumer_process("consumers.sales_credit_gate", ["--state-dir", str(state_dir)], env)
    first_statuses = [
        credit_status("CUS-1", 2),
        credit_status("CUS-1", 1, available="100000.00"),  # stale: published after version 2
        credit_status("CUS-2", 1, on_hold=True, hold_reasons=["blacklisted"]),
        without_credit("CUS-3", 1),
        credit_status("CUS-4", 1, available="999999.00"),
        credit_status("CUS-4", 2, available="999999.00", survivor_id="CUS-1"),
    ]
    broker.publish(CREDIT_TOPIC, first_statuses)
    broker.publish(CUSTOMER_TOPIC, [retired_event("CUS-5", "CUS-1", 3)])

    gate.start("--bootstrap", broker.bootstrap)
    wait_until(consumed(state_dir, 7), 30, gate.log)
    wait_until(lambda: answers_http(port), 10, gate.log)

    assert ask(port, "CUS-1", "80000.00")["allowed"] is True
    assert ask(port, "CUS-1", "80000.01")["reasons"] == ["over_limit"]
    assert ask(port, "CUS-1", "10.00", "SGD")["reasons"] == ["currency_mismatch"]
    assert ask(port, "CUS-2", "1.00")["reasons"] == ["blacklisted"]
    assert ask(port, "CUS-3", "5000000.00", "EUR")["allowed"] is True
    assert ask(port, "CUS-404", "1.00")["reasons"] == ["unknown_customer"]
    for retired in ("CUS-4", "CUS-5"):
        answer = ask(port, retired, "90000.00")
        assert (answer["customer"], answer["golden_id"], answer["reasons"]) == (
            retired,
            "CUS-1",
            ["over_limit"],
        )
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok", "customers": 4}

    assert gate.stop() == 0
    assert broker.committed_everything(env["GATE_GROUP_ID"], CREDIT_TOPIC, expected=6), gate.log()
    assert broker.committed_everything(env["GATE_GROUP_ID"], CUSTOMER_TOPIC, expected=1), gate.log()
    stopped = CreditGate(ProjectionStore(state_dir / "credit-gate.sqlite3"))
    assert stopped.may_sell("CUS-5", Decimal("80000.00"), "MYR").allowed, "the function answers while stopped"

    # With the broker out of reach, the service still answers from its projection.
    gate.start("--bootstrap", "127.0.0.1:1")
    wait_until(lambda: answers_http(port), 10, gate.log)
    assert ask(port, "CUS-4", "80000.00")["allowed"] is True
    assert gate.stop() == 0

    broker.publish(
        CREDIT_TOPIC,
        [
            credit_status("CUS-1", 3, outstanding="95000.00", available="5000.00"),
            credit_status(
                "CUS-2", 1, on_hold=False, hold_reasons=[]
            ),  # a redelivered version changes nothing
            credit_status("CUS-6", 1),
        ],
    )
    gate.start("--bootstrap", broker.bootstrap)
    wait_until(consumed(state_dir, 10), 30, gate.log)
    wait_until(lambda: answers_http(port), 10, gate.log)

    assert ask(port, "CUS-5", "6000.00")["reasons"] == ["over_limit"]
    assert ask(port, "CUS-2", "1.00")["reasons"] == ["blacklisted"]
    assert ask(port, "CUS-6", "1.00")["allowed"] is True
    with ProjectionStore(state_dir / "credit-gate.sqlite3").reading() as projection:
        # Every message exactly once: a restart from an offset before the committed one would add to "stale".
        assert projection.outcomes() == {"applied": 8, "stale": 2}
    assert gate.process is not None
    gate.process.send_signal(signal.SIGINT)
    assert gate.stop() == 0
    assert broker.committed_everything(env["GATE_GROUP_ID"], CREDIT_TOPIC, expected=9), gate.log()
