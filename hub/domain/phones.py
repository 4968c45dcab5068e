"""Phone numbers: parsed with the customer's country as default region, kept as E.164."""

from __future__ import annotations

import phonenumbers

from hub.domain.errors import InvalidValue


def normalise_phone(value: str, region: str | None) -> str:
    """Return the number in E.164 (`+6561234567`); a number without `+` is read in `region`."""
    text = value.strip()
    where = f"for {region}" if region else "(no country to read it in)"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue("invalid_phone", f"{text!r} is not a valid number {where}: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue("invalid_phone", f"{text!r} is not a valid number {where}")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
