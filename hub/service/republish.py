"""Republish the latest event of every golden record: for a broker that lost its topics.

The rows go through the outbox, so they are ordered with every newer event of the same golden id;
downstream that already holds them drops them by event_id.
"""

from __future__ import annotations

from hub.service.golden import PublishContext
from hub.store.uow import UnitOfWork


def republish_golden_records(uow: UnitOfWork, ctx: PublishContext) -> int:
    """Queue the latest snapshot of every golden record; return how many."""
    return uow.queue_latest_snapshots(ctx.customer_topic)
