"""Outbound contract, v1: canonical customer events, credit status events and dead letters (SPEC 5 and 6).

Every outbound model forbids unknown fields and requires every key, so the hub cannot drift from the contract
silently: an event it builds that does not follow it fails in the hub, not in a downstream system.
"""

from datetime import date
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from contracts.values import (
    CanonicalCountryCode,
    CanonicalCurrencyCode,
    CustomerSource,
    CustomerStatus,
    Money,
    NonNegativeMoney,
    PartyType,
    RequiredText,
    Timestamp,
    Version,
)

EventType = Literal[
    "customer.created",
    "customer.updated",
    "customer.merged",
    "customer.retired",
    "customer.unmerged",
    "customer.deactivated",
    "customer.erased",
]

HoldReason = Literal[
    "over_limit",
    "blacklisted",
    "suspended",
    "inactive",
    "incomplete_master_data",
    "currency_mismatch",
    "suspected_blacklist_match",
]

DeadLetterCode = Literal[
    "not_utf8",
    "not_json",
    "invalid_envelope",
    "wrong_source",
    "invalid_payload",
    "occurred_in_future",
    "unidentifiable",
    "payload_too_large",
]


class _Outbound(BaseModel):
    # Defaults (merged_ids=None, ...) are always serialised, so the published schema marks them required too.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class TaxIdOut(_Outbound):
    """Publish a compacted identifier; `valid` is null when python-stdnum has no such scheme."""

    scheme: str
    value: str
    valid: StrictBool | None


class AddressOut(_Outbound):
    """Publish a normalised postal address."""

    kind: str | None
    line1: str | None
    line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: CanonicalCountryCode | None


class ContactOut(_Outbound):
    """Publish a contact person; phone in E.164, email lower-cased."""

    name: str | None
    title: str | None
    email: str | None
    phone: str | None
    primary: StrictBool


class CreditOut(_Outbound):
    """Publish a customer's credit terms, the limit as a decimal string."""

    limit: NonNegativeMoney | None
    currency: CanonicalCurrencyCode | None
    check_limit: StrictBool
    payment_terms: str | None
    rating: str | None


class CustomerSnapshot(_Outbound):
    """Publish the full golden record: every field, null or [] when unknown."""

    party_type: PartyType
    status: CustomerStatus
    legal_name: str | None
    trading_name: str | None
    legal_form: str | None
    first_name: str | None
    last_name: str | None
    date_of_birth: date | None
    customer_type: str | None
    category: str | None
    tax_ids: list[TaxIdOut]
    emails: list[str]
    phones: list[str]
    addresses: list[AddressOut]
    contacts: list[ContactOut]
    parent_golden_id: str | None
    also_supplier_id: str | None
    credit: CreditOut | None
    blacklisted: StrictBool
    correspondence_mode: str | None
    language: str | None
    marketing_opt_in: StrictBool | None
    loyalty_cards: list[str]
    custom_fields: dict[str, Any]


class SourceRef(_Outbound):
    """Name a source record merged into a golden record."""

    source: CustomerSource
    source_record_id: str


class LineageEntry(_Outbound):
    """Say which source record gave an attribute its value, and when."""

    source: str
    source_record_id: str
    at: Timestamp


class DataQualityIssue(_Outbound):
    """Report a value a source sent that failed validation and was not used for matching."""

    code: str
    path: str
    source: CustomerSource
    source_record_id: str
    message: str


class DataQuality(_Outbound):
    """Report whether the golden record has what its party type requires, and what its sources got wrong."""

    complete: StrictBool
    missing: list[str]
    issues: list[DataQualityIssue]


_WITHOUT_CUSTOMER = frozenset({"customer.retired", "customer.erased"})
_ADDED_FIELD = {
    "customer.merged": "merged_ids",
    "customer.retired": "survivor_id",
    "customer.unmerged": "split_into",
}


class CustomerEvent(_Outbound):
    """Publish one version of a golden record on `mdm.customer.v1`, keyed by golden id."""

    event_id: RequiredText = Field(description="Unique per event; downstream drops repeats by it.")
    event_type: EventType
    golden_id: RequiredText
    version: Version = Field(description="Per golden id, only goes up.")
    occurred_at: Timestamp
    customer: CustomerSnapshot | None = Field(description="Null on customer.retired and customer.erased.")
    source_refs: list[SourceRef]
    lineage: dict[str, LineageEntry]
    data_quality: DataQuality
    merged_ids: list[str] | None = Field(default=None, description="On customer.merged: the retired ids.")
    survivor_id: str | None = Field(default=None, description="On customer.retired: the id it merged into.")
    split_into: str | None = Field(default=None, description="On customer.unmerged: the id split off.")

    @model_validator(mode="after")
    def _fits_event_type(self) -> Self:
        has_customer = self.customer is not None
        if has_customer == (self.event_type in _WITHOUT_CUSTOMER):
            needed = "null" if has_customer else "a snapshot"
            raise ValueError(f"customer must be {needed} on {self.event_type}")
        for event_type, field in _ADDED_FIELD.items():
            present = bool(getattr(self, field))
            if present != (self.event_type == event_type):
                rule = "required" if self.event_type == event_type else "only allowed"
                raise ValueError(f"{field} is {rule} on {event_type}, this is {self.event_type}")
        return self


class CreditStatusEvent(_Outbound):
    """Publish a customer's credit status on `mdm.customer-credit-status.v1`, keyed by golden id."""

    event_id: RequiredText
    golden_id: RequiredText
    version: Version
    as_of: Timestamp
    credit_limit: NonNegativeMoney | None = Field(description="Null when the customer has no credit block.")
    currency: CanonicalCurrencyCode | None
    check_limit: StrictBool
    outstanding: Money = Field(description="The sum of the customer's AR exposure.")
    available: Money | None = Field(description="credit_limit - outstanding; null without a credit limit.")
    on_hold: StrictBool
    hold_reasons: list[HoldReason]
    payment_terms: str | None
    survivor_id: str | None = Field(description="On a retired customer's last status: the survivor.")

    @model_validator(mode="after")
    def _holds_agree(self) -> Self:
        if self.on_hold != bool(self.hold_reasons):
            raise ValueError("on_hold must be true exactly when there are hold_reasons")
        if self.credit_limit is None and self.available is not None:
            raise ValueError("available must be null without a credit_limit")
        return self


class FieldError(_Outbound):
    """Point at one offending field, e.g. `payload.credit.limit`, and say what is wrong with it."""

    path: str
    message: str


class DeadLetter(_Outbound):
    """Publish a message that could not be applied on `mdm.deadletter.v1`, with the original bytes and why."""

    error_code: DeadLetterCode
    message: str
    errors: list[FieldError]
    source_topic: str
    partition: StrictInt = Field(ge=0)
    offset: StrictInt = Field(ge=0)
    key_b64: str | None = Field(description="The original Kafka key, base64; null if it had none.")
    value_b64: str = Field(description="The original message value, base64.")
    message_id: str | None = Field(description="The envelope's message_id, if it could be read.")
    dead_lettered_at: Timestamp
