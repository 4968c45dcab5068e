"""How the AR customer table follows `mdm.customer.v1`: pure rules, no I/O.

One row per golden id, replaced only by a higher version (so redeliveries and stale events change nothing).
A retired customer keeps its last data and points at its survivor; an erased one keeps only its golden id and
non-personal terms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import ValidationError

from contracts.outbound import AddressOut, ContactOut, CustomerEvent

CustomerState = Literal["active", "deactivated", "retired", "erased"]


@dataclass(frozen=True)
class ArCustomer:
    """Hold what AR needs of a golden record: who to invoice, where, and on which terms."""

    golden_id: str
    version: int
    state: CustomerState
    updated_at: datetime
    party_type: str | None = None
    customer_status: str | None = None
    legal_name: str | None = None
    trading_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    tax_ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    addresses: tuple[AddressOut, ...] = ()
    contacts: tuple[ContactOut, ...] = ()
    payment_terms: str | None = None
    credit_limit: Decimal | None = None
    credit_currency: str | None = None
    survivor_id: str | None = None


def read_customer_event(value: bytes | None) -> CustomerEvent | str:
    """Read one message of `mdm.customer.v1`; return why not when it breaks the contract or is a tombstone."""
    if value is None:
        return "tombstone"
    try:
        return CustomerEvent.model_validate_json(value)
    except ValidationError as error:
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or '(message)'}: {first['msg']}"


def next_customer(current: ArCustomer | None, event: CustomerEvent) -> ArCustomer | None:
    """Return the customer row after an event, or None when the event is not newer than the row."""
    if current is not None and event.version <= current.version:
        return None
    base = current or ArCustomer(event.golden_id, event.version, "active", event.occurred_at)
    base = replace(base, version=event.version, updated_at=event.occurred_at)
    if event.event_type == "customer.retired":
        return replace(base, state="retired", survivor_id=event.survivor_id)
    if event.event_type == "customer.erased":
        return erase_personal_data(replace(base, state="erased"))
    return from_snapshot(base, event)


def from_snapshot(base: ArCustomer, event: CustomerEvent) -> ArCustomer:
    """Copy the golden record's snapshot onto the row."""
    customer = event.customer
    assert customer is not None, "every event type but retired and erased carries a snapshot"
    credit = customer.credit
    return replace(
        base,
        # Any snapshot after a deactivation means a source holds the record again: the hub reactivated it.
        state="deactivated" if event.event_type == "customer.deactivated" else "active",
        party_type=customer.party_type,
        customer_status=customer.status,
        legal_name=customer.legal_name,
        trading_name=customer.trading_name,
        first_name=customer.first_name,
        last_name=customer.last_name,
        tax_ids=tuple(f"{t.scheme}:{t.value}" for t in customer.tax_ids),
        emails=tuple(customer.emails),
        phones=tuple(customer.phones),
        addresses=tuple(customer.addresses),
        contacts=tuple(customer.contacts),
        payment_terms=credit.payment_terms if credit else None,
        credit_limit=credit.limit if credit else None,
        credit_currency=credit.currency if credit else None,
        survivor_id=None,
    )


def erase_personal_data(customer: ArCustomer) -> ArCustomer:
    """Remove names, identifiers and contact points; the golden id and the credit terms remain."""
    return replace(
        customer,
        legal_name=None,
        trading_name=None,
        first_name=None,
        last_name=None,
        tax_ids=(),
        emails=(),
        phones=(),
        addresses=(),
        contacts=(),
    )


def display_name(customer: ArCustomer) -> str | None:
    """Return the name to print on an invoice."""
    person = " ".join(part for part in (customer.first_name, customer.last_name) if part)
    return customer.legal_name or customer.trading_name or person or None
