"""Clean records to JSON and back, so survivorship can re-run from what is stored."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hub.domain.model import Address, CleanRecord, Contact, CreditTerms, QualityIssue, TaxId


def record_to_json(record: CleanRecord) -> dict[str, Any]:
    """Render a clean record as JSON-ready values (dates ISO, money decimal strings)."""
    document: dict[str, Any] = _plain(record)
    return document


def _plain(value: Any) -> Any:
    # dataclasses.asdict deep-copies every value first: a fifth of an import's CPU went to it
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record_from_json(document: dict[str, Any]) -> CleanRecord:
    """Rebuild a clean record from `record_to_json`'s output."""
    d = dict(document)
    credit = d.get("credit")
    return CleanRecord(
        **{
            **d,
            "occurred_at": datetime.fromisoformat(d["occurred_at"]),
            "date_of_birth": date.fromisoformat(d["date_of_birth"]) if d.get("date_of_birth") else None,
            "tax_ids": tuple(TaxId(**t) for t in d.get("tax_ids", [])),
            "emails": tuple(d.get("emails", [])),
            "phones": tuple(d.get("phones", [])),
            "addresses": tuple(Address(**a) for a in d.get("addresses", [])),
            "contacts": tuple(Contact(**c) for c in d.get("contacts", [])),
            "credit": None
            if credit is None
            else CreditTerms(
                **{**credit, "limit": None if credit.get("limit") is None else Decimal(credit["limit"])}
            ),
            "loyalty_cards": tuple(d.get("loyalty_cards", [])),
            "issues": tuple(QualityIssue(**i) for i in d.get("issues", [])),
        }
    )
