"""The wire contracts: examples validate, committed schemas match the models, bad input fails at its field."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from contracts import (
    CONTRACT_VERSION,
    PAYLOAD_MODELS,
    ArCustomerBySourceRef,
    ArExposurePayload,
    CreditStatusEvent,
    CrmPayload,
    CustomerEvent,
    DeadLetter,
    EcommercePayload,
    Envelope,
    PosPayload,
    parse_payload,
)
from contracts.generate import SCHEMA_DIR, render_schemas

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"

ENVELOPE_EXAMPLES = ["crm.customer.json", "pos.customer.json", "ecommerce.customer.json", "ar.exposure.json"]
OUTBOUND_EXAMPLES: dict[str, type[BaseModel]] = {
    "customer-event.json": CustomerEvent,
    "credit-status-event.json": CreditStatusEvent,
    "deadletter.json": DeadLetter,
}


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return document


def crm(**payload: Any) -> dict[str, Any]:
    """Return a valid CRM upsert envelope whose payload is the example's with `payload` laid over it."""
    document = example("crm.customer.json")
    document["payload"].update(payload)
    return document


def with_credit(**credit: Any) -> dict[str, Any]:
    document = crm()
    document["payload"]["credit"].update(credit)
    return document


def envelope_with(**fields: Any) -> dict[str, Any]:
    document = crm()
    document.update(fields)
    return document


def validate_message(document: dict[str, Any]) -> BaseModel:
    """Validate an envelope, then its payload, the way the hub reads a message."""
    envelope = Envelope.model_validate(document)
    assert envelope.payload is not None
    return parse_payload(envelope.source, envelope.payload)


def ar(**payload: Any) -> dict[str, Any]:
    document = example("ar.exposure.json")
    document["payload"].update(payload)
    return document


# --- examples -----------------------------------------------------------------------------------------------


def test_the_examples_folder_holds_exactly_the_documented_examples() -> None:
    assert {p.name for p in EXAMPLES.glob("*.json")} == set(ENVELOPE_EXAMPLES) | set(OUTBOUND_EXAMPLES)


@pytest.mark.parametrize("name", ENVELOPE_EXAMPLES)
def test_every_inbound_example_validates_against_the_envelope_and_its_source_payload(name: str) -> None:
    document = example(name)
    envelope = Envelope.model_validate(document)
    assert envelope.payload is not None
    payload = parse_payload(envelope.source, envelope.payload)
    assert isinstance(payload, PAYLOAD_MODELS[envelope.source])


@pytest.mark.parametrize("name", sorted(OUTBOUND_EXAMPLES))
def test_every_outbound_example_validates_and_publishes_back_to_the_same_json(name: str) -> None:
    document = example(name)
    event = OUTBOUND_EXAMPLES[name].model_validate_json(json.dumps(document))
    assert event.model_dump(mode="json") == document


def test_the_crm_example_reads_money_as_a_decimal_and_keeps_its_nested_values() -> None:
    payload = validate_message(example("crm.customer.json"))
    assert isinstance(payload, CrmPayload)
    assert payload.credit is not None
    assert payload.credit.limit == Decimal("100000.00")
    assert payload.credit.check_limit is True
    assert payload.contacts[0].primary is True
    assert payload.tax_ids[0].scheme == "sg_uen"
    assert payload.custom_fields == {"sales_rep": "John Smith"}


def test_an_ar_exposure_may_name_its_customer_by_a_source_reference() -> None:
    payload = validate_message(ar(customer={"source": "crm", "source_record_id": "CRM-000123"}))
    assert isinstance(payload, ArExposurePayload)
    assert payload.customer == ArCustomerBySourceRef(source="crm", source_record_id="CRM-000123")


# --- schemas ------------------------------------------------------------------------------------------------


def test_committed_schemas_equal_the_schemas_the_models_render() -> None:
    rendered = render_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert committed.keys() == rendered.keys(), "contracts/schemas is out of date: run `make schemas`"
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} drifted from the models: run `make schemas` and commit it"


def test_every_schema_file_is_named_with_the_contract_version() -> None:
    assert all(name.endswith(f".{CONTRACT_VERSION}.schema.json") for name in render_schemas())


def test_the_published_schema_says_money_is_a_string() -> None:
    schema = json.loads(render_schemas()[f"credit-status-event.{CONTRACT_VERSION}.schema.json"])
    assert schema["properties"]["outstanding"]["type"] == "string"


