"""Builders of inbound messages for tests, following the contract of SPEC 4."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def envelope(
    source: str,
    source_record_id: str,
    payload: dict[str, Any] | None,
    *,
    occurred_at: datetime | None = None,
    minutes: int = 0,
    message_id: str | None = None,
    change: str = "upsert",
) -> dict[str, Any]:
    """Return an envelope document around a payload."""
    at = occurred_at or BASE_TIME + timedelta(minutes=minutes)
    return {
        "message_id": message_id or str(uuid.uuid4()),
        "source": source,
        "source_record_id": source_record_id,
        "change": change,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "payload": payload,
    }


def encode(document: dict[str, Any] | list[Any]) -> bytes:
    """Encode a document as the UTF-8 JSON a source system sends."""
    return json.dumps(document).encode()


def crm_organisation(name: str, *, vat: tuple[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """Return a CRM organisation payload."""
    payload: dict[str, Any] = {
        "party_type": "organization",
        "legal_name": name,
        "status": "active",
        "addresses": [
            {
                "kind": "billing",
                "line1": "Vesterbrogade 1",
                "city": "Copenhagen",
                "postal_code": "1620",
                "country": "DK",
            }
        ],
        "contacts": [{"name": "Mette Hansen", "email": "mette@example.dk", "primary": True}],
    }
    if vat is not None:
        payload["tax_ids"] = [{"scheme": vat[0], "value": vat[1]}]
    payload.update(extra)
    return payload


def shop_company(account_id: str, company: str, vat_number: str | None, **extra: Any) -> dict[str, Any]:
    """Return an e-commerce payload of an account that buys for a company."""
    payload: dict[str, Any] = {
        "account_id": account_id,
        "email": "indkob@example.dk",
        "first_name": "Mette",
        "last_name": "Hansen",
        "billing_address": {
            "line1": "Vesterbrogade 1",
            "city": "København",
            "postal_code": "1620",
            "country": "DK",
        },
        "company": {"name": company, "vat_number": vat_number},
    }
    payload.update(extra)
    return payload
