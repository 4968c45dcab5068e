"""Queries the integration tests use to look at what the hub stored."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, text

from hub.bootstrap import Hub
from hub.service.intake import InboundMessage
from hub.service.source_changes import Outcome
from hub.streams.worker import process_message
from tests.messages import encode


def deliver(hub: Hub, source: str, document: Any, *, raw: bytes | None = None, offset: int = 0) -> Outcome:
    """Hand one message to the worker's processing path, as the broker would."""
    value = raw if raw is not None else encode(document)
    key = document.get("source_record_id", "").encode() if isinstance(document, dict) else None
    message = InboundMessage(f"source.{source}.customer.v1", 0, offset, key, value)
    return process_message(hub, source, message)


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    """Run a query and return its rows."""
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def customer_events(engine: Engine, golden_id: str | None = None) -> list[dict[str, Any]]:
    """Return the customer events queued in the outbox, in order."""
    found = rows(engine, "SELECT value FROM outbox WHERE topic = 'mdm.customer.v1' ORDER BY id")
    events = [json.loads(r.value) for r in found]
    return [e for e in events if golden_id is None or e["golden_id"] == golden_id]


def dead_letter_events(engine: Engine) -> list[dict[str, Any]]:
    """Return the dead-letter events queued in the outbox, in order."""
    found = rows(engine, "SELECT value FROM outbox WHERE topic = 'mdm.deadletter.v1' ORDER BY id")
    return [json.loads(r.value) for r in found]


def outcome_counts(engine: Engine) -> dict[str, int]:
    """Return the persistent message counts by outcome, summed over sources."""
    counts: dict[str, int] = {}
    for r in rows(engine, "SELECT outcome, sum(count) AS n FROM message_outcome GROUP BY outcome"):
        counts[r.outcome] = int(r.n)
    return counts
