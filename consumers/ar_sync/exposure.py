"""The exposure message AR publishes to `source.ar.exposure.v1`, built through the inbound contract."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from consumers.ar_sync.ledger import Account, Balance
from contracts.inbound import ArCustomerByGoldenId, ArExposurePayload, Envelope


def exposure_message(
    account: Account, balance: Balance, as_of: datetime, message_id: str | None = None
) -> dict[str, Any]:
    """Return the full balance of one AR account as an inbound envelope, valid against the contract.

    The message names the customer by golden id and is keyed by the account; `as_of` orders the account's
    balances, since the hub ignores one older than the last it applied.
    """
    payload = ArExposurePayload(
        customer=ArCustomerByGoldenId(golden_id=account.golden_id),
        outstanding=balance.outstanding,
        overdue=balance.overdue,
        currency=account.currency,
        as_of=as_of,
    )
    envelope = Envelope(
        message_id=message_id or str(uuid.uuid4()),
        source="ar",
        source_record_id=account.account_id,
        change="upsert",
        occurred_at=as_of,
        payload=payload.model_dump(mode="json"),
    )
    document: dict[str, Any] = envelope.model_dump(mode="json")
    return document
