"""Normalisation: a source record in, a clean record out (canonical values, match keys, quality issues).

A value that fails validation is reported as a QualityIssue and left out; the rest of the record flows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import replace
from typing import TypeVar

from contracts.codes import COUNTRIES, COUNTRY_ALIASES
from hub.domain.emails import normalise_email
from hub.domain.errors import InvalidValue
from hub.domain.identifiers import normalise_tax_id
from hub.domain.india import gst_state_codes
from hub.domain.model import (
    Address,
    CleanRecord,
    Contact,
    CreditTerms,
    PartyType,
    QualityIssue,
    SourceRecord,
    TaxId,
)
from hub.domain.names import clean_text, organisation_name_key, person_name_key, split_full_name
from hub.domain.phones import normalise_phone

__all__ = [
    "InvalidValue",
    "default_region",
    "normalise",
    "normalise_address",
    "normalise_email",
    "normalise_phone",
    "normalise_tax_id",
    "organisation_name_key",
    "person_name_key",
]

_T = TypeVar("_T")


def _unique(items: Iterable[_T], key: Callable[[_T], Hashable]) -> tuple[_T, ...]:
    seen: set[Hashable] = set()
    kept: list[_T] = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    return tuple(kept)


def normalise_address(address: Address, path: str) -> tuple[Address | None, list[QualityIssue]]:
    """Trim an address, upper-case its country and postcode; None when nothing but its kind is left."""
    issues: list[QualityIssue] = []
    country = clean_text(address.country)
    if country is not None:
        country = country.upper()
        country = COUNTRY_ALIASES.get(country, country)
        if country not in COUNTRIES:
            issues.append(
                QualityIssue(
                    "invalid_country", f"{path}.country", f"{country!r} is not an ISO 3166-1 alpha-2 code"
                )
            )
            country = None
    postal_code = clean_text(address.postal_code)
    cleaned = Address(
        kind=clean_text(address.kind),
        line1=clean_text(address.line1),
        line2=clean_text(address.line2),
        city=clean_text(address.city),
        state=clean_text(address.state),
        postal_code=postal_code.upper() if postal_code else None,
        country=country,
    )
    if replace(cleaned, kind=None) == Address():
        return None, issues
    return cleaned, issues


def default_region(addresses: Iterable[Address]) -> str | None:
    """Return the country to read local phone numbers in: the first billing address's, else the first."""
    with_country = [a for a in addresses if a.country]
    for address in with_country:
        if (address.kind or "").casefold() == "billing":
            return address.country
    return with_country[0].country if with_country else None


def _india_state_codes(addresses: Iterable[Address]) -> frozenset[str]:
    codes: frozenset[str] = frozenset()
    for address in addresses:
        if address.country == "IN" and address.state:
            codes |= gst_state_codes(address.state)
    return codes


def _tax_id_identity(tax_id: TaxId) -> Hashable:
    return tax_id.key if tax_id.valid else (tax_id.scheme, tax_id.value)


def _party_type(
    given: PartyType | None, legal_name: str | None, first: str | None, last: str | None
) -> PartyType:
    if given is not None:
        return given
    if (first or last) and not legal_name:
        return "person"
    return "organization" if legal_name else "person"


def _name_key(
    party_type: PartyType,
    legal_name: str | None,
    trading_name: str | None,
    first: str | None,
    last: str | None,
) -> str | None:
    org_name = legal_name or trading_name
    org_key = organisation_name_key(org_name) if org_name else None
    person_key = person_name_key(first, last)
    if party_type == "organization":
        return org_key or person_key
    return person_key or org_key


def _credit(credit: CreditTerms | None) -> CreditTerms | None:
    if credit is None:
        return None
    currency = clean_text(credit.currency)
    return replace(
        credit,
        currency=currency.upper() if currency else None,
        payment_terms=clean_text(credit.payment_terms),
        rating=clean_text(credit.rating),
    )


