"""Retention removes only what is old enough and finished."""

from __future__ import annotations

from sqlalchemy import text

from hub.bootstrap import Hub
from hub.store.retention import prune
from tests.integration.helpers import rows


def test_pruning_forgets_old_processed_ids_and_old_published_events_but_keeps_pending_work(hub: Hub) -> None:
    with hub.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO processed_message (message_id, source, outcome, processed_at) VALUES "
                "('old', 'crm', 'applied', now() - interval '31 days'), ('new', 'crm', 'applied', now())"
            )
        )
        conn.execute(
            text(
                "INSERT INTO outbox (topic, key, value, created_at, published_at) VALUES "
                "('t', NULL, 'old-published', now() - interval '9 days', now() - interval '8 days'), "
                "('t', NULL, 'old-pending', now() - interval '9 days', NULL), "
                "('t', NULL, 'new-published', now(), now())"
            )
        )

    pruned = prune(hub.engine, processed_retention_days=30, outbox_retention_days=7)

    assert (pruned.processed_messages, pruned.outbox_rows) == (1, 1)
    assert [r.message_id for r in rows(hub.engine, "SELECT message_id FROM processed_message")] == ["new"]
    assert sorted(r.value for r in rows(hub.engine, "SELECT value FROM outbox")) == [
        "new-published",
        "old-pending",
    ]
