"""A clean record survives its trip through the JSON stored with its source record."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from hub.domain.model import Address, Contact, CreditTerms, RawTaxId, SourceRecord
from hub.domain.normalise import normalise
from hub.store.codec import record_from_json, record_to_json


def rich_record() -> SourceRecord:
    return SourceRecord(
        source="crm",
        source_record_id="R-1",
        occurred_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        party_type="organization",
        legal_name="Nordlys Bageri ApS",
        status="active",
        tax_ids=(RawTaxId("dk_cvr", "13585628"), RawTaxId(None, "not a number")),
        emails=("info@nordlys.example", "not an email"),
        phones=("+45 33 12 34 56",),
        addresses=(Address("billing", "Vesterbrogade 1", None, "Copenhagen", None, "1620", "DK"),),
        contacts=(Contact("Mette Hansen", "CFO", "mette@nordlys.example", None, True),),
        credit=CreditTerms(Decimal("25000.50"), "DKK", True, "NET30", "A"),
        loyalty_cards=("L-1",),
        custom_fields={"segment": "bakery", "tiers": [1, 2], "since": {"year": 1998}},
    )


def test_a_clean_record_comes_back_from_its_json_unchanged() -> None:
    record = normalise(rich_record())
    assert record.issues  # the invalid values are carried as issues, and must survive too

    document = record_to_json(record)

    assert record_from_json(json.loads(json.dumps(document))) == record


def test_dates_are_iso_and_money_a_decimal_string_in_the_json() -> None:
    record = replace(normalise(rich_record()), date_of_birth=date(1971, 5, 4))

    document = record_to_json(record)

    assert document["occurred_at"] == "2026-11-20T09:30:00+00:00"
    assert document["date_of_birth"] == "1971-05-04"
    assert document["credit"]["limit"] == "25000.50"
    assert document["addresses"][0]["postal_code"] == "1620"
    assert document["custom_fields"] == {"segment": "bakery", "tiers": [1, 2], "since": {"year": 1998}}