class _Normaliser:
    """Normalise one source record, collecting the quality issues found on the way."""

    def __init__(self) -> None:
        self.issues: list[QualityIssue] = []

    def report(self, error: InvalidValue, path: str) -> None:
        self.issues.append(QualityIssue(code=error.code, path=path, message=error.message))

    def email(self, value: str | None, path: str) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return normalise_email(value)
        except InvalidValue as error:
            self.report(error, path)
            return None

    def phone(self, value: str | None, region: str | None, path: str) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return normalise_phone(value, region)
        except InvalidValue as error:
            self.report(error, path)
            return None

    def run(self, record: SourceRecord) -> CleanRecord:
        addresses: list[Address] = []
        address_issues: list[QualityIssue] = []
        for i, raw_address in enumerate(record.addresses):
            address, found = normalise_address(raw_address, f"addresses[{i}]")
            address_issues.extend(found)
            if address is not None:
                addresses.append(address)
        region = default_region(addresses)
        state_codes = _india_state_codes(addresses)

        tax_ids: list[TaxId] = []
        for i, raw in enumerate(record.tax_ids):
            if not raw.value.strip():
                continue
            try:
                tax_ids.append(normalise_tax_id(raw, default_country=region, india_state_codes=state_codes))
            except InvalidValue as error:
                self.report(error, f"tax_ids[{i}]")

        emails = [self.email(v, f"emails[{i}]") for i, v in enumerate(record.emails)]
        phones = [self.phone(v, region, f"phones[{i}]") for i, v in enumerate(record.phones)]
        self.issues.extend(address_issues)

        contacts: list[Contact] = []
        for i, raw_contact in enumerate(record.contacts):
            contact = Contact(
                name=clean_text(raw_contact.name),
                title=clean_text(raw_contact.title),
                email=self.email(raw_contact.email, f"contacts[{i}].email"),
                phone=self.phone(raw_contact.phone, region, f"contacts[{i}].phone"),
                primary=raw_contact.primary,
            )
            if contact.name or contact.title or contact.email or contact.phone:
                contacts.append(contact)

        legal_name = clean_text(record.legal_name)
        trading_name = clean_text(record.trading_name)
        first_name = clean_text(record.first_name)
        last_name = clean_text(record.last_name)
        full_name = clean_text(record.full_name)
        if full_name and not (first_name or last_name):
            first_name, last_name = split_full_name(full_name)
        party_type = _party_type(record.party_type, legal_name, first_name, last_name)
        date_of_birth = record.date_of_birth
        if date_of_birth is not None and date_of_birth > record.occurred_at.date():
            # nobody is born after the change that names them: a typo, which must not block a match by DOB
            self.issues.append(
                QualityIssue(
                    "invalid_date_of_birth",
                    "date_of_birth",
                    f"{date_of_birth.isoformat()} is after the record's occurred_at",
                )
            )
            date_of_birth = None

        return CleanRecord(
            source=record.source,
            source_record_id=record.source_record_id,
            occurred_at=record.occurred_at,
            party_type=party_type,
            legal_name=legal_name,
            trading_name=trading_name,
            legal_form=clean_text(record.legal_form),
            first_name=first_name,
            last_name=last_name,
            date_of_birth=date_of_birth,
            customer_type=clean_text(record.customer_type),
            category=clean_text(record.category),
            status=record.status,
            tax_ids=_unique(tax_ids, _tax_id_identity),
            emails=_unique((e for e in emails if e), lambda e: e),
            phones=_unique((p for p in phones if p), lambda p: p),
            addresses=_unique(
                addresses,
                lambda a: (
                    (a.kind or "").casefold(),
                    (a.line1 or "").casefold(),
                    a.postal_code,
                    a.country,
                ),
            ),
            contacts=tuple(contacts),
            parent_source_record_id=clean_text(record.parent_source_record_id),
            credit=_credit(record.credit),
            also_supplier_id=clean_text(record.also_supplier_id),
            correspondence_mode=clean_text(record.correspondence_mode),
            language=clean_text(record.language),
            marketing_opt_in=record.marketing_opt_in,
            loyalty_cards=_unique(
                (c for c in (clean_text(v) for v in record.loyalty_cards) if c), lambda c: c
            ),
            custom_fields=dict(record.custom_fields),
            name_key=_name_key(party_type, legal_name, trading_name, first_name, last_name),
            issues=tuple(self.issues),
        )


def normalise(record: SourceRecord) -> CleanRecord:
    """Turn a source record into a clean record; invalid values become quality issues, never errors."""
    return _Normaliser().run(record)
