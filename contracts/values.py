"""Value types shared by the inbound and outbound contracts: money, codes, times, lenient text and lists.

Each type is an `Annotated` alias, so a model field reads as what it means (`outstanding: Money`) and the
rule lives in one place. The JSON Schema of each type says what goes on the wire; where a type accepts more
on input (null for an empty list), its schema says so too.
"""

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from contracts.codes import CURRENCIES

Source = Literal["crm", "pos", "ecommerce", "ar"]
CustomerSource = Literal["crm", "pos", "ecommerce"]
PartyType = Literal["organization", "person"]
CustomerStatus = Literal["prospect", "active", "inactive", "suspended"]

#: At most 16 digits before the point and 2 after: what the hub stores (NUMERIC(18, 2)). More would be
#: rounded away or overflow on the way in, so the contract says so instead.
_MONEY = re.compile(r"-?[0-9]{1,16}(\.[0-9]{1,2})?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _blank_to_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def null_as_empty_list(value: object) -> object:
    """Read null as [], so that absent, null and empty mean the same."""
    return [] if value is None else value


def _null_to_empty_dict(value: object) -> object:
    return {} if value is None else value


def _null_to_false(value: object) -> object:
    return False if value is None else value


def _present_texts(value: object) -> object:
    # An empty entry in a list of emails or phones is "no value", like an absent one: drop it, do not reject.
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None and not (isinstance(v, str) and not v.strip())]
    return value


def _money_text(value: object, *, negative_allowed: bool) -> object:
    # Money is never a float: 0.1 + 0.2 != 0.3, and a JSON number may already have lost cents on the way.
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("must be a finite amount")
    elif not isinstance(value, str):
        raise ValueError('must be a decimal string such as "100000.00", never a JSON number')
    elif not _MONEY.fullmatch(value):
        raise ValueError(
            f'must be a decimal string such as "100000.00", with at most 16 digits before the point and 2'
            f" after, not {value[:40]!r}"
        )
    if not negative_allowed and Decimal(value) < 0:
        raise ValueError("must not be negative")
    return value


def _money(value: object) -> object:
    return _money_text(value, negative_allowed=True)


def _non_negative_money(value: object) -> object:
    return _money_text(value, negative_allowed=False)


def _plain_decimal(value: Decimal) -> str:
    return format(value, "f")


def _timestamp_text(value: object) -> object:
    # Lax pydantic would read a number as Unix seconds; the contract says RFC 3339 text.
    if isinstance(value, str | datetime):
        return value
    raise ValueError("must be an RFC 3339 date-time string with a time zone, e.g. 2026-11-22T10:15:00Z")


def _optional_iso_date(value: object) -> object:
    value = _blank_to_none(value)
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError("must be an ISO 8601 date, e.g. 1984-03-07")


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(_plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": f"^{_MONEY.pattern}$", "examples": ["124000.00"]}),
]
"""An amount of money: a decimal string on the wire, a `Decimal` in Python, never a float."""

NonNegativeMoney = Annotated[
    Decimal,
    BeforeValidator(_non_negative_money),
    PlainSerializer(_plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,16}(\.[0-9]{1,2})?$", "examples": ["100000.00"]}),
]
"""An amount that cannot be below zero, such as a credit limit."""

OptionalMoney = Annotated[Money | None, BeforeValidator(_blank_to_none)]

OptionalNonNegativeMoney = Annotated[NonNegativeMoney | None, BeforeValidator(_blank_to_none)]


def _iso_currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_iso_currency),
    WithJsonSchema({"type": "string", "enum": sorted(CURRENCIES), "examples": ["SGD"]}),
]
"""An ISO 4217 currency code, upper case, that ISO lists: `SGD`, not `XYZ`."""

OptionalCurrencyCode = Annotated[CurrencyCode | None, BeforeValidator(_blank_to_none)]

CanonicalCurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""A currency as the hub publishes it: three upper-case letters (ISO membership is checked on the way in)."""

OptionalCountryCode = Annotated[
    Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] | None, BeforeValidator(_blank_to_none)
]
"""An ISO 3166-1 alpha-2 country as a source sent it (either case); the hub upper-cases it."""

CanonicalCountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""An ISO 3166-1 alpha-2 country as the hub publishes it: upper case."""

Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp_text)]
"""An RFC 3339 date-time with a time zone; a naive time is an error."""

OptionalIsoDate = Annotated[
    date | None, BeforeValidator(_optional_iso_date, json_schema_input_type=date | None)
]
"""A calendar date as `YYYY-MM-DD`; empty means absent."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
"""A required key such as a source record id: at least one visible character, at most 200."""

RequiredText = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
"""A required string with at least one visible character."""

OptionalCustomerStatus = Annotated[CustomerStatus | None, BeforeValidator(_blank_to_none)]

OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]
"""A string that may be absent; empty or whitespace-only means absent."""

TextList = Annotated[
    list[str], BeforeValidator(_present_texts, json_schema_input_type=list[str | None] | None)
]
"""A list of strings; null means [], and empty entries are dropped."""

Flag = Annotated[StrictBool, BeforeValidator(_null_to_false, json_schema_input_type=bool | None)]
"""A JSON boolean (never the string "true"); null means false."""

OptionalFlag = StrictBool | None
"""A JSON boolean (never the string "true") or null for unknown."""

CustomFields = Annotated[
    dict[str, Any], BeforeValidator(_null_to_empty_dict, json_schema_input_type=dict[str, Any] | None)
]
"""Free-form fields a source keeps about a customer; null means {}."""

Version = Annotated[int, Field(strict=True, ge=1)]
"""A version number per golden id: 1, 2, 3, ..."""
