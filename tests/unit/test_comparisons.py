"""Match comparisons: each rule puts a pair of clean records on one level and says why."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from hub.domain.comparisons import (
    DEFAULT_COMPARISONS,
    Address,
    Comparison,
    DateOfBirth,
    Email,
    Identifier,
    OrganisationName,
    PersonName,
    Phone,
)
from hub.domain.model import Address as PostalAddress
from hub.domain.model import CleanRecord, RawTaxId, SourceRecord
from hub.domain.normalise import normalise


def clean(**fields: Any) -> CleanRecord:
    """Normalise a CRM source record made of `fields`."""
    return normalise(
        SourceRecord(
            source="crm", source_record_id="CRM-1", occurred_at=datetime(2024, 5, 1, tzinfo=UTC), **fields
        )
    )


def person(first: str | None, last: str | None) -> dict[str, Any]:
    return {"party_type": "person", "first_name": first, "last_name": last}


def born(year: int, month: int, day: int) -> dict[str, Any]:
    return {"party_type": "person", "last_name": "Kumar", "date_of_birth": date(year, month, day)}


def ids(*pairs: tuple[str | None, str]) -> dict[str, Any]:
    return {"legal_name": "Acme", "tax_ids": tuple(RawTaxId(scheme, value) for scheme, value in pairs)}


def at(*addresses: PostalAddress) -> dict[str, Any]:
    return {"last_name": "Kumar", "addresses": addresses}


def addr(
    line1: str | None, postcode: str | None, city: str | None, country: str | None = "AU"
) -> PostalAddress:
    return PostalAddress(line1=line1, postal_code=postcode, city=city, country=country)


Case = tuple[str, dict[str, Any], dict[str, Any], str, str]


def check(
    comparison: Comparison, record: dict[str, Any], candidate: dict[str, Any], level: str, reason: str
) -> None:
    result = comparison.compare(clean(**record), clean(**candidate))
    assert result.comparison == comparison.name
    assert result.level in comparison.levels
    assert (result.level, reason in result.reason) == (level, True), result.reason


PERSON_NAME_CASES: list[Case] = [
    ("same name", person("Ravi", "Kumar"), person("Ravi", "Kumar"), "exact", "are equal"),
    (
        "case and accents do not matter",
        person("José", "García"),
        person("JOSE", "garcia"),
        "exact",
        "are equal",
    ),
    ("first and last swapped", person("Ravi", "Kumar"), person("Kumar", "Ravi"), "swapped", "swapped"),
    (
        "a close first name",
        person("Jon", "Kumar"),
        person("John", "Kumar"),
        "jaro_winkler_0.92",
        "last name 'Kumar' equals; first names 'Jon'/'John' Jaro-Winkler 0.93",
    ),
    (
        "typos in both names",
        person("Steven", "Kumar"),
        person("Stephen", "Kumra"),
        "jaro_winkler_0.85",
        "first names 'Steven'/'Stephen' Jaro-Winkler 0.89",
    ),
    (
        "an initial for the first name",
        person("R", "Kumar"),
        person("Ravi", "Kumar"),
        "surname_and_initial",
        "'R'",
    ),
    (
        "same surname, no first name on one side",
        person(None, "Kumar"),
        person("Ravi", "Kumar"),
        "surname_only",
        "missing",
    ),
    ("different first names", person("Ravi", "Kumar"), person("Anil", "Kumar"), "different", "first names"),
    ("different people", person("Ravi", "Kumar"), person("Sarah", "Lee"), "different", "'Kumar'/'Lee'"),
    ("no name on one side", person("Ravi", "Kumar"), {"legal_name": "Acme Ltd"}, "null", "no person name"),
]


@pytest.mark.parametrize(("description", "record", "candidate", "level", "reason"), PERSON_NAME_CASES)
def test_person_names_compare_exact_swapped_fuzzy_or_by_surname_and_initial(
    description: str, record: dict[str, Any], candidate: dict[str, Any], level: str, reason: str
) -> None:
    check(PersonName(), record, candidate, level, reason)


ORGANISATION_NAME_CASES: list[Case] = [
    (
        "legal forms are ignored",
        {"legal_name": "ABC Manufacturing Pte. Ltd."},
        {"legal_name": "ABC Manufacturing"},
        "exact",
        "'abc manufacturing'",
    ),
    (
        "a trading name matches a legal name",
        {"legal_name": "Kumar Holdings Sdn Bhd", "trading_name": "Kumar Trading"},
        {"legal_name": "Kumar Trading Sdn. Bhd."},
        "exact",
        "'kumar trading'",
    ),
    (
        "a typo",
        {"legal_name": "Kumar Trading Ltd"},
        {"legal_name": "Kumar Tradng Ltd"},
        "token_set_95",
        "similarity 96",
    ),
    (
        "a further typo",
        {"legal_name": "Northern Widget Supplies Ltd"},
        {"legal_name": "Northern Gadget Supplies Ltd"},
        "token_set_85",
        "similarity 92",
    ),
    (
        "different names",
        {"legal_name": "Acme Widgets"},
        {"legal_name": "Acme Gadgets"},
        "different",
        "similarity 83",
    ),
    (
        "no organisation name on one side",
        {"legal_name": "Acme"},
        person("Ravi", "Kumar"),
        "null",
        "no organisation",
    ),
]


@pytest.mark.parametrize(("description", "record", "candidate", "level", "reason"), ORGANISATION_NAME_CASES)
def test_organisation_names_compare_without_their_legal_forms(
    description: str, record: dict[str, Any], candidate: dict[str, Any], level: str, reason: str
) -> None:
    check(OrganisationName(), record, candidate, level, reason)


DATE_OF_BIRTH_CASES: list[Case] = [
    ("same date", born(1985, 3, 12), born(1985, 3, 12), "exact", "are equal"),
    ("day and month swapped", born(1985, 3, 12), born(1985, 12, 3), "day_month_swapped", "swapped"),
    ("one digit mistyped", born(1985, 3, 12), born(1985, 3, 13), "one_digit_off", "one digit"),
    ("two adjacent digits transposed", born(1985, 3, 12), born(1985, 3, 21), "one_digit_off", "one digit"),
    (
        "a digit of the year mistyped",
        born(1985, 3, 12),
        born(1986, 3, 12),
        "one_digit_off",
        "1985-03-12/1986-03-12",
    ),
    ("only the year agrees", born(1985, 3, 12), born(1985, 7, 28), "year_only", "only the year 1985"),
    ("different dates", born(1985, 3, 12), born(1971, 9, 2), "different", "differ"),
    ("no date on one side", born(1985, 3, 12), person("Ravi", "Kumar"), "null", "no date of birth"),
]


@pytest.mark.parametrize(("description", "record", "candidate", "level", "reason"), DATE_OF_BIRTH_CASES)
def test_dates_of_birth_compare_exact_or_by_their_typical_typos(
    description: str, record: dict[str, Any], candidate: dict[str, Any], level: str, reason: str
) -> None:
    check(DateOfBirth(), record, candidate, level, reason)


def emails(*values: str) -> dict[str, Any]:
    return {"last_name": "Kumar", "emails": values}


EMAIL_CASES: list[Case] = [
    (
        "one shared address, case ignored",
        emails("a@x.com", "Ravi@Example.com"),
        emails("ravi@example.com"),
        "exact",
        "'ravi@example.com'",
    ),
    (
        "same local part at another domain",
        emails("ravi.kumar@gmail.com"),
        emails("ravi.kumar@yahoo.com"),
        "same_local_part",
        "'ravi.kumar' at different domains 'gmail.com'/'yahoo.com'",
    ),
    (
        "a role mailbox at another domain",
        emails("info@acme.com"),
        emails("info@other.com"),
        "different",
        "differ",
    ),
    ("different addresses", emails("ravi@example.com"), emails("anil@example.com"), "different", "differ"),
    ("no email on one side", emails("ravi@example.com"), emails(), "null", "no email"),
]


@pytest.mark.parametrize(("description", "record", "candidate", "level", "reason"), EMAIL_CASES)
def test_emails_compare_by_shared_address_or_local_part(
    description: str, record: dict[str, Any], candidate: dict[str, Any], level: str, reason: str
) -> None:
    check(Email(), record, candidate, level, reason)


def phones(*values: str) -> dict[str, Any]:
    return {"last_name": "Kumar", "phones": values}


PHONE_CASES: list[Case] = [
    (
        "the same number written two ways",
        phones("+45 33 12 34 56"),
        phones("+4533123456"),
        "exact",
        "'+4533123456'",
    ),
    (
        "same last 8 digits in another country",
        phones("+4533123456"),
        phones("+61 2 3312 3456"),
        "last_8_digits",
        "same 8 digits",
    ),
    ("different numbers", phones("+4533123456"), phones("+4533999999"), "different", "differ"),
    ("no phone on one side", phones("+4533123456"), phones(), "null", "no phone"),
]


@pytest.mark.parametrize(("description", "record", "candidate", "level", "reason"), PHONE_CASES)
def test_phones_compare_by_e164_number_or_last_8_digits(
    description: str, record: dict[str, Any], candidate: dict[str, Any], level: str, reason: str
) -> None:
    check(Phone(), record, candidate, level, reason)


IDENTIFIER_CASES: list[Case] = [
    (
        "a CVR and an EU VAT number are the same id",
        ids(("dk_cvr", "13585628")),
        ids(("eu_vat", "DK 13 58 56 28")),
        "exact_valid",
        "DK:vat:13585628",
    ),
    (
        "a shared id of a scheme stdnum does not know",
        ids(("au_member", "123 456")),
        ids(("au_member", "123456")),
        "exact_unverified",
        "au_member:123456",
    ),
    (
        "two valid VAT numbers of one country conflict",
        ids(("dk_cvr", "13585628")),
        ids(("dk_cvr", "13585636")),
        "conflict",
        "valid DK:vat identifiers differ: DK:vat:13585628 / DK:vat:13585636",
    ),
    (
        "a conflict outranks a shared id of another kind",
        ids(("dk_cvr", "13585628"), ("au_member", "1")),
        ids(("dk_cvr", "13585636"), ("au_member", "1")),
        "conflict",
        "DK:vat",
    ),
    (
        "different unverified ids of one scheme",
        ids(("au_member", "1111")),
        ids(("au_member", "2222")),
        "different",
        "au_member identifiers differ",
    ),
    (
        "ids of unrelated kinds are no evidence",
        ids(("dk_cvr", "13585628")),
        ids(("gb_vat", "GB980780684")),
        "null",
        "no identifier of a common kind",
    ),
    ("no id on one side", ids(("dk_cvr", "13585628")), ids(), "null", "no identifier"),
]


@pytest.mark.parametrize(("description", "record", "candidate", "level", "reason"), IDENTIFIER_CASES)
def test_identifiers_compare_shared_valid_unverified_or_conflicting(
    description: str, record: dict[str, Any], candidate: dict[str, Any], level: str, reason: str
) -> None:
    check(Identifier(), record, candidate, level, reason)


ADDRESS_CASES: list[Case] = [
    (
        "same postcode and a close first line",
        at(addr("12 Main Street", "2000", "Sydney")),
        at(addr("12 main street unit", "2000", "Sydney")),
        "exact_or_close",
        "token-set similarity 100",
    ),
    (
        "the best of several addresses counts",
        at(addr("1 Other Rd", "3000", "Melbourne"), addr("12 Main Street", "2000", "Sydney")),
        at(addr("12 Main St.", "2000", "Sydney")),
        "exact_or_close",
        "postcode '2000' equals",
    ),
    (
        "same postcode and city, other street",
        at(addr("12 Main Street", "2000", "Sydney")),
        at(addr("7 George Street", "2000", "SYDNEY")),
        "postcode",
        "postcode '2000' and city 'Sydney' equal",
    ),
    (
        "same city only",
        at(addr(None, "2000", "Sydney")),
        at(addr(None, "2010", "Sydney")),
        "city",
        "city 'Sydney'",
    ),
    (
        "same postcode in another country",
        at(addr("12 Main Street", "2000", "Sydney", "AU")),
        at(addr("12 Main Street", "2000", "Sydney", "ZA")),
        "different",
        "countries AU/ZA",
    ),
    (
        "different places",
        at(addr(None, "2000", "Sydney")),
        at(addr(None, "3000", "Melbourne")),
        "different",
        "differ",
    ),
    ("no address on one side", at(addr(None, "2000", "Sydney")), at(), "null", "no address"),
]


@pytest.mark.parametrize(("description", "record", "candidate", "level", "reason"), ADDRESS_CASES)
def test_addresses_compare_by_postcode_first_line_and_city(
    description: str, record: dict[str, Any], candidate: dict[str, Any], level: str, reason: str
) -> None:
    check(Address(), record, candidate, level, reason)


def test_every_default_comparison_has_a_unique_name_and_ends_with_the_null_level() -> None:
    names = [c.name for c in DEFAULT_COMPARISONS]
    assert len(set(names)) == len(names)
    assert all(c.levels[-1] == "null" and len(set(c.levels)) == len(c.levels) for c in DEFAULT_COMPARISONS)


@pytest.mark.parametrize(
    ("description", "record", "candidate", "level"),
    [
        (
            "one character off",
            ids(("au_member", "1234567")),
            ids(("au_member", "1234568")),
            "near_unverified",
        ),
        (
            "two adjacent characters swapped",
            ids(("au_member", "1234567")),
            ids(("au_member", "1234576")),
            "near_unverified",
        ),
        ("two characters off", ids(("au_member", "1234567")), ids(("au_member", "1234599")), "different"),
    ],
)
def test_unverified_identifiers_one_typo_apart_are_near(
    description: str, record: dict[str, Any], candidate: dict[str, Any], level: str
) -> None:
    assert Identifier().compare(clean(**record), clean(**candidate)).level == level, description


def test_birth_dates_two_digits_apart_are_near_not_different() -> None:
    assert (
        DateOfBirth().compare(clean(**born(1980, 3, 14)), clean(**born(1980, 3, 41 - 20))).level
        == "two_digits_off"
    )
