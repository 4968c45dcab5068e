"""Republish the latest event of every golden record: for a broker that lost its topics.

The rows go through the outbox, so they are ordered with every newer event of the same golden id;
downstream that already holds them drops them by event_id.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.service.golden import PublishContext
from hub.store.uow import UnitOfWork


@dataclass(frozen=True)
class Republished:
    """How many snapshots were queued: customer events and credit statuses."""

    customers: int
    credit_statuses: int


def republish_golden_records(uow: UnitOfWork, ctx: PublishContext) -> Republished:
    """Queue the latest snapshot of every golden record and its latest credit status (SPEC 2: a consumer
    rebuilds from the topics, credit statuses included); return how many of each."""
    return Republished(
        uow.queue_latest_snapshots(ctx.customer_topic), uow.queue_latest_credit_statuses(ctx.credit_topic)
    )
