"""Emails are syntax-checked and lower-cased; phones become E.164 in the customer's country."""

from __future__ import annotations

import pytest

from hub.domain.emails import normalise_email
from hub.domain.errors import InvalidValue
from hub.domain.phones import normalise_phone


@pytest.mark.parametrize(
    ("description", "value", "expected"),
    [
        ("mixed case is lower-cased", "Ravi.Kumar@Example.COM", "ravi.kumar@example.com"),
        ("surrounding whitespace is stripped", "  jane.doe@abcmfg.com.sg ", "jane.doe@abcmfg.com.sg"),
        ("plus addressing is kept", "Jane+Orders@abcmfg.com.sg", "jane+orders@abcmfg.com.sg"),
    ],
)
def test_a_valid_email_is_lower_cased(description: str, value: str, expected: str) -> None:
    assert normalise_email(value) == expected, description


@pytest.mark.parametrize(
    ("description", "value"),
    [
        ("no at sign", "ravi.kumar.example.com"),
        ("no domain", "ravi@"),
        ("two at signs", "ravi@@example.com"),
        ("a space inside", "ravi kumar@example.com"),
        ("empty", "   "),
    ],
)
def test_an_invalid_email_is_rejected_with_a_readable_reason(description: str, value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        normalise_email(value)
    assert raised.value.code == "invalid_email", description
    assert raised.value.message


@pytest.mark.parametrize(
    ("description", "value", "region", "expected"),
    [
        ("a Malaysian mobile typed locally", "012-345 6789", "MY", "+60123456789"),
        ("a Singapore number in international form", "+65 6123 4567", None, "+6561234567"),
        ("an international number ignores the region", "+65 6123 4567", "MY", "+6561234567"),
        ("a Singapore number typed locally", "6123 4567", "SG", "+6561234567"),
        ("a UK number with a trunk zero", "020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_a_valid_phone_becomes_e164(description: str, value: str, region: str | None, expected: str) -> None:
    assert normalise_phone(value, region) == expected, description


@pytest.mark.parametrize(
    ("description", "value", "region", "fragment"),
    [
        ("too short for Malaysia", "012-34", "MY", "not a valid number for MY"),
        ("letters", "call me", "MY", "not a valid number for MY"),
        ("a local number with no country to read it in", "012-345 6789", None, "no country"),
    ],
)
def test_an_invalid_phone_is_rejected_with_a_readable_reason(
    description: str, value: str, region: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        normalise_phone(value, region)
    assert raised.value.code == "invalid_phone", description
    assert fragment in raised.value.message
