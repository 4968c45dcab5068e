"""The canonical customer as the hub understands it, independent of any wire format or table.

A *source record* is what one source system says about one customer (its full current state).
Normalisation turns it into a *clean record*: canonical values, the keys used to find matches,
and the data-quality issues found on the way. Survivorship folds the clean records of one real
customer into the attributes of its *golden record*, with lineage per attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

SourceName = Literal["crm", "pos", "ecommerce"]
PartyType = Literal["organization", "person"]
CustomerStatus = Literal["prospect", "active", "inactive", "suspended"]

#: Where survivorship looks first, for attributes ruled by source priority.
DEFAULT_SOURCE_PRIORITY: tuple[SourceName, ...] = ("crm", "ecommerce", "pos")


@dataclass(frozen=True)
class QualityIssue:
    """A value that failed validation: kept out of matching, reported on the golden record."""

    code: str
    path: str
    message: str


@dataclass(frozen=True)
class RawTaxId:
    """A tax or registration id as a source sent it; `scheme` None means read it by country prefix."""

    scheme: str | None
    value: str


@dataclass(frozen=True)
class TaxId:
    """A compacted identifier.

    `valid` is True when python-stdnum validated it, False when it failed, None when stdnum has no
    such scheme (an unverified identifier: evidence, never a hard rule). `key` is the canonical
    comparison key (country, family and national number) so that `dk_cvr 13585628` and
    `eu_vat DK13585628` compare equal; it is None for an invalid value.
    """

    scheme: str
    value: str
    valid: bool | None
    key: str | None


@dataclass(frozen=True)
class Address:
    """A postal address; `kind` is billing, shipping or another label the source uses."""

    kind: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Contact:
    """A contact person of an organisation."""

    name: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    primary: bool = False


@dataclass(frozen=True)
class CreditTerms:
    """The credit block a source grants a customer; money is Decimal, never float."""

    limit: Decimal | None = None
    currency: str | None = None
    check_limit: bool = False
    payment_terms: str | None = None
    rating: str | None = None


@dataclass(frozen=True)
class SourceRecord:
    """One source system's full current state of one customer, typed but not yet normalised."""

    source: SourceName
    source_record_id: str
    occurred_at: datetime
    party_type: PartyType | None = None
    legal_name: str | None = None
    trading_name: str | None = None
    legal_form: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    date_of_birth: date | None = None
    customer_type: str | None = None
    category: str | None = None
    status: CustomerStatus | None = None
    tax_ids: tuple[RawTaxId, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    addresses: tuple[Address, ...] = ()
    contacts: tuple[Contact, ...] = ()
    parent_source_record_id: str | None = None
    credit: CreditTerms | None = None
    also_supplier_id: str | None = None
    correspondence_mode: str | None = None
    language: str | None = None
    marketing_opt_in: bool | None = None
    loyalty_cards: tuple[str, ...] = ()
    custom_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CleanRecord:
    """A normalised source record: canonical values, match keys and data-quality issues.

    Only values that passed validation are in `tax_ids` (as valid or unverified), `emails` and
    `phones`; the rest are reported in `issues` and left out.
    """

    source: SourceName
    source_record_id: str
    occurred_at: datetime
    party_type: PartyType | None
    legal_name: str | None
    trading_name: str | None
    legal_form: str | None
    first_name: str | None
    last_name: str | None
    date_of_birth: date | None
    customer_type: str | None
    category: str | None
    status: CustomerStatus | None
    tax_ids: tuple[TaxId, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    addresses: tuple[Address, ...]
    contacts: tuple[Contact, ...]
    parent_source_record_id: str | None
    credit: CreditTerms | None
    also_supplier_id: str | None
    correspondence_mode: str | None
    language: str | None
    marketing_opt_in: bool | None
    loyalty_cards: tuple[str, ...]
    custom_fields: dict[str, Any]
    name_key: str | None
    issues: tuple[QualityIssue, ...]

    @property
    def identifier_keys(self) -> tuple[str, ...]:
        """Canonical keys of the validated identifiers: the deterministic link rule's evidence."""
        return tuple(sorted({t.key for t in self.tax_ids if t.valid and t.key}))

    @property
    def is_identifiable(self) -> bool:
        """Whether anything names this customer: a name, an identifier, an email or a phone."""
        has_name = bool(self.legal_name or self.trading_name or self.first_name or self.last_name)
        return has_name or bool(self.tax_ids or self.emails or self.phones)
