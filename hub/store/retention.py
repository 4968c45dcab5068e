"""Retention: forget processed message ids and published outbox rows once they are old enough."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class Pruned:
    """How many rows one pruning pass removed."""

    processed_messages: int
    outbox_rows: int


def prune(engine: Engine, *, processed_retention_days: int, outbox_retention_days: int) -> Pruned:
    """Delete processed ids older than their retention, and published outbox rows older than theirs.

    Unpublished outbox rows and dead letters are never pruned: they are work still to do.
    """
    with engine.begin() as conn:
        processed = conn.execute(
            text("DELETE FROM processed_message WHERE processed_at < now() - make_interval(days => :days)"),
            {"days": processed_retention_days},
        ).rowcount
        published = conn.execute(
            text(
                "DELETE FROM outbox WHERE published_at IS NOT NULL "
                "AND published_at < now() - make_interval(days => :days)"
            ),
            {"days": outbox_retention_days},
        ).rowcount
    return Pruned(int(processed or 0), int(published or 0))
