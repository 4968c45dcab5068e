"""A source record becomes a clean record: canonical values, match keys and quality issues."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from hub.domain.model import (
    Address,
    CleanRecord,
    Contact,
    CreditTerms,
    QualityIssue,
    RawTaxId,
    SourceRecord,
    TaxId,
)
from hub.domain.normalise import default_region, normalise

OCCURRED_AT = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
KUALA_LUMPUR = Address(kind="billing", line1="12 Jalan Ampang", postal_code="50450", country="MY")
BANGALORE = Address(kind="billing", line1="1 MG Road", city="Bengaluru", state="Karnataka", country="IN")


def _record(**fields: Any) -> SourceRecord:
    fields.setdefault("source", "crm")
    fields.setdefault("source_record_id", "CRM-000123")
    fields.setdefault("occurred_at", OCCURRED_AT)
    return SourceRecord(**fields)


def _codes(clean: CleanRecord) -> list[tuple[str, str]]:
    return [(issue.code, issue.path) for issue in clean.issues]


def test_the_crm_example_normalises_without_issues() -> None:
    clean = normalise(
        _record(
            party_type="organization",
            legal_name=" ABC Manufacturing Pte. Ltd. ",
            trading_name="ABC Mfg",
            tax_ids=(RawTaxId("sg_uen", "53312786J"),),
            emails=("Purchasing@ABCmfg.com.sg",),
            phones=("+65 6123 4567",),
            addresses=(
                Address("billing", "8 Kaki Bukit Avenue 1", "#04-01", "Singapore", None, "417941", "sg"),
                Address(
                    "shipping", "Warehouse Complex B", "Jurong Port Road", "Singapore", None, "619094", "SG"
                ),
            ),
            contacts=(
                Contact("Jane Doe", "Purchasing Manager", "Jane.Doe@abcmfg.com.sg", "9123 4567", True),
            ),
            credit=CreditTerms(Decimal("100000.00"), "sgd", True, " NET30 ", "A"),
        )
    )
    assert clean.issues == ()
    assert clean.legal_name == "ABC Manufacturing Pte. Ltd."
    assert clean.name_key == "abc manufacturing"
    assert clean.tax_ids == (TaxId("sg_uen", "53312786J", True, "SG:uen:53312786J"),)
    assert clean.identifier_keys == ("SG:uen:53312786J",)
    assert clean.emails == ("purchasing@abcmfg.com.sg",)
    assert clean.phones == ("+6561234567",)
    assert clean.addresses[0].country == "SG"
    assert clean.contacts == (
        Contact("Jane Doe", "Purchasing Manager", "jane.doe@abcmfg.com.sg", "+6591234567", True),
    )
    assert clean.credit == CreditTerms(Decimal("100000.00"), "SGD", True, "NET30", "A")


@pytest.mark.parametrize(
    ("description", "fields", "expected"),
    [
        (
            "a two-word name",
            {"full_name": "Ravi Kumar"},
            ("Ravi", "Kumar", "ravi kumar", "person"),
        ),
        (
            "several first names",
            {"full_name": "  Anna  Maria Schmidt "},
            ("Anna Maria", "Schmidt", "anna maria schmidt", "person"),
        ),
        ("a single word is the last name", {"full_name": "Madonna"}, (None, "Madonna", "madonna", "person")),
        (
            "first and last given win over the full name",
            {"full_name": "R Kumar", "first_name": "Ravi", "last_name": "Kumar"},
            ("Ravi", "Kumar", "ravi kumar", "person"),
        ),
    ],
)
def test_a_pos_full_name_is_split_into_first_and_last_name(
    description: str, fields: dict[str, Any], expected: tuple[str | None, str | None, str, str]
) -> None:
    clean = normalise(_record(source="pos", **fields))
    assert (clean.first_name, clean.last_name, clean.name_key, clean.party_type) == expected, description


@pytest.mark.parametrize(
    ("description", "fields", "expected_type", "expected_key"),
    [
        (
            "a legal name makes an organisation",
            {"legal_name": "Kumar Trading Sdn Bhd"},
            "organization",
            "kumar trading",
        ),
        (
            "the trading name keys when there is no legal name",
            {"party_type": "organization", "trading_name": "Kumar Trading"},
            "organization",
            "kumar trading",
        ),
        (
            "a person's name makes a person",
            {"first_name": "José", "last_name": "Álvarez"},
            "person",
            "jose alvarez",
        ),
        (
            "a given party type is kept",
            {"party_type": "person", "legal_name": "Ravi Kumar"},
            "person",
            "ravi kumar",
        ),
        ("nothing at all defaults to person", {}, "person", None),
    ],
)
def test_the_party_type_and_name_key_follow_the_names_given(
    description: str, fields: dict[str, Any], expected_type: str, expected_key: str | None
) -> None:
    clean = normalise(_record(**fields))
    assert (clean.party_type, clean.name_key) == (expected_type, expected_key), description


def test_the_same_vat_number_written_three_ways_has_one_key() -> None:
    clean = normalise(
        _record(
            legal_name="Novo Nordisk A/S",
            tax_ids=(
                RawTaxId("dk_cvr", "13585628"),
                RawTaxId("eu_vat", "DK13585628"),
                RawTaxId("eu_vat", "DK 13 58 56 28"),
            ),
        )
    )
    assert [t.key for t in clean.tax_ids] == ["DK:vat:13585628"]
    assert clean.identifier_keys == ("DK:vat:13585628",)


@pytest.mark.parametrize(
    ("description", "tax_ids", "addresses", "expected_keys", "expected_issues"),
    [
        (
            "an invalid checksum becomes an issue and is left out",
            (RawTaxId("dk_cvr", "13585627"), RawTaxId("in_pan", "ACUPA7085R")),
            (),
            ["IN:pan:ACUPA7085R"],
            [("invalid_tax_id", "tax_ids[0]")],
        ),
        (
            "an unknown scheme is kept unverified, never an issue",
            (RawTaxId("xx_companyreg", "AB 123"),),
            (),
            ["xx_companyreg:AB123"],
            [],
        ),
        (
            "an unverified identifier repeated is kept once",
            (RawTaxId("xx_companyreg", "AB 123"), RawTaxId("xx_companyreg", "ab-123")),
            (),
            ["xx_companyreg:AB123"],
            [],
        ),
        (
            "a GSTIN agreeing with the Indian address state is kept",
            (RawTaxId("in_gstin", "29ACUPA7085R1ZH"),),
            (BANGALORE,),
            ["IN:gstin:29ACUPA7085R1ZH"],
            [],
        ),
        (
            "a GSTIN disagreeing with the Indian address state is an issue",
            (RawTaxId("in_gstin", "27ACUPA7085R1ZL"),),
            (BANGALORE,),
            [],
            [("invalid_tax_id", "tax_ids[0]")],
        ),
        (
            "a GSTIN agreeing with any one of several Indian addresses is kept",
            (RawTaxId("in_gstin", "27ACUPA7085R1ZL"),),
            (BANGALORE, Address(kind="shipping", line1="2 Marine Drive", state="IN-MH", country="IN")),
            ["IN:gstin:27ACUPA7085R1ZL"],
            [],
        ),
        (
            "a GSTIN is not checked against an address outside India",
            (RawTaxId("in_gstin", "27ACUPA7085R1ZL"),),
            (Address(kind="billing", line1="1 Main Street", state="KA", country="US"),),
            ["IN:gstin:27ACUPA7085R1ZL"],
            [],
        ),
        (
            "a GSTIN is not checked against a state the hub does not know",
            (RawTaxId("in_gstin", "27ACUPA7085R1ZL"),),
            (Address(kind="billing", line1="1 MG Road", state="Bangalore Urban", country="IN"),),
            ["IN:gstin:27ACUPA7085R1ZL"],
            [],
        ),
        (
            "a VAT number without scheme takes the billing country",
            (RawTaxId(None, "13585628"),),
            (Address(kind="billing", line1="Novo Allé 1", country="DK"),),
            ["DK:vat:13585628"],
            [],
        ),
        (
            "an empty identifier is ignored",
            (RawTaxId("dk_cvr", "  "),),
            (),
            [],
            [],
        ),
    ],
)
def test_identifiers_are_validated_keyed_and_deduplicated(
    description: str,
    tax_ids: tuple[RawTaxId, ...],
    addresses: tuple[Address, ...],
    expected_keys: list[str],
    expected_issues: list[tuple[str, str]],
) -> None:
    clean = normalise(_record(legal_name="Acme Ltd", tax_ids=tax_ids, addresses=addresses))
    assert [t.key for t in clean.tax_ids] == expected_keys, description
    assert _codes(clean) == expected_issues, description


def test_a_gstin_that_disagrees_with_the_address_state_says_so() -> None:
    clean = normalise(_record(tax_ids=(RawTaxId("in_gstin", "27ACUPA7085R1ZL"),), addresses=(BANGALORE,)))
    assert "disagrees with the address state" in clean.issues[0].message


@pytest.mark.parametrize(
    ("description", "phones", "addresses", "expected_phones", "expected_issues"),
    [
        (
            "a local number is read in the address country",
            ("012-345 6789",),
            (KUALA_LUMPUR,),
            ("+60123456789",),
            [],
        ),
        (
            "the billing address's country wins over an earlier shipping one",
            ("6123 4567",),
            (
                Address(kind="shipping", line1="x", country="MY"),
                Address(kind="billing", line1="y", country="SG"),
            ),
            ("+6561234567",),
            [],
        ),
        ("an international number needs no address", ("+60 12-345 6789",), (), ("+60123456789",), []),
        (
            "the same number twice is kept once",
            ("012-345 6789", "+60123456789"),
            (KUALA_LUMPUR,),
            ("+60123456789",),
            [],
        ),
        (
            "an invalid number is an issue",
            ("012-34", "012-345 6789"),
            (KUALA_LUMPUR,),
            ("+60123456789",),
            [("invalid_phone", "phones[0]")],
        ),
        (
            "a local number with no country is an issue",
            ("012-345 6789",),
            (),
            (),
            [("invalid_phone", "phones[0]")],
        ),
        ("an empty number is ignored", ("  ",), (KUALA_LUMPUR,), (), []),
    ],
)
def test_phones_become_e164_with_the_address_country_as_default_region(
    description: str,
    phones: tuple[str, ...],
    addresses: tuple[Address, ...],
    expected_phones: tuple[str, ...],
    expected_issues: list[tuple[str, str]],
) -> None:
    clean = normalise(_record(source="pos", full_name="Ravi Kumar", phones=phones, addresses=addresses))
    assert clean.phones == expected_phones, description
    assert _codes(clean) == expected_issues, description


def test_an_invalid_phone_issue_names_the_country_it_was_read_in() -> None:
    clean = normalise(_record(phones=("012-34",), addresses=(KUALA_LUMPUR,)))
    assert clean.issues == (
        QualityIssue("invalid_phone", "phones[0]", "'012-34' is not a valid number for MY"),
    )


@pytest.mark.parametrize(
    ("description", "emails", "expected_emails", "expected_issues"),
    [
        ("mixed case is lower-cased", ("Ravi.Kumar@Example.com",), ("ravi.kumar@example.com",), []),
        ("case variants are kept once", ("A@Example.com", "a@example.COM"), ("a@example.com",), []),
        (
            "an invalid email is an issue and left out",
            ("not-an-email", "b@example.com"),
            ("b@example.com",),
            [("invalid_email", "emails[0]")],
        ),
    ],
)
def test_emails_are_lower_cased_and_invalid_ones_reported(
    description: str,
    emails: tuple[str, ...],
    expected_emails: tuple[str, ...],
    expected_issues: list[tuple[str, str]],
) -> None:
    clean = normalise(_record(emails=emails))
    assert clean.emails == expected_emails, description
    assert _codes(clean) == expected_issues, description


def test_a_contacts_invalid_email_and_phone_are_reported_at_the_contact() -> None:
    clean = normalise(
        _record(
            legal_name="Acme Ltd",
            addresses=(KUALA_LUMPUR,),
            contacts=(Contact(name=" Jane  Doe ", email="jane@", phone="12"),),
        )
    )
    assert clean.contacts == (Contact(name="Jane Doe"),)
    assert _codes(clean) == [("invalid_email", "contacts[0].email"), ("invalid_phone", "contacts[0].phone")]


@pytest.mark.parametrize(
    ("description", "addresses", "expected", "expected_issues"),
    [
        (
            "fields are trimmed, country and postcode upper-cased",
            (
                Address(
                    kind=" billing ", line1=" 10 Downing  St ", postal_code=" sw1a   2aa ", country=" gb "
                ),
            ),
            (Address(kind="billing", line1="10 Downing St", postal_code="SW1A 2AA", country="GB"),),
            [],
        ),
        (
            "an address with only its kind is dropped",
            (Address(kind="billing", line1=" ", country=""),),
            (),
            [],
        ),
        (
            "a country that is not two letters is an issue and dropped",
            (Address(line1="1 Main St", country="Malaysia"),),
            (Address(line1="1 Main St"),),
            [("invalid_country", "addresses[0].country")],
        ),
        (
            "two letters that ISO 3166-1 does not assign are an issue and dropped",
            (Address(line1="1 Main St", city="Springfield", country="XX"),),
            (Address(line1="1 Main St", city="Springfield"),),
            [("invalid_country", "addresses[0].country")],
        ),
        (
            "UK, which ISO 3166-1 reserves for the United Kingdom, is read as GB",
            (Address(line1="10 Downing St", postal_code="SW1A 2AA", country="uk"),),
            (Address(line1="10 Downing St", postal_code="SW1A 2AA", country="GB"),),
            [],
        ),
        (
            "the same address twice is kept once",
            (
                KUALA_LUMPUR,
                Address(kind="billing", line1="12 JALAN AMPANG", postal_code="50450", country="my"),
            ),
            (KUALA_LUMPUR,),
            [],
        ),
        (
            "the same place as billing and shipping is kept twice",
            (
                KUALA_LUMPUR,
                Address(kind="shipping", line1="12 Jalan Ampang", postal_code="50450", country="MY"),
            ),
            (
                KUALA_LUMPUR,
                Address(kind="shipping", line1="12 Jalan Ampang", postal_code="50450", country="MY"),
            ),
            [],
        ),
    ],
)
def test_addresses_are_trimmed_checked_and_deduplicated(
    description: str,
    addresses: tuple[Address, ...],
    expected: tuple[Address, ...],
    expected_issues: list[tuple[str, str]],
) -> None:
    clean = normalise(_record(legal_name="Acme Ltd", addresses=addresses))
    assert clean.addresses == expected, description
    assert _codes(clean) == expected_issues, description


@pytest.mark.parametrize(
    ("description", "addresses", "expected"),
    [
        ("no addresses", (), None),
        ("the first with a country", (Address(line1="x"), Address(line1="y", country="SG")), "SG"),
        (
            "billing before others",
            (Address(kind="shipping", country="MY"), Address(kind="Billing", country="SG")),
            "SG",
        ),
    ],
)
def test_the_default_phone_region_is_the_billing_country_else_the_first(
    description: str, addresses: tuple[Address, ...], expected: str | None
) -> None:
    assert default_region(addresses) == expected, description


@pytest.mark.parametrize(
    ("description", "fields", "expected_identifiable"),
    [
        (
            "only invalid values",
            {
                "tax_ids": (RawTaxId("dk_cvr", "13585627"),),
                "emails": ("nobody",),
                "phones": ("12",),
                "addresses": (KUALA_LUMPUR,),
            },
            False,
        ),
        ("only blanks", {"legal_name": "  ", "first_name": "", "emails": (" ",)}, False),
        ("one valid phone", {"phones": ("012-345 6789",), "addresses": (KUALA_LUMPUR,)}, True),
        ("one unverified identifier", {"tax_ids": (RawTaxId("xx_reg", "42"),)}, True),
    ],
)
def test_a_record_is_identifiable_only_by_values_that_passed_validation(
    description: str, fields: dict[str, Any], expected_identifiable: bool
) -> None:
    assert normalise(_record(**fields)).is_identifiable is expected_identifiable, description


def test_issues_are_reported_in_field_order() -> None:
    clean = normalise(
        _record(
            tax_ids=(RawTaxId("dk_cvr", "1"),),
            emails=("x",),
            phones=("1",),
            addresses=(Address(line1="a", country="XYZ"),),
            contacts=(Contact(email="y"),),
        )
    )
    assert [issue.path for issue in clean.issues] == [
        "tax_ids[0]",
        "emails[0]",
        "phones[0]",
        "addresses[0].country",
        "contacts[0].email",
    ]


def test_other_values_pass_through_trimmed() -> None:
    clean = normalise(
        _record(
            source="ecommerce",
            legal_form=" gmbh ",
            customer_type=" ",
            language=" en ",
            marketing_opt_in=True,
            loyalty_cards=(" LC-99812 ", "", "LC-99812"),
            custom_fields={"sales_rep": "John Smith"},
            parent_source_record_id=" CRM-000001 ",
        )
    )
    assert (clean.legal_form, clean.customer_type, clean.language) == ("gmbh", None, "en")
    assert clean.marketing_opt_in is True
    assert clean.loyalty_cards == ("LC-99812",)
    assert clean.custom_fields == {"sales_rep": "John Smith"}
    assert clean.parent_source_record_id == "CRM-000001"


def test_a_date_of_birth_after_the_change_that_names_the_person_is_an_issue_and_not_kept() -> None:
    clean = normalise(
        _record(party_type="person", first_name="Aiko", last_name="Tan", date_of_birth=date(2090, 1, 1))
    )

    assert _codes(clean) == [("invalid_date_of_birth", "date_of_birth")]
    assert clean.date_of_birth is None  # a typo must not keep the person from matching by birth date
    born = normalise(_record(party_type="person", first_name="Aiko", date_of_birth=date(1984, 3, 7)))
    assert (born.date_of_birth, _codes(born)) == (date(1984, 3, 7), [])
