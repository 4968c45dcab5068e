"""AR sync: the ledger, the customer table's rules, the exposure messages, and the running sync."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from consumers.ar_sync.__main__ import main
from consumers.ar_sync.customers import ArCustomer, next_customer, read_customer_event
from consumers.ar_sync.exposure import exposure_message
from consumers.ar_sync.ledger import (
    Account,
    Balance,
    Invoice,
    LedgerError,
    Payment,
    account_for_invoice,
    account_for_payment,
    balance,
    due_in_days,
    parse_amount,
    parse_currency,
)
from consumers.ar_sync.store import ArStore
from contracts.inbound import ArExposurePayload, Envelope
from contracts.outbound import CustomerEvent
from tests.running import wait_until

if TYPE_CHECKING:
    from tests.consumers.conftest import Broker, ConsumerProcess

CUSTOMER_TOPIC = "mdm.customer.v1"
EXPOSURE_TOPIC = "source.ar.exposure.v1"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def person(**fields: Any) -> dict[str, Any]:
    """Return a full customer snapshot of a person, as the hub publishes it."""
    snapshot: dict[str, Any] = {
        "party_type": "person",
        "status": "active",
        "legal_name": None,
        "trading_name": None,
        "legal_form": None,
        "first_name": "Ravi",
        "last_name": "Kumar",
        "date_of_birth": "1984-03-07",
        "customer_type": None,
        "category": None,
        "tax_ids": [{"scheme": "my_nric", "value": "840307145678", "valid": True}],
        "emails": ["ravi.kumar@example.com"],
        "phones": ["+60123456789"],
        "addresses": [
            {
                "kind": "billing",
                "line1": "12 Jalan Ampang",
                "line2": None,
                "city": "Kuala Lumpur",
                "state": None,
                "postal_code": "50450",
                "country": "MY",
            }
        ],
        "contacts": [],
        "parent_golden_id": None,
        "also_supplier_id": None,
        "credit": {
            "limit": "20000.00",
            "currency": "MYR",
            "check_limit": True,
            "payment_terms": "NET14",
            "rating": None,
        },
        "blacklisted": False,
        "correspondence_mode": None,
        "language": None,
        "marketing_opt_in": True,
        "loyalty_cards": [],
        "custom_fields": {},
    }
    snapshot.update(fields)
    return snapshot


def organisation(name: str, **fields: Any) -> dict[str, Any]:
    return person(
        party_type="organization",
        legal_name=name,
        first_name=None,
        last_name=None,
        date_of_birth=None,
        tax_ids=[{"scheme": "sg_uen", "value": "53312786J", "valid": True}],
        emails=["ap@example.com.sg"],
        contacts=[
            {
                "name": "Jane Doe",
                "title": None,
                "email": "jane@example.com.sg",
                "phone": None,
                "primary": True,
            }
        ],
        **fields,
    )


def customer_event(
    event_type: str, golden_id: str, version: int, customer: dict[str, Any] | None, **extra: Any
) -> dict[str, Any]:
    """Return a valid event of `mdm.customer.v1`."""
    document: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "golden_id": golden_id,
        "version": version,
        "occurred_at": "2026-11-22T10:15:01Z",
        "customer": customer,
        "source_refs": []
        if customer is None
        else [{"source": "crm", "source_record_id": f"CRM-{golden_id}"}],
        "lineage": {},
        "data_quality": {"complete": True, "missing": [], "issues": []},
        "merged_ids": None,
        "survivor_id": None,
        "split_into": None,
    }
    document.update(extra)
    return CustomerEvent.model_validate(document).model_dump(mode="json")


def event(document: dict[str, Any]) -> CustomerEvent:
    return CustomerEvent.model_validate(document)


def invoice(amount: str, due: date) -> Invoice:
    return Invoice(Decimal(amount), due, due - timedelta(days=30))


# --- the ledger, pure ---------------------------------------------------------------------------------------

LEDGER = [
    ("no postings owe nothing", [], "0", "0"),
    (
        "an invoice not yet due is outstanding but not overdue",
        [invoice("124000.00", TODAY)],
        "124000.00",
        "0.00",
    ),
    (
        "an invoice past its due date is overdue",
        [invoice("124000.00", TODAY - timedelta(days=1))],
        "124000.00",
        "124000.00",
    ),
    (
        "a payment reduces the outstanding and the overdue part",
        [invoice("124000.00", date(2026, 1, 1)), Payment(Decimal("30000.00"))],
        "94000.00",
        "94000.00",
    ),
    (
        "a payment settles the invoice due first, so what is overdue is paid before what is not",
        [
            invoice("500.00", date(2027, 1, 1)),
            invoice("300.00", date(2026, 1, 1)),
            Payment(Decimal("400.00")),
        ],
        "400.00",
        "0.00",
    ),
    (
        "the unpaid rest of an overdue invoice stays overdue",
        [
            invoice("300.00", date(2026, 1, 1)),
            invoice("500.00", date(2027, 1, 1)),
            Payment(Decimal("100.00")),
        ],
        "700.00",
        "200.00",
    ),
    (
        "an overpayment leaves a credit balance and nothing overdue",
        [invoice("100.00", date(2026, 1, 1)), Payment(Decimal("150.00"))],
        "-50.00",
        "0.00",
    ),
]


@pytest.mark.parametrize(
    ("postings", "outstanding", "overdue"), [c[1:] for c in LEDGER], ids=[c[0] for c in LEDGER]
)
def test_outstanding_is_invoices_less_payments_and_overdue_is_the_past_due_unpaid_part(
    postings: list[Invoice | Payment], outstanding: str, overdue: str
) -> None:
    assert balance(postings, TODAY) == Balance(Decimal(outstanding), Decimal(overdue))
    assert (str(balance(postings, TODAY).outstanding), str(balance(postings, TODAY).overdue)) == (
        outstanding,
        overdue,
    )


@pytest.mark.parametrize(
    ("terms", "days"), [("NET30", 30), ("net 45", 45), ("COD", 0), (None, 30), ("2/10 NET 30", 30)]
)
def test_an_invoice_is_due_after_the_days_its_payment_terms_give(terms: str | None, days: int) -> None:
    assert due_in_days(terms) == days


@pytest.mark.parametrize("text", ["0", "-5.00", "1e3", "12,50", "", "NaN"])
def test_an_amount_must_be_a_positive_decimal_string(text: str) -> None:
    with pytest.raises(LedgerError) as refused:
        parse_amount(text)
    assert refused.value.code == "invalid_amount"


def test_a_currency_is_read_as_an_upper_case_iso_code() -> None:
    assert parse_currency(" myr ") == "MYR"
    with pytest.raises(LedgerError):
        parse_currency("RM")


POSTING_RULES = [
    (
        "a new account needs its customer",
        lambda: account_for_invoice(None, "AR-1", None, "MYR"),
        "unknown_account",
    ),
    (
        "a payment needs an existing account",
        lambda: account_for_payment(None, "AR-1", "MYR"),
        "unknown_account",
    ),
    (
        "an account is kept in one currency",
        lambda: account_for_payment(Account("AR-1", "CUS-1", "MYR"), "AR-1", "SGD"),
        "currency_mismatch",
    ),
    (
        "an account belongs to one customer",
        lambda: account_for_invoice(Account("AR-1", "CUS-1", "MYR"), "AR-1", "CUS-2", "MYR"),
        "account_of_another_customer",
    ),
]


@pytest.mark.parametrize(("post", "code"), [c[1:] for c in POSTING_RULES], ids=[c[0] for c in POSTING_RULES])
def test_the_ledger_refuses_a_posting_that_would_mix_customers_or_money(
    post: Callable[[], Account], code: str
) -> None:
    with pytest.raises(LedgerError) as refused:
        post()
    assert refused.value.code == code


def test_an_exposure_message_is_a_valid_inbound_ar_envelope_with_money_as_strings() -> None:
    document = exposure_message(
        Account("AR-SG-42", "CUS-0000042", "SGD"), Balance(Decimal("124000.00"), Decimal("0.00")), NOW
    )
    envelope = Envelope.model_validate(document)
    payload = ArExposurePayload.model_validate(envelope.payload)
    assert (envelope.source, envelope.source_record_id, envelope.change) == ("ar", "AR-SG-42", "upsert")
    assert document["payload"] == {
        "customer": {"golden_id": "CUS-0000042"},
        "outstanding": "124000.00",
        "overdue": "0.00",
        "currency": "SGD",
        "as_of": "2026-11-22T12:00:00Z",
    }
    assert payload.as_of == NOW
    assert (
        exposure_message(Account("A", "C", "SGD"), Balance(Decimal(1), Decimal(0)), NOW)["message_id"]
        != document["message_id"]
    )


# --- the customer table's rules, pure -----------------------------------------------------------------------


def test_a_created_customer_becomes_an_active_row_with_its_names_and_contact_points() -> None:
    row = next_customer(None, event(customer_event("customer.created", "CUS-1", 1, person())))
    assert row is not None
    assert (row.state, row.first_name, row.emails, row.payment_terms, row.credit_limit) == (
        "active",
        "Ravi",
        ("ravi.kumar@example.com",),
        "NET14",
        Decimal("20000.00"),
    )


def test_an_event_not_newer_than_the_row_is_ignored() -> None:
    row = next_customer(None, event(customer_event("customer.updated", "CUS-1", 5, person())))
    assert (
        next_customer(row, event(customer_event("customer.updated", "CUS-1", 4, person(first_name="Old"))))
        is None
    )
    assert next_customer(row, event(customer_event("customer.updated", "CUS-1", 5, person()))) is None


def test_an_erased_customer_keeps_its_golden_id_and_loses_its_personal_fields() -> None:
    row = next_customer(None, event(customer_event("customer.created", "CUS-1", 1, person())))
    erased = next_customer(row, event(customer_event("customer.erased", "CUS-1", 2, None)))
    assert erased is not None
    assert (erased.golden_id, erased.state, erased.version) == ("CUS-1", "erased", 2)
    personal = (
        erased.first_name,
        erased.last_name,
        erased.emails,
        erased.phones,
        erased.addresses,
        erased.tax_ids,
    )
    assert personal == (None, None, (), (), (), ())


def test_a_retired_customer_points_at_its_survivor_and_a_deactivated_one_returns_with_its_next_snapshot() -> (
    None
):
    row = next_customer(None, event(customer_event("customer.created", "CUS-2", 1, person())))
    retired = next_customer(
        row, event(customer_event("customer.retired", "CUS-2", 2, None, survivor_id="CUS-1"))
    )
    assert retired is not None
    assert (retired.state, retired.survivor_id, retired.first_name) == ("retired", "CUS-1", "Ravi")
    deactivated = next_customer(None, event(customer_event("customer.deactivated", "CUS-3", 3, person())))
    assert deactivated is not None and deactivated.state == "deactivated"
    back = next_customer(deactivated, event(customer_event("customer.updated", "CUS-3", 4, person())))
    assert back is not None and back.state == "active"


def test_a_customer_message_that_breaks_the_contract_says_which_field() -> None:
    document = customer_event("customer.created", "CUS-1", 1, person())
    document["version"] = "one"
    assert read_customer_event(json.dumps(document).encode()) == "version: Input should be a valid integer"


# --- the AR database, without a broker ----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> ArStore:
    return ArStore(tmp_path / "ar.sqlite3")


def test_a_retirement_moves_the_retired_customers_accounts_to_the_survivor_and_queues_their_exposure(
    store: ArStore,
) -> None:
    store.apply_customer_events([event(customer_event("customer.created", "CUS-2", 1, person()))], NOW)
    store.post_invoice("AR-2", "CUS-2", Decimal("100.00"), "MYR", NOW, due_date=TODAY)
    store.apply_customer_events(
        [event(customer_event("customer.retired", "CUS-2", 2, None, survivor_id="CUS-1"))], NOW
    )
    account = store.account("AR-2")
    assert account is not None and account.golden_id == "CUS-1"
    queued = [json.loads(p.message) for p in store.claim_pending_exposures(NOW)]
    assert [m["payload"]["customer"]["golden_id"] for m in queued] == ["CUS-2", "CUS-1"]


def test_an_invoice_for_a_retired_id_books_on_the_survivor_and_takes_its_payment_terms(
    store: ArStore,
) -> None:
    store.apply_customer_events(
        [
            event(customer_event("customer.created", "CUS-1", 1, organisation("Kumar Trading"))),
            event(customer_event("customer.retired", "CUS-2", 2, None, survivor_id="CUS-1")),
        ],
        NOW,
    )
    posted = store.post_invoice("AR-9", "CUS-2", Decimal("10.00"), "MYR", NOW)
    assert posted.account.golden_id == "CUS-1"
    assert store.balance("AR-9", TODAY + timedelta(days=14)).overdue == Decimal("0.00")
    assert store.balance("AR-9", TODAY + timedelta(days=15)).overdue == Decimal("10.00")


def test_a_queued_exposure_is_claimed_by_one_publisher_only_until_its_lease_lapses(store: ArStore) -> None:
    store.post_invoice("AR-1", "CUS-1", Decimal("10.00"), "MYR", NOW, due_date=TODAY)
    first = store.claim_pending_exposures(NOW)
    assert len(first) == 1
    assert store.claim_pending_exposures(NOW) == []
    assert len(store.claim_pending_exposures(NOW + timedelta(minutes=5))) == 1
    store.mark_published([first[0].id], NOW)
    assert store.unpublished_count() == 0


# --- the running sync and the posting commands against the real broker --------------------------------------


def row(state_dir: Path, golden_id: str) -> ArCustomer | None:
    return ArStore(state_dir / "ar.sqlite3").customer(golden_id)


def applied(state_dir: Path, expected: int) -> Callable[[], bool]:
    return lambda: sum(ArStore(state_dir / "ar.sqlite3").outcomes().values()) >= expected


def post(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0
    printed: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return printed


@pytest.mark.integration
def test_ar_sync_follows_the_golden_records_and_publishes_valid_exposure_after_each_posting(
    broker: Broker,
    consumer_process: Callable[..., ConsumerProcess],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state_dir, group = tmp_path / "ar", f"ar-{broker.prefix}"
    env = {"AR_TOPIC_PREFIX": broker.prefix, "AR_GROUP_ID": group, "AR_SESSION_TIMEOUT_MS": "2000"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    flags = ["--bootstrap", broker.bootstrap, "--state-dir", str(state_dir)]
    sync = consumer_process("consumers.ar_sync", ["run", *flags], env)

    broker.publish(
        CUSTOMER_TOPIC,
        [
            customer_event("customer.created", "CUS-10", 1, person()),
            customer_event("customer.created", "CUS-11", 1, organisation("Kumar Trading")),
            customer_event("customer.updated", "CUS-11", 2, organisation("Kumar Trading Sdn Bhd")),
            customer_event("customer.updated", "CUS-11", 1, organisation("Stale Name")),
            customer_event("customer.created", "CUS-12", 1, organisation("Kumar Trading (dup)")),
        ],
    )
    sync.start()
    wait_until(applied(state_dir, 5), 30, sync.log)
    eleven = row(state_dir, "CUS-11")
    assert eleven is not None and (eleven.version, eleven.legal_name) == (2, "Kumar Trading Sdn Bhd")

    past_due = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    first = post(
        capsys,
        *(
            "invoice",
            "--account",
            "AR-12",
            "--golden-id",
            "CUS-12",
            "--amount",
            "124000.00",
            "--currency",
            "MYR",
        ),
        *("--due-date", past_due, *flags),
    )
    assert (first["outstanding"], first["overdue"], first["published"]) == ("124000.00", "124000.00", True)
    post(
        capsys,
        "invoice",
        "--account",
        "AR-11",
        "--golden-id",
        "CUS-11",
        "--amount",
        "5000.00",
        "--currency",
        "MYR",
        *flags,
    )
    paid = post(capsys, "payment", "--account", "AR-12", "--amount", "30000.00", "--currency", "MYR", *flags)
    assert (paid["outstanding"], paid["overdue"]) == ("94000.00", "94000.00")
    assert main(["payment", "--account", "AR-12", "--amount", "1.00", "--currency", "SGD", *flags]) == 2
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error_code"] == "currency_mismatch"

    broker.publish(
        CUSTOMER_TOPIC,
        [
            customer_event(
                "customer.merged", "CUS-11", 3, organisation("Kumar Trading Sdn Bhd"), merged_ids=["CUS-12"]
            ),
            customer_event("customer.retired", "CUS-12", 2, None, survivor_id="CUS-11"),
            customer_event("customer.erased", "CUS-10", 2, None),
        ],
    )
    wait_until(applied(state_dir, 8), 30, sync.log)
    twelve, ten = row(state_dir, "CUS-12"), row(state_dir, "CUS-10")
    assert twelve is not None and (twelve.state, twelve.survivor_id) == ("retired", "CUS-11")
    assert ten is not None and (ten.state, ten.first_name, ten.emails, ten.phones, ten.addresses) == (
        "erased",
        None,
        (),
        (),
        (),
    )
    account = ArStore(state_dir / "ar.sqlite3").account("AR-12")
    assert account is not None and account.golden_id == "CUS-11"
    wait_until(lambda: ArStore(state_dir / "ar.sqlite3").unpublished_count() == 0, 10, sync.log)
    assert sync.stop() == 0
    assert broker.committed_everything(group, CUSTOMER_TOPIC, expected=8), sync.log()
    assert ArStore(state_dir / "ar.sqlite3").outcomes() == {"applied": 7, "stale": 1}

    published = broker.read(EXPOSURE_TOPIC, expected=4)
    for message in published:
        envelope = Envelope.model_validate(message["value"])
        ArExposurePayload.model_validate(envelope.payload)
        assert message["key"] == envelope.source_record_id.encode()
    assert len({m["value"]["message_id"] for m in published}) == len(published) == 4
    by_account = [
        (
            m["value"]["source_record_id"],
            m["value"]["payload"]["customer"]["golden_id"],
            m["value"]["payload"]["outstanding"],
            m["value"]["payload"]["overdue"],
            m["value"]["payload"]["currency"],
        )
        for m in published
    ]
    assert [m for m in by_account if m[0] == "AR-12"] == [
        ("AR-12", "CUS-12", "124000.00", "124000.00", "MYR"),
        ("AR-12", "CUS-12", "94000.00", "94000.00", "MYR"),
        ("AR-12", "CUS-11", "94000.00", "94000.00", "MYR"),
    ]
    assert [m for m in by_account if m[0] == "AR-11"] == [("AR-11", "CUS-11", "5000.00", "0.00", "MYR")]
