"""Name comparison keys: case, accents, punctuation and legal-form suffixes do not matter."""

from __future__ import annotations

import pytest

from hub.domain.names import organisation_name_key, person_name_key, split_full_name


@pytest.mark.parametrize(
    ("description", "name", "expected"),
    [
        ("Pte. Ltd. with dots", "ABC Manufacturing Pte. Ltd.", "abc manufacturing"),
        ("Ltd", "Acme Widgets Ltd", "acme widgets"),
        ("Limited", "Acme Widgets Limited", "acme widgets"),
        ("Sdn Bhd", "Kumar Trading Sdn Bhd", "kumar trading"),
        ("Sdn. Bhd. with dots", "Kumar Trading Sdn. Bhd.", "kumar trading"),
        ("Berhad", "Maju Holdings Berhad", "maju holdings"),
        ("Pvt Ltd", "Infosys Pvt Ltd", "infosys"),
        ("Private Limited", "Infosys Private Limited", "infosys"),
        ("GmbH", "Müller Maschinenbau GmbH", "muller maschinenbau"),
        ("GmbH & Co. KG", "Müller GmbH & Co. KG", "muller"),
        ("A/S", "Novo Nordisk A/S", "novo nordisk"),
        ("S.A.", "Société Générale S.A.", "societe generale"),
        ("Inc. after a comma", "Apple, Inc.", "apple"),
        ("LLC", "Acme LLC", "acme"),
        ("sp. z o.o.", "Kowalski sp. z o.o.", "kowalski"),
        ("a legal form inside the name stays", "Limited Editions Books Ltd", "limited editions books"),
        ("the last word is never stripped", "Company Ltd", "company"),
        ("ampersand and 'and' agree", "Smith & Jones Ltd", "smith and jones"),
        ("whitespace and case collapse", "  ABC   MANUFACTURING  ", "abc manufacturing"),
        ("curly apostrophes join", "O\u2019Brien Ltd", "obrien"),
    ],
)
def test_an_organisation_name_key_ignores_case_accents_punctuation_and_legal_form(
    description: str, name: str, expected: str
) -> None:
    assert organisation_name_key(name) == expected, description


@pytest.mark.parametrize(
    ("description", "first", "last", "expected"),
    [
        ("first and last", "Ravi", "Kumar", "ravi kumar"),
        ("accents and case", "José", "ÁLVAREZ", "jose alvarez"),
        ("last name only", None, "Kumar", "kumar"),
        ("first name only", "Ravi", "", "ravi"),
        ("nothing", None, None, None),
        ("only whitespace", " ", "  ", None),
    ],
)
def test_a_person_name_key_is_first_then_last_casefolded_without_accents(
    description: str, first: str | None, last: str | None, expected: str | None
) -> None:
    assert person_name_key(first, last) == expected, description


@pytest.mark.parametrize(
    ("description", "full_name", "expected"),
    [
        ("two words", "Ravi Kumar", ("Ravi", "Kumar")),
        ("three words", "Anna Maria Schmidt", ("Anna Maria", "Schmidt")),
        ("one word is a last name", "Madonna", (None, "Madonna")),
        ("nothing", "  ", (None, None)),
    ],
)
def test_a_full_name_splits_into_first_names_and_the_last_word(
    description: str, full_name: str, expected: tuple[str | None, str | None]
) -> None:
    assert split_full_name(full_name) == expected, description
