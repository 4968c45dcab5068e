"""One mapping per source system: its contract payload onto the domain's source record."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from contracts.inbound import AddressIn, CrmPayload, EcommercePayload, PosPayload
from hub.domain.model import Address, Contact, CreditTerms, RawTaxId, SourceRecord


def _address(address: AddressIn, kind: str | None = None) -> Address:
    return Address(
        kind=address.kind or kind,
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        state=address.state,
        postal_code=address.postal_code,
        country=address.country,
    )


def _present(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(v for v in values if v)


def from_crm(source_record_id: str, occurred_at: datetime, payload: CrmPayload) -> SourceRecord:
    """Map a CRM account or contact snapshot."""
    credit = payload.credit
    return SourceRecord(
        source="crm",
        source_record_id=source_record_id,
        occurred_at=occurred_at,
        party_type=payload.party_type,
        legal_name=payload.legal_name,
        trading_name=payload.trading_name,
        legal_form=payload.legal_form,
        first_name=payload.first_name,
        last_name=payload.last_name,
        date_of_birth=payload.date_of_birth,
        customer_type=payload.customer_type,
        category=payload.category,
        status=payload.status,
        tax_ids=tuple(RawTaxId(t.scheme, t.value) for t in payload.tax_ids),
        emails=_present(payload.emails),
        phones=_present(payload.phones),
        addresses=tuple(_address(a) for a in payload.addresses),
        contacts=tuple(
            Contact(name=c.name, title=c.title, email=c.email, phone=c.phone, primary=c.primary)
            for c in payload.contacts
        ),
        parent_source_record_id=payload.parent_source_record_id,
        credit=None
        if credit is None
        else CreditTerms(
            limit=credit.limit,
            currency=credit.currency,
            check_limit=credit.check_limit,
            payment_terms=credit.payment_terms,
            rating=credit.rating,
        ),
        also_supplier_id=payload.also_supplier_id,
        correspondence_mode=payload.correspondence_mode,
        language=payload.language,
        custom_fields=dict(payload.custom_fields),
    )


def is_walk_in(payload: PosPayload) -> bool:
    """Tell a walk-in sale (no loyalty card, phone or email) from a known POS customer."""
    return not (payload.loyalty_card or payload.mobile or payload.email)


def from_pos(source_record_id: str, occurred_at: datetime, payload: PosPayload) -> SourceRecord:
    """Map a POS loyalty customer: a person typed in at a till."""
    address = (
        (Address(kind="home", postal_code=payload.postcode, country=payload.country),)
        if payload.postcode or payload.country
        else ()
    )
    return SourceRecord(
        source="pos",
        source_record_id=source_record_id,
        occurred_at=occurred_at,
        party_type="person",
        full_name=payload.name,
        emails=_present([payload.email]),
        phones=_present([payload.mobile]),
        addresses=address,
        loyalty_cards=_present([payload.loyalty_card]),
    )


def from_ecommerce(source_record_id: str, occurred_at: datetime, payload: EcommercePayload) -> SourceRecord:
    """Map a shop account; an account that names a company is that organisation, its buyer the contact."""
    addresses: list[Address] = []
    if payload.billing_address is not None:
        addresses.append(_address(payload.billing_address, "billing"))
    addresses.extend(_address(a, "shipping") for a in payload.shipping_addresses)
    company = payload.company
    tax_ids: tuple[RawTaxId, ...] = ()
    common: dict[str, Any] = {
        "source": "ecommerce",
        "source_record_id": source_record_id,
        "occurred_at": occurred_at,
        "addresses": tuple(addresses),
        "marketing_opt_in": payload.marketing_opt_in,
    }
    if company is not None and company.vat_number:
        tax_ids = (RawTaxId(None, company.vat_number),)
    if company is not None and company.name:
        buyer_name = " ".join(_present([payload.first_name, payload.last_name])) or None
        return SourceRecord(
            party_type="organization",
            legal_name=company.name,
            tax_ids=tax_ids,
            emails=_present([payload.email]),
            phones=_present([payload.phone]),
            contacts=(Contact(name=buyer_name, email=payload.email, phone=payload.phone, primary=True),)
            if buyer_name
            else (),
            **common,
        )
    return SourceRecord(
        party_type="person",
        first_name=payload.first_name,
        last_name=payload.last_name,
        tax_ids=tax_ids,
        emails=_present([payload.email]),
        phones=_present([payload.phone]),
        **common,
    )
