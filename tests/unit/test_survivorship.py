"""Survivorship rules, table-driven: which source record gives each attribute, and the lineage."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hub.domain.model import Address, CleanRecord, Contact, CreditTerms, SourceRecord
from hub.domain.normalise import normalise
from hub.domain.survivorship import AttributeRule, SurvivorshipRules, survive

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def clean(source: str, ref: str, minutes: int = 0, **fields: object) -> CleanRecord:
    record = SourceRecord(source=source, source_record_id=ref, occurred_at=T0 + timedelta(minutes=minutes))  # type: ignore[arg-type]
    return normalise(replace(record, **fields))  # type: ignore[arg-type]


DEFAULT = SurvivorshipRules()


@pytest.mark.parametrize(
    ("description", "records", "rules", "attribute", "expected", "from_ref"),
    [
        (
            "source priority puts the CRM's legal name before a newer shop spelling",
            [clean("crm", "C1", 0, legal_name="ABC Pte Ltd"), clean("ecommerce", "E1", 9, legal_name="abc")],
            DEFAULT,
            "legal_name",
            "ABC Pte Ltd",
            "C1",
        ),
        (
            "within one source the most recent record wins",
            [
                clean("crm", "C1", 0, legal_name="Old Name Ltd"),
                clean("crm", "C2", 5, legal_name="New Name Ltd"),
            ],
            DEFAULT,
            "legal_name",
            "New Name Ltd",
            "C2",
        ),
        (
            "a source without the value is passed over",
            [clean("crm", "C1", 0, legal_name="X Ltd"), clean("ecommerce", "E1", 0, language="da")],
            DEFAULT,
            "language",
            "da",
            "E1",
        ),
        (
            "most recent ignores source priority",
            [
                clean("crm", "C1", 0, legal_name="A", language="en"),
                clean("pos", "P1", 3, legal_name="A", language="ms"),
            ],
            SurvivorshipRules(attributes={"language": AttributeRule("most_recent")}),
            "language",
            "ms",
            "P1",
        ),
        (
            "most complete takes the fullest credit block",
            [
                clean("crm", "C1", 9, legal_name="A", credit=CreditTerms(limit=Decimal(5))),
                clean(
                    "crm",
                    "C2",
                    0,
                    legal_name="A",
                    credit=CreditTerms(limit=Decimal(5), currency="SGD", rating="A"),
                ),
            ],
            SurvivorshipRules(attributes={"credit": AttributeRule("most_complete")}),
            "credit",
            CreditTerms(limit=Decimal(5), currency="SGD", rating="A"),
            "C2",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_single_valued_attributes_follow_their_rule_and_record_lineage(
    description: str,
    records: list[CleanRecord],
    rules: SurvivorshipRules,
    attribute: str,
    expected: object,
    from_ref: str,
) -> None:
    golden = survive(records, rules)
    assert golden.values[attribute] == expected
    assert golden.lineage[attribute].source_record_id == from_ref


def test_first_and_last_name_come_from_the_same_record() -> None:
    records = [
        clean("ecommerce", "E1", 9, first_name="Ravi", last_name=None),
        clean("crm", "C1", 0, first_name=None, last_name="Kumar"),
    ]
    golden = survive(records, DEFAULT)
    assert (golden.values["first_name"], golden.values["last_name"]) == (None, "Kumar")


def test_multi_valued_attributes_are_unions_without_duplicates() -> None:
    records = [
        clean("crm", "C1", 0, legal_name="A", emails=("a@x.example", "b@x.example")),
        clean("ecommerce", "E1", 1, legal_name="A", emails=("B@X.example", "c@x.example")),
    ]
    golden = survive(records, DEFAULT)
    assert golden.values["emails"] == ("a@x.example", "b@x.example", "c@x.example")
    assert golden.lineage["emails[2]"].source_record_id == "E1"


def test_addresses_are_kept_within_the_limit_of_twenty() -> None:
    addresses = tuple(Address(kind="shipping", line1=f"{i} Main Street", country="SG") for i in range(30))
    golden = survive([clean("crm", "C1", 0, legal_name="A", addresses=addresses)], DEFAULT)
    assert len(golden.values["addresses"]) == 20


def test_an_organisation_without_billing_address_tax_id_or_contact_is_incomplete() -> None:
    golden = survive([clean("crm", "C1", 0, party_type="organization", legal_name="A Ltd")], DEFAULT)
    assert golden.missing == ("tax_ids", "billing_address", "contacts")
    assert not golden.complete


def test_a_person_with_name_address_and_email_is_complete() -> None:
    record = clean(
        "ecommerce",
        "E1",
        0,
        party_type="person",
        first_name="Ravi",
        last_name="Kumar",
        emails=("ravi@example.com",),
        addresses=(Address(kind="billing", line1="12 Jalan Ampang", country="MY"),),
        contacts=(Contact(name="x"),),
    )
    assert survive([record], DEFAULT).complete


def test_rules_from_a_file_reject_an_unknown_rule() -> None:
    with pytest.raises(ValueError, match="unknown rule"):
        SurvivorshipRules.from_mapping({"attributes": {"legal_name": {"rule": "loudest"}}})