# --- what is rejected, and where ----------------------------------------------------------------------------

REJECTED: list[tuple[str, dict[str, Any], tuple[str | int, ...]]] = [
    ("a naive occurred_at", envelope_with(occurred_at="2026-11-22T10:15:00"), ("occurred_at",)),
    ("an occurred_at given as Unix seconds", envelope_with(occurred_at=1_790_000_000), ("occurred_at",)),
    ("an upsert without a payload", envelope_with(payload=None), ("payload",)),
    ("an upsert with the payload absent", {k: v for k, v in crm().items() if k != "payload"}, ("payload",)),
    ("a message_id over 200 characters", envelope_with(message_id="m" * 201), ("message_id",)),
    ("an empty message_id", envelope_with(message_id=""), ("message_id",)),
    ("a blank source_record_id", envelope_with(source_record_id="   "), ("source_record_id",)),
    ("an unknown source", envelope_with(source="erp"), ("source",)),
    ("an unknown change", envelope_with(change="patch"), ("change",)),
    ("a payload that is not an object", envelope_with(payload=["x"]), ("payload",)),
    ("a float credit limit", with_credit(limit=100000.0), ("credit", "limit")),
    ("an integer credit limit", with_credit(limit=100000), ("credit", "limit")),
    ("a NaN credit limit", with_credit(limit="NaN"), ("credit", "limit")),
    ("an Infinity credit limit", with_credit(limit="Infinity"), ("credit", "limit")),
    ("a credit limit in exponent form", with_credit(limit="1e5"), ("credit", "limit")),
    ("a negative credit limit", with_credit(limit="-1.00"), ("credit", "limit")),
    (
        "a credit limit with more cents than the hub stores",
        with_credit(limit="100.123456"),
        ("credit", "limit"),
    ),
    ("a credit limit of 17 digits", with_credit(limit="1" * 17), ("credit", "limit")),
    ("an outstanding balance of 38 digits", ar(outstanding="9" * 38), ("outstanding",)),
    ("a lower-case currency", with_credit(currency="sgd"), ("credit", "currency")),
    ("a two-letter currency", with_credit(currency="SG"), ("credit", "currency")),
    ("three letters that are no ISO 4217 currency", with_credit(currency="XYZ"), ("credit", "currency")),
    ("an exposure in a currency ISO 4217 does not list", ar(currency="ABC"), ("currency",)),
    ('an exposure in "no currency" (XXX)', ar(currency="XXX"), ("currency",)),
    ('the string "true" for check_limit', with_credit(check_limit="true"), ("credit", "check_limit")),
    ("the number 1 for check_limit", with_credit(check_limit=1), ("credit", "check_limit")),
    ("a missing party_type", {**crm(), "payload": {"legal_name": "ABC"}}, ("party_type",)),
    ("an unknown party_type", crm(party_type="company"), ("party_type",)),
    ("an unknown status", crm(status="archived"), ("status",)),
    ("a date_of_birth that is not an ISO date", crm(date_of_birth="07/03/1984"), ("date_of_birth",)),
    ("a three-letter country", crm(addresses=[{"country": "SGP"}]), ("addresses", 0, "country")),
    ("a tax id without a value", crm(tax_ids=[{"scheme": "sg_uen"}]), ("tax_ids", 0, "value")),
    ("an email that is not a string", crm(emails=[42]), ("emails", 0)),
    (
        'the string "yes" for a contact\'s primary',
        crm(contacts=[{"primary": "yes"}]),
        ("contacts", 0, "primary"),
    ),
    ("custom fields that are not an object", crm(custom_fields=["x"]), ("custom_fields",)),
    ("a float outstanding balance", ar(outstanding=124000.0), ("outstanding",)),
    ("an exposure without a currency", ar(currency=None), ("currency",)),
    ("an exposure with a naive as_of", ar(as_of="2026-11-22T23:00:00"), ("as_of",)),
    (
        "an exposure that names its customer both ways",
        ar(customer={"golden_id": "CUS-1", "source": "crm", "source_record_id": "CRM-1"}),
        ("customer",),
    ),
]


