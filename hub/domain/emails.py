"""Email addresses: syntax-checked, lower-cased."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from hub.domain.errors import InvalidValue


def normalise_email(value: str) -> str:
    """Return the lower-cased normalised address; no DNS look-up, so normalisation stays pure and fast."""
    text = value.strip()
    if not text:
        raise InvalidValue("invalid_email", "the email address is empty")
    try:
        validated = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue("invalid_email", f"{text!r} is not a valid email address: {exc}") from exc
    return validated.normalized.lower()
