"""Inbound contract, v1: the envelope every source message travels in, and each source's payload (SPEC 4).

Payloads are lenient about what they do not know and strict about what they do: an unknown field is kept
(`model_extra`), a known field of the wrong type or format is an error. Absent, null and empty mean the same.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from contracts.values import (
    CurrencyCode,
    CustomerSource,
    CustomFields,
    Flag,
    Identifier,
    Money,
    OptionalCountryCode,
    OptionalCurrencyCode,
    OptionalCustomerStatus,
    OptionalFlag,
    OptionalIsoDate,
    OptionalMoney,
    OptionalNonNegativeMoney,
    OptionalText,
    PartyType,
    RequiredText,
    Source,
    TextList,
    Timestamp,
    null_as_empty_list,
)


class Envelope(BaseModel):
    """Wrap one change of one source record: who, which record, what kind of change, when, and its state."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(
        min_length=1,
        max_length=200,
        description="Idempotency key: the same id applied twice changes nothing the second time.",
    )
    source: Source = Field(description="The source system; must match the topic it arrived on.")
    source_record_id: Identifier = Field(description="The record's id in the source system; the Kafka key.")
    change: Literal["upsert", "delete"]
    occurred_at: Timestamp = Field(description="When the source changed, RFC 3339 with a time zone.")
    payload: dict[str, Any] | None = Field(
        default=None,
        validate_default=True,
        description="The full current state of the source record; required for an upsert.",
    )

    @field_validator("payload")
    @classmethod
    def _payload_required_for_upsert(
        cls, payload: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        # A field validator rather than a model validator, so that the error's location is ('payload',).
        if payload is None and info.data.get("change") == "upsert":
            raise PydanticCustomError("missing", "Field required when change is 'upsert'")
        return payload


class _PayloadPart(BaseModel):
    # Unknown fields are kept so that the stored source record holds everything the source sent.
    model_config = ConfigDict(extra="allow")


class TaxIdIn(_PayloadPart):
    """Name a tax or registration id by its python-stdnum scheme, e.g. `sg_uen`."""

    scheme: RequiredText
    value: RequiredText


class AddressIn(_PayloadPart):
    """Describe a postal address as the source holds it; `kind` is billing, shipping or the source's label."""

    kind: OptionalText = None
    line1: OptionalText = None
    line2: OptionalText = None
    city: OptionalText = None
    state: OptionalText = None
    postal_code: OptionalText = None
    country: OptionalCountryCode = None


class ContactIn(_PayloadPart):
    """Describe a contact person of an organisation."""

    name: OptionalText = None
    title: OptionalText = None
    email: OptionalText = None
    phone: OptionalText = None
    primary: Flag = False


class CreditIn(_PayloadPart):
    """Carry the credit terms the CRM grants a customer."""

    limit: OptionalNonNegativeMoney = None
    currency: OptionalCurrencyCode = None
    check_limit: Flag = False
    payment_terms: OptionalText = None
    rating: OptionalText = None


class CompanyIn(_PayloadPart):
    """Name the company a shop account buys for."""

    name: OptionalText = None
    vat_number: OptionalText = None


TaxIds = Annotated[
    list[TaxIdIn], BeforeValidator(null_as_empty_list, json_schema_input_type=list[TaxIdIn] | None)
]
Addresses = Annotated[
    list[AddressIn], BeforeValidator(null_as_empty_list, json_schema_input_type=list[AddressIn] | None)
]
Contacts = Annotated[
    list[ContactIn], BeforeValidator(null_as_empty_list, json_schema_input_type=list[ContactIn] | None)
]


class CrmPayload(_PayloadPart):
    """Carry a CRM account or contact snapshot, B2B or B2C: the richest source."""

    party_type: PartyType
    legal_name: OptionalText = None
    trading_name: OptionalText = None
    legal_form: OptionalText = None
    customer_type: OptionalText = None
    category: OptionalText = None
    first_name: OptionalText = None
    last_name: OptionalText = None
    date_of_birth: OptionalIsoDate = None
    status: OptionalCustomerStatus = None
    tax_ids: TaxIds = Field(default_factory=list)
    emails: TextList = Field(default_factory=list)
    phones: TextList = Field(default_factory=list)
    addresses: Addresses = Field(default_factory=list)
    contacts: Contacts = Field(default_factory=list)
    parent_source_record_id: OptionalText = Field(
        default=None, description="The parent company's record id in the same source."
    )
    credit: CreditIn | None = None
    also_supplier_id: OptionalText = Field(default=None, description="The customer's vendor record, if any.")
    correspondence_mode: OptionalText = None
    language: OptionalText = None
    custom_fields: CustomFields = Field(default_factory=dict)


class PosPayload(_PayloadPart):
    """Carry a POS walk-in or loyalty customer, often typed in a hurry at a till."""

    store_id: RequiredText
    loyalty_card: OptionalText = None
    name: OptionalText = None
    mobile: OptionalText = None
    email: OptionalText = None
    postcode: OptionalText = None
    country: OptionalCountryCode = None


class EcommercePayload(_PayloadPart):
    """Carry a shop account."""

    account_id: RequiredText
    email: OptionalText = None
    email_verified: OptionalFlag = None
    first_name: OptionalText = None
    last_name: OptionalText = None
    phone: OptionalText = None
    billing_address: AddressIn | None = None
    shipping_addresses: Addresses = Field(default_factory=list)
    marketing_opt_in: OptionalFlag = None
    company: CompanyIn | None = None


class ArCustomerByGoldenId(_PayloadPart):
    """Name the customer of an AR account by its golden id."""

    golden_id: RequiredText


class ArCustomerBySourceRef(_PayloadPart):
    """Name the customer of an AR account by a source reference."""

    source: CustomerSource
    source_record_id: Identifier


def _one_customer_reference(value: object) -> object:
    # Both forms at once would let the union pick one silently, and exposure booked on the wrong customer
    # puts the wrong customer on credit hold.
    if (
        isinstance(value, dict)
        and "golden_id" in value
        and ("source" in value or "source_record_id" in value)
    ):
        raise ValueError("name the customer by golden_id or by source and source_record_id, not both")
    return value


class ArExposurePayload(_PayloadPart):
    """Carry the full outstanding balance of one AR account."""

    customer: Annotated[
        ArCustomerByGoldenId | ArCustomerBySourceRef, BeforeValidator(_one_customer_reference)
    ]
    outstanding: Money
    overdue: OptionalMoney = None
    currency: CurrencyCode
    as_of: Timestamp


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "crm": CrmPayload,
    "pos": PosPayload,
    "ecommerce": EcommercePayload,
    "ar": ArExposurePayload,
}
"""The payload contract of each source."""


def parse_payload(source: str, payload: dict[str, Any]) -> BaseModel:
    """Validate a payload against its source's contract; raise pydantic's ValidationError if it breaks it."""
    try:
        model = PAYLOAD_MODELS[source]
    except KeyError:
        raise ValueError(f"no payload contract for source {source!r}") from None
    return model.model_validate(payload)