@pytest.mark.parametrize(
    ("document", "location"), [case[1:] for case in REJECTED], ids=[case[0] for case in REJECTED]
)
def test_a_message_that_breaks_the_contract_is_rejected_at_the_offending_field(
    document: dict[str, Any], location: tuple[str | int, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_message(document)
    locations = [error["loc"] for error in caught.value.errors()]
    assert location in locations, locations


@pytest.mark.parametrize(
    ("model", "payload", "location"),
    [
        (PosPayload, {"loyalty_card": "LC-1"}, ("store_id",)),
        (PosPayload, {"store_id": ""}, ("store_id",)),
        (EcommercePayload, {"email": "a@b.c"}, ("account_id",)),
        (EcommercePayload, {"account_id": "a", "email_verified": "true"}, ("email_verified",)),
        (EcommercePayload, {"account_id": "a", "marketing_opt_in": "false"}, ("marketing_opt_in",)),
        (
            EcommercePayload,
            {"account_id": "a", "billing_address": {"country": "M"}},
            ("billing_address", "country"),
        ),
    ],
    ids=[
        "a POS payload without store_id",
        "a POS payload with an empty store_id",
        "an e-commerce payload without account_id",
        'the string "true" for email_verified',
        'the string "false" for marketing_opt_in',
        "a one-letter billing country",
    ],
)
def test_a_payload_that_breaks_its_source_contract_is_rejected_at_the_offending_field(
    model: type[BaseModel], payload: dict[str, Any], location: tuple[str | int, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    assert [error["loc"] for error in caught.value.errors()] == [location]


def test_an_upsert_without_a_payload_says_the_payload_is_required() -> None:
    with pytest.raises(ValidationError) as caught:
        Envelope.model_validate(envelope_with(payload=None))
    (error,) = caught.value.errors()
    assert error["type"] == "missing"
    assert "upsert" in error["msg"]


def test_a_float_credit_limit_says_money_is_a_decimal_string() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_message(with_credit(limit=100000.0))
    (error,) = caught.value.errors()
    assert error["loc"] == ("credit", "limit")
    assert "decimal string" in error["msg"]


# --- what is accepted ---------------------------------------------------------------------------------------


def test_a_delete_without_a_payload_is_accepted() -> None:
    document = envelope_with(change="delete")
    del document["payload"]
    envelope = Envelope.model_validate(document)
    assert envelope.change == "delete"
    assert envelope.payload is None


def test_a_delete_with_a_null_payload_is_accepted() -> None:
    assert Envelope.model_validate(envelope_with(change="delete", payload=None)).payload is None


def test_unknown_envelope_fields_are_ignored() -> None:
    envelope = Envelope.model_validate(envelope_with(trace_id="abc"))
    assert not hasattr(envelope, "trace_id")


def test_a_message_id_of_exactly_200_characters_is_accepted() -> None:
    assert Envelope.model_validate(envelope_with(message_id="m" * 200)).message_id == "m" * 200


def test_an_occurred_at_with_an_offset_is_accepted() -> None:
    envelope = Envelope.model_validate(envelope_with(occurred_at="2026-11-22T18:15:00+08:00"))
    assert envelope.occurred_at.utcoffset() is not None


def test_unknown_payload_fields_are_kept() -> None:
    payload = validate_message(crm(crm_segment="gold", addresses=[{"city": "Singapore", "unit": "04-01"}]))
    assert isinstance(payload, CrmPayload)
    assert payload.model_extra == {"crm_segment": "gold"}
    assert payload.addresses[0].model_extra == {"unit": "04-01"}


@pytest.mark.parametrize("empty", ["", "   ", None], ids=["empty", "whitespace", "null"])
def test_an_empty_string_means_the_same_as_null(empty: str | None) -> None:
    payload = validate_message(crm(trading_name=empty, status=empty, date_of_birth=empty, language=empty))
    assert isinstance(payload, CrmPayload)
    assert (payload.trading_name, payload.status, payload.date_of_birth, payload.language) == (None,) * 4


def test_an_empty_country_and_currency_mean_null() -> None:
    payload = validate_message(crm(addresses=[{"line1": "x", "country": ""}], credit={"currency": " "}))
    assert isinstance(payload, CrmPayload)
    assert payload.addresses[0].country is None
    assert payload.credit is not None
    assert payload.credit.currency is None


def test_absent_and_null_lists_mean_an_empty_list() -> None:
    absent = CrmPayload.model_validate({"party_type": "person"})
    null = CrmPayload.model_validate(
        {"party_type": "person", "tax_ids": None, "emails": None, "addresses": None, "contacts": None}
    )
    for payload in (absent, null):
        assert (payload.tax_ids, payload.emails, payload.addresses, payload.contacts) == ([], [], [], [])
        assert payload.custom_fields == {}


def test_empty_entries_in_a_list_of_emails_are_dropped() -> None:
    payload = CrmPayload.model_validate({"party_type": "person", "emails": ["", None, "a@b.c", "  "]})
    assert payload.emails == ["a@b.c"]


def test_a_null_flag_means_false() -> None:
    payload = CrmPayload.model_validate(
        {"party_type": "person", "contacts": [{"name": "J", "primary": None}]}
    )
    assert payload.contacts[0].primary is False


def test_a_lower_case_country_is_accepted_as_sent() -> None:
    payload = PosPayload.model_validate({"store_id": "KL-03", "country": "my"})
    assert payload.country == "my"


def test_a_person_may_carry_an_iso_date_of_birth() -> None:
    payload = CrmPayload.model_validate({"party_type": "person", "date_of_birth": "1984-03-07"})
    assert payload.date_of_birth is not None
    assert payload.date_of_birth.isoformat() == "1984-03-07"


# --- outbound -----------------------------------------------------------------------------------------------


def customer_event(**fields: Any) -> dict[str, Any]:
    document = copy.deepcopy(example("customer-event.json"))
    document.update(fields)
    return document


def test_an_outbound_event_with_an_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        CustomerEvent.model_validate(customer_event(note="x"))
    assert [error["loc"] for error in caught.value.errors()] == [("note",)]


def test_a_customer_snapshot_missing_a_field_is_rejected() -> None:
    document = customer_event()
    del document["customer"]["loyalty_cards"]
    with pytest.raises(ValidationError) as caught:
        CustomerEvent.model_validate(document)
    assert [error["loc"] for error in caught.value.errors()] == [("customer", "loyalty_cards")]


@pytest.mark.parametrize(
    "fields",
    [
        {"event_type": "customer.retired", "survivor_id": "CUS-0000001"},
        {"event_type": "customer.erased", "customer": {}},
        {"event_type": "customer.merged"},
        {"event_type": "customer.updated", "survivor_id": "CUS-0000001"},
        {"event_type": "customer.unmerged", "merged_ids": ["CUS-1"]},
    ],
    ids=[
        "a retired event that still carries a customer",
        "an erased event that carries a customer",
        "a merged event without merged_ids",
        "an updated event that names a survivor",
        "an unmerged event without split_into",
    ],
)
def test_a_customer_event_that_does_not_fit_its_type_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CustomerEvent.model_validate(customer_event(**fields))


def test_a_retired_event_carries_no_customer_and_names_its_survivor() -> None:
    event = CustomerEvent.model_validate(
        customer_event(event_type="customer.retired", customer=None, survivor_id="CUS-0000001")
    )
    assert event.model_dump(mode="json")["survivor_id"] == "CUS-0000001"


def test_a_merged_event_names_the_ids_it_absorbed() -> None:
    event = CustomerEvent.model_validate(
        customer_event(event_type="customer.merged", merged_ids=["CUS-0000043"])
    )
    assert event.merged_ids == ["CUS-0000043"]


def test_money_is_published_as_a_plain_decimal_string() -> None:
    document = example("credit-status-event.json")
    document.update(credit_limit=Decimal("1E+5"), available=Decimal("-24000.00"))
    published = CreditStatusEvent.model_validate(document).model_dump(mode="json")
    assert (published["credit_limit"], published["available"]) == ("100000", "-24000.00")


def test_a_credit_status_on_hold_without_a_reason_is_rejected() -> None:
    document = example("credit-status-event.json")
    document["hold_reasons"] = []
    with pytest.raises(ValidationError):
        CreditStatusEvent.model_validate(document)


def test_a_credit_status_with_an_unknown_hold_reason_is_rejected() -> None:
    document = example("credit-status-event.json")
    document["hold_reasons"] = ["bad_vibes"]
    with pytest.raises(ValidationError) as caught:
        CreditStatusEvent.model_validate(document)
    assert [error["loc"] for error in caught.value.errors()] == [("hold_reasons", 0)]


def test_a_dead_letter_with_an_unknown_error_code_is_rejected() -> None:
    document = example("deadletter.json")
    document["error_code"] = "oops"
    with pytest.raises(ValidationError) as caught:
        DeadLetter.model_validate(document)
    assert [error["loc"] for error in caught.value.errors()] == [("error_code",)]
