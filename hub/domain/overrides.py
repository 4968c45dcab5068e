"""Steward overrides: a value a steward sets on a golden record wins over every source until removed.

An override is kept as its JSON form and parsed again on every survivorship run, so the same rules
validate it when it is set and when it is applied. Its lineage names the steward, not a source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.codes import CURRENCIES
from hub.domain.emails import normalise_email
from hub.domain.errors import InvalidValue
from hub.domain.model import CreditTerms
from hub.domain.phones import normalise_phone
from hub.domain.survivorship import GoldenAttributes, Lineage, missing_master_data

STEWARD_SOURCE = "steward"
STATUSES = ("prospect", "active", "inactive", "suspended")
_MONEY = re.compile(r"[0-9]{1,16}(\.[0-9]{1,2})?")


@dataclass(frozen=True)
class Override:
    """A steward's value for one attribute: who set it and when, for lineage."""

    attribute: str
    value: Any
    actor: str
    at: datetime


def _text(max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue("invalid_override", "the value must be a non-empty string")
        text = " ".join(value.split())
        if len(text) > max_length:
            raise InvalidValue("invalid_override", f"the value must be at most {max_length} characters")
        return text

    return parse


def _status(value: Any) -> str:
    if value not in STATUSES:
        raise InvalidValue("invalid_override", f"status must be one of {', '.join(STATUSES)}")
    return str(value)


def _date_of_birth(value: Any) -> date:
    try:
        born = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        born = None
    if born is None or not date(1900, 1, 1) <= born <= date.today():
        raise InvalidValue(
            "invalid_override", "date_of_birth must be an ISO date (YYYY-MM-DD), not in the future"
        )
    return born


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue("invalid_override", "the value must be true or false")
    return value


def _emails(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 20:
        raise InvalidValue("invalid_override", "emails must be a list of at most 20 addresses")
    return tuple(dict.fromkeys(normalise_email(v) for v in value))


def _phones(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 20:
        raise InvalidValue("invalid_override", "phones must be a list of at most 20 numbers in E.164 (+…)")
    if not all(v.strip().startswith("+") for v in value):
        raise InvalidValue("invalid_override", "phones must be in E.164: + and the country code")
    return tuple(dict.fromkeys(normalise_phone(v, None) for v in value))


def _money(value: Any) -> Decimal:
    if not isinstance(value, str) or not _MONEY.fullmatch(value):
        raise InvalidValue("invalid_override", 'a credit limit is a decimal string, such as "100000.00"')
    try:
        return Decimal(value)
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only decimals
        raise InvalidValue("invalid_override", "not a decimal amount") from error


def _currency(value: Any) -> str:
    if not isinstance(value, str) or value not in CURRENCIES:
        raise InvalidValue("invalid_override", "currency must be an ISO 4217 code such as MYR")
    return value


#: What a steward may override, and how each value is read. Credit fields are `credit.<field>`.
PARSERS: dict[str, Callable[[Any], Any]] = {
    "status": _status,
    "legal_name": _text(300),
    "trading_name": _text(300),
    "legal_form": _text(100),
    "first_name": _text(100),
    "last_name": _text(100),
    "date_of_birth": _date_of_birth,
    "customer_type": _text(100),
    "category": _text(100),
    "correspondence_mode": _text(50),
    "language": _text(20),
    "marketing_opt_in": _boolean,
    "emails": _emails,
    "phones": _phones,
    "credit.limit": _money,
    "credit.currency": _currency,
    "credit.check_limit": _boolean,
    "credit.payment_terms": _text(50),
    "credit.rating": _text(20),
}


def parse_override(attribute: str, value: Any) -> Any:
    """Return the domain value of an override, or raise InvalidValue naming what is wrong."""
    parser = PARSERS.get(attribute)
    if parser is None:
        raise InvalidValue(
            "attribute_not_overridable",
            f"{attribute!r} cannot be overridden; one of: {', '.join(sorted(PARSERS))}",
        )
    return parser(value)


def apply_overrides(attributes: GoldenAttributes, overrides: Mapping[str, Override]) -> GoldenAttributes:
    """Lay the stewards' values over the surviving ones, with the steward as their lineage."""
    if not overrides:
        return attributes
    values = dict(attributes.values)
    lineage = dict(attributes.lineage)
    credit_fields: dict[str, Any] = {}
    for attribute, override in sorted(overrides.items()):
        parsed = parse_override(attribute, override.value)
        origin = Lineage(STEWARD_SOURCE, override.actor, override.at)
        if attribute.startswith("credit."):
            credit_fields[attribute.removeprefix("credit.")] = parsed
            lineage["credit"] = origin
            continue
        if attribute in ("emails", "phones"):
            lineage = {k: v for k, v in lineage.items() if not k.startswith(f"{attribute}[")}
            lineage.update({f"{attribute}[{i}]": origin for i in range(len(parsed))})
        else:
            lineage[attribute] = origin
        values[attribute] = parsed
    if credit_fields:
        values["credit"] = replace(values.get("credit") or CreditTerms(), **credit_fields)
    return replace(attributes, values=values, lineage=lineage, missing=missing_master_data(values))
